package kyc

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

// How the review's rows read in the audit trail (frontdoor.Door.Trail): a case is named after its document
// ("passport review"), linked to the case's page, and every case of a client belongs on the client's timeline.

// KindReview is the kind of the review's actions.
const KindReview = "KYC review"

// reasonLabel is a diff's reason code in the officer's words.
func reasonLabel(code string) string {
	if r, ok := ReasonFor(ReasonCode(code)); ok {
		return r.Label
	}
	return code
}

// Phrases are the sentences of the review's audited actions.
func Phrases() []audit.Phrase {
	review := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindReview, Say: f}
	}
	return []audit.Phrase{
		review(ActionOpened, func(e audit.Event) audit.Sentence {
			return audit.Say("The upload by ", e.Actor, " opened a ", e.Target)
		}),
		review(ActionClaimed, func(e audit.Event) audit.Sentence { return audit.Say(e.Actor, " claimed the ", e.Target, e.Whose()) }),
		review(ActionReleased, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " returned the ", e.Target, e.Whose(), " to the queue")
		}),
		review(ActionChecklist, func(e audit.Event) audit.Sentence {
			ticked := strings.Count(e.After("/ticked"), ",") + 1
			if strings.Trim(e.After("/ticked"), "[]") == "" {
				ticked = 0
			}
			return audit.Say(e.Actor, " ticked ", fmt.Sprint(ticked), map[bool]string{true: " checklist item", false: " checklist items"}[ticked == 1],
				" of the ", e.Target, e.Whose())
		}),
		review(ActionFirstApproved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " gave the ", e.Target, e.Whose(), " its first approval; a second officer must approve it (four-eyes)")
		}),
		review(ActionApproved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " closed the ", e.Target, e.Whose(), ": approved")
		}),
		review(ActionRejected, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " closed the ", e.Target, e.Whose(), ": rejected")
			if code := e.After("/reason_code"); code != "" {
				s = audit.Say(s, ", ", strings.ToLower(reasonLabel(code)))
			}
			return s
		}),
		review(ActionMoreInfo, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " closed the ", e.Target, e.Whose(), ": more information requested")
		}),
		review(ActionSuperseded, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " closed the ", e.Target, e.Whose(), ": a newer upload replaced the document")
		}),
		{Action: ActionSettings, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the KYC settings")
		}},
		{Action: ActionSettingsWeakened, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " weakened the KYC settings", e.Weakened())
		}},
	}
}

// reviewName is a case as a sentence says it: "passport review".
func reviewName(t documents.Type) string {
	l := t.Label()
	return strings.ToLower(l[:1]) + l[1:] + " review"
}

// NameCases names review cases after their document, linked to the case's page, owned by their client.
func NameCases(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, document_type, client_id FROM kyc_cases WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("case names: %w", err)
	}
	refs, owners := map[string]audit.Ref{}, map[string]uuid.UUID{}
	var id, client uuid.UUID
	var typ string
	_, err = pgx.ForEachRow(rows, []any{&id, &typ, &client}, func() error {
		refs[id.String()] = audit.Ref{Name: reviewName(documents.Type(typ)), Href: casePath + id.String()}
		owners[id.String()] = client
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("case names: %w", err)
	}
	return clients.Owned(ctx, tx, refs, owners)
}

// trail declares how the review's rows read on the audit service it holds.
func (s *Service) trail() {
	s.audit.Phrases(Phrases()...)
	s.audit.Names(caseTargetType, NameCases)
	s.audit.Relate("client", audit.RelatedBy(caseTargetType, `SELECT id FROM kyc_cases WHERE client_id = $1`))
}
