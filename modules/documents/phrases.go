package documents

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// How the documents module's rows read in the audit trail (frontdoor.Door.Trail): a document is named by its type
// ("passport"), linked to its client's Documents tab, and every document of a client belongs on the client's
// timeline.

// KindDocuments is the kind of the module's actions about documents.
const KindDocuments = "Documents"

// Phrases are the sentences of the documents module's audited actions.
func Phrases() []audit.Phrase {
	doc := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindDocuments, Say: f}
	}
	return []audit.Phrase{
		doc(ActionUploaded, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " uploaded ", article(e.Target))
			if f := e.After("/file_name"); f != "" {
				s = audit.Say(s, " (", f, ")")
			}
			return s
		}),
		doc(ActionViewed, func(e audit.Event) audit.Sentence { return audit.Say(e.Actor, " viewed the ", e.Target, e.Whose()) }),
		doc(ActionApproved, func(e audit.Event) audit.Sentence { return audit.Say(e.Actor, " approved the ", e.Target, e.Whose()) }),
		doc(ActionRejected, func(e audit.Event) audit.Sentence {
			return withReason(audit.Say(e.Actor, " rejected the ", e.Target, e.Whose()), e.After("/message"))
		}),
		doc(ActionMoreInfoRequested, func(e audit.Event) audit.Sentence {
			return withReason(audit.Say(e.Actor, " asked for more about the ", e.Target, e.Whose()), e.After("/message"))
		}),
		doc(ActionSuperseded, func(e audit.Event) audit.Sentence {
			if e.Before("/status") == string(StatusApproved) {
				return audit.Say(e.Actor, " approved a newer one, which replaces the approved ", e.Target, e.Whose())
			}
			return audit.Say(e.Actor, " uploaded a newer one, which replaces the ", e.Target, e.Whose())
		}),
		doc(ActionExpiring, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " flagged the ", e.Target, e.Whose(), " as expiring on ", e.After("/expires_on"))
			if e.After("/client_emailed") == "true" {
				s = audit.Say(s, " and asked the client for a new one")
			}
			return s
		}),
		doc(ActionExpired, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " marked the ", e.Target, e.Whose(), " expired (valid until ", e.After("/expires_on"), ")")
		}),
		{Action: ActionSettings, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the document settings")
		}},
	}
}

// article is "a passport", "an ID card": the target's name after its indefinite article, linked.
func article(r audit.Ref) audit.Sentence {
	an := strings.TrimSuffix(audit.A(r.Name), r.Name)
	return audit.Say(an, r)
}

func withReason(s audit.Sentence, reason string) audit.Sentence {
	if reason = strings.TrimSpace(reason); reason != "" {
		return audit.Say(s, ": ", reason)
	}
	return s
}

// typeName is a document type as a sentence says it: "passport", "proof of address".
func typeName(t Type) string {
	l := t.Label()
	if l == "" {
		return "document"
	}
	return strings.ToLower(l[:1]) + l[1:]
}

// NameDocuments names documents by their type, linked to their client's Documents tab, owned by their client.
func NameDocuments(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, type, client_id FROM documents WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("document names: %w", err)
	}
	refs, owners := map[string]audit.Ref{}, map[string]uuid.UUID{}
	var id, client uuid.UUID
	var typ string
	_, err = pgx.ForEachRow(rows, []any{&id, &typ, &client}, func() error {
		refs[id.String()] = audit.Ref{Name: typeName(Type(typ)), Href: "/backoffice/clients/" + client.String() + "?tab=documents"}
		owners[id.String()] = client
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("document names: %w", err)
	}
	return clients.Owned(ctx, tx, refs, owners)
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	if s.o.Audit == nil {
		return
	}
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(targetType, NameDocuments)
	s.o.Audit.Relate("client", audit.RelatedBy(targetType, `SELECT id FROM documents WHERE client_id = $1`))
}
