package privacy

import (
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// mountSections adds the client page's "Data protection" tab: a link to the client's data-protection page (its
// own page, with the export and erasure forms), for those who handle data-protection requests.
func mountSections(shell *web.Shell) {
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "privacy", Label: "Data protection", Order: 80,
		Permission: identity.PermPrivacyManage, Hint: "Data protection: export, erasure",
		Href: func(client uuid.UUID) string { return PagePath(client) }})
}

// KindPrivacy is the kind of privacy's actions about a client.
const KindPrivacy = "Data protection"

// Phrases are the sentences of privacy's audited actions (frontdoor.Door.Trail).
func Phrases() []audit.Phrase {
	return []audit.Phrase{
		{Action: ActionExported, Kind: KindPrivacy, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " exported the personal data of ", e.Target)
		}},
		{Action: ActionErased, Kind: KindPrivacy, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " erased the personal data of ", e.Target)
		}},
		{Action: ActionErasureRefused, Kind: KindPrivacy, Say: func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " asked to erase the personal data of ", e.Target, ": refused")
			if basis := e.After("/basis"); basis != "" {
				s = audit.Say(s, ", ", basis)
			}
			if until := e.After("/retain_until"); until != "" {
				if len(until) >= 10 {
					until = until[:10]
				}
				s = audit.Say(s, " (kept until ", until, ")")
			}
			return s
		}},
		{Action: ActionSettingsChanged, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the data-protection settings")
		}},
		{Action: ActionSettingsWeakened, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " weakened the data-protection settings", e.Weakened())
		}},
	}
}
