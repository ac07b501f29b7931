package clients

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// How the clients module's rows read in the audit trail (frontdoor.Door.Trail): a client is named by their name,
// linked to their page, whether the row holds the client's id or (for what they did in the portal) their portal
// login's.

// Kinds of the module's actions, the filters of timelines and the audit page.
const (
	KindStatus     = "Status"
	KindOnboarding = "Onboarding"
	KindSettings   = "Settings"
)

// statusLabel is a status of a diff as a person reads it.
func statusLabel(s string) string { return Status(s).Label() }

// Phrases are the sentences of the clients module's audited actions.
func Phrases() []audit.Phrase {
	return []audit.Phrase{
		{Action: ActionRegistered, Kind: KindOnboarding, Say: func(e audit.Event) audit.Sentence {
			if e.Row.Actor.Kind == audit.ActorClient {
				return audit.Say(e.Target, " registered on the portal")
			}
			return audit.Say(e.Actor, " registered ", e.Target)
		}},
		{Action: ActionStatusChanged, Kind: KindStatus, Say: func(e audit.Event) audit.Sentence {
			to := statusLabel(e.After("/status"))
			s := audit.Say("Status of ", e.Target, " changed")
			if from := e.Before("/status"); from != "" {
				s = audit.Say(s, " from ", statusLabel(from))
			}
			s = audit.Say(s, " to ", to)
			if e.Actor != e.Target { // a client's own step (an upload, a verification) needs no "by"
				s = audit.Say(s, " by ", e.Actor)
			}
			// A reason that starts by naming the new status ("KYC approved: every required document approved")
			// says it once.
			r := strings.TrimSpace(e.After("/reason"))
			if rest, ok := strings.CutPrefix(strings.ToLower(r), strings.ToLower(to)+": "); ok {
				r = r[len(r)-len(rest):]
			}
			if r != "" {
				s = audit.Say(s, ": ", r)
			}
			return s
		}},
		{Action: ActionEmailVerified, Kind: KindOnboarding, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Target, " verified their email address")
		}},
		{Action: ActionAssigned, Kind: KindOnboarding, Say: func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " gave ", e.Target, " the tier ", e.After("/tier"))
			switch {
			case e.After("/manager_id") == "":
				return audit.Say(s, " and no account manager (nobody to assign)")
			case e.After("/manager_assignment") != "":
				return audit.Say(s, " and an account manager (", e.After("/manager_assignment"), ")")
			}
			return audit.Say(s, " and an account manager")
		}},
		{Action: ActionVerificationSent, Kind: KindOnboarding, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " emailed ", e.Target, " a link to verify their email address")
		}},
		{Action: ActionSettingsChanged, Kind: KindSettings, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the onboarding settings")
		}},
		{Action: ActionSettingsWeakened, Kind: KindSettings, Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " weakened the onboarding settings", e.Weakened())
		}},
	}
}

// Owned completes the names of records that belong to clients (a document, a review case, a deposit): each ref in
// refs gets its record's client, as NameClients names them, as its Owner. owners maps a record's id to its client.
func Owned(ctx context.Context, tx pgx.Tx, refs map[string]audit.Ref, owners map[string]uuid.UUID) (map[string]audit.Ref, error) {
	ids := make([]string, 0, len(owners))
	for _, c := range owners {
		ids = append(ids, c.String())
	}
	names, err := NameClients(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for id, c := range owners {
		if o, ok := names[c.String()]; ok {
			r := refs[id]
			r.Owner = &o
			refs[id] = r
		}
	}
	return refs, nil
}

// NameClients names clients by the ids rows hold for them: a client's id, or one of their portal logins' ids.
func NameClients(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	uids := audit.UUIDs(ids)
	out := map[string]audit.Ref{}
	if len(uids) == 0 {
		return out, nil
	}
	names := func(ids []uuid.UUID) (map[uuid.UUID]audit.Ref, error) {
		rows, err := tx.Query(ctx, `SELECT id, first_name, last_name FROM clients WHERE id = ANY($1)`, ids)
		if err != nil {
			return nil, fmt.Errorf("client names: %w", err)
		}
		defer rows.Close()
		m := map[uuid.UUID]audit.Ref{}
		for rows.Next() {
			var id uuid.UUID
			var first, last string
			if err := rows.Scan(&id, &first, &last); err != nil {
				return nil, err
			}
			m[id] = audit.Ref{Name: first + " " + last, Href: listPath + "/" + id.String()}
		}
		return m, rows.Err()
	}
	found, err := names(uids)
	if err != nil {
		return nil, err
	}
	var logins []uuid.UUID
	for _, u := range uids {
		if r, ok := found[u]; ok {
			out[u.String()] = r
		} else {
			logins = append(logins, u)
		}
	}
	if len(logins) == 0 {
		return out, nil
	}
	owners, err := identity.PortalClientsTx(ctx, tx, logins)
	if err != nil {
		return nil, err
	}
	var clientIDs []uuid.UUID
	for _, c := range owners {
		clientIDs = append(clientIDs, c)
	}
	byClient, err := names(clientIDs)
	if err != nil {
		return nil, err
	}
	for login, client := range owners {
		if r, ok := byClient[client]; ok {
			out[login.String()] = r
		}
	}
	return out, nil
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	s.audit.Phrases(Phrases()...)
	s.audit.Names(string(audit.ActorClient), NameClients)
}
