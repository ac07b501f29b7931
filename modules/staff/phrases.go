package staff

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// How staff rows read in the audit trail (frontdoor.Door.Trail): staff users are named by their full name, linked
// to what they did (the audit trail filtered on them), as actors ("staff") and as records ("staff_user").

// Phrases are the sentences of the staff module's audited actions.
func Phrases() []audit.Phrase {
	return []audit.Phrase{
		{Action: ActionInvited, Kind: "Staff", Say: func(e audit.Event) audit.Sentence {
			roles := strings.Trim(strings.ReplaceAll(e.After("/roles"), `"`, ""), "[]")
			roles = strings.ReplaceAll(roles, ",", ", ")
			if roles == "" {
				return audit.Say(e.Actor, " invited ", e.Target)
			}
			return audit.Say(e.Actor, " invited ", e.Target, " as ", strings.ReplaceAll(roles, "_", " "))
		}},
	}
}

// NameStaff names staff users by their ids (ids that are not uuids, or not staff of the tenant, are left out).
func NameStaff(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	uids := audit.UUIDs(ids)
	out := map[string]audit.Ref{}
	if len(uids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, full_name, email FROM staff_users WHERE id = ANY($1)`, uids)
	if err != nil {
		return nil, fmt.Errorf("staff names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var name, email string
		if err := rows.Scan(&id, &name, &email); err != nil {
			return nil, err
		}
		if name == "" {
			name = email
		}
		out[id.String()] = audit.Ref{Name: name, Href: "/backoffice/audit?" + url.Values{"actor": {"staff:" + id.String()}}.Encode()}
	}
	return out, rows.Err()
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	if s.audit == nil {
		return
	}
	s.audit.Phrases(Phrases()...)
	s.audit.Names(string(audit.ActorStaff), NameStaff)
	s.audit.Names("staff_user", NameStaff)
}
