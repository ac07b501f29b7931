package bonuses

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Portal says which client a portal login is (*identity.Service): the trader's bonuses page.
type Portal interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
}

// ErrEnded: the rule's campaign has already ended; there is nothing to end.
var ErrEnded = errors.New("bonuses: the rule has already ended")

// RuleSummary is a rule at its latest version with what it granted: every bonus of any version, and how many are
// still open.
type RuleSummary struct {
	Rule
	Granted       int
	GrantedAmount int64 // minor units of the rule's currency
	Open          int
}

// Rules are the tenant's rules at their latest versions, by name, with their counts.
func (s *Service) Rules(ctx context.Context, t tenants.Tenant) ([]RuleSummary, error) {
	var out []RuleSummary
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (r.name, r.id) r.id, r.name, r.currency, v.version, v.terms, v.created_at,
				coalesce(g.n, 0), coalesce(g.amount, 0), coalesce(g.open, 0)
			FROM bonus_rules r JOIN bonus_rule_versions v ON v.rule_id = r.id
			LEFT JOIN (SELECT rule_id, count(*) AS n, sum(amount) AS amount, count(*) FILTER (WHERE status = 'open') AS open
				FROM bonuses GROUP BY rule_id) g ON g.rule_id = r.id
			ORDER BY r.name, r.id, v.version DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RuleSummary, error) {
			var r RuleSummary
			var code string
			var raw []byte
			if err := row.Scan(&r.ID, &r.Name, &code, &r.Version, &raw, &r.CreatedAt, &r.Granted, &r.GrantedAmount, &r.Open); err != nil {
				return r, err
			}
			r.Currency = money.MustLookup(code)
			return r, json.Unmarshal(raw, &r.Terms)
		})
		return err
	})
	return out, err
}

// RuleVersion is one version of a rule with who made it.
type RuleVersion struct {
	Rule
	By audit.Actor
}

// RuleVersions are every version of a rule, the latest first; ErrNotFound for no rule of the tenant.
func (s *Service) RuleVersions(ctx context.Context, t tenants.Tenant, id uuid.UUID) ([]RuleVersion, error) {
	var out []RuleVersion
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.id, r.name, r.currency, v.version, v.terms, v.created_at, v.created_by FROM bonus_rules r
			JOIN bonus_rule_versions v ON v.rule_id = r.id WHERE r.id = $1 ORDER BY v.version DESC`, id)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RuleVersion, error) {
			var r RuleVersion
			var code string
			var raw, by []byte
			if err := row.Scan(&r.ID, &r.Name, &code, &r.Version, &raw, &r.CreatedAt, &by); err != nil {
				return r, err
			}
			r.Currency = money.MustLookup(code)
			_ = json.Unmarshal(by, &r.By) // who made it is for reading; an unreadable actor is no one
			return r, json.Unmarshal(raw, &r.Terms)
		})
		if err == nil && len(out) == 0 {
			return ErrNotFound
		}
		return err
	})
	return out, err
}

// EndRule ends a rule's campaign now: a new version whose until is now (deposits completed from now on get
// nothing under it, and are explained so); bonuses granted keep their versions and run their course. ErrEnded when
// its campaign already ended.
func (s *Service) EndRule(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID) (Rule, error) {
	r, err := s.Rule(ctx, t, id, 0)
	if err != nil {
		return Rule{}, err
	}
	now := s.o.Now().UTC().Truncate(time.Second)
	if r.Terms.Until != nil && !r.Terms.Until.After(now) {
		return Rule{}, ErrEnded
	}
	terms := r.Terms
	terms.Until = &now
	if terms.From != nil && !terms.From.Before(now) {
		terms.From = nil // a campaign that had not started yet ends before it starts
	}
	return s.EditRule(ctx, t, actor, id, terms)
}

// Filter selects bonuses for the list: every field optional.
type Filter struct {
	Status string
	Rule   *uuid.UUID
	Client *uuid.UUID
	Limit  int // default and most 200
}

// Statuses are a bonus's statuses, in the order the list offers them.
var Statuses = []string{"open", "released", "expired", "cancelled", "forfeited"}

// List are the tenant's bonuses matching f, newest first, with their clients' names.
func (s *Service) List(ctx context.Context, t tenants.Tenant, f Filter) ([]Bonus, map[uuid.UUID]string, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 200
	}
	var out []Bonus
	names := map[uuid.UUID]string{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectBonus+` WHERE ($1 = '' OR b.status = $1) AND ($2::uuid IS NULL OR b.rule_id = $2)
			AND ($3::uuid IS NULL OR b.client_id = $3) ORDER BY b.granted_at DESC, b.id DESC LIMIT $4`, f.Status, f.Rule, f.Client, f.Limit)
		if err != nil {
			return err
		}
		if out, err = scanBonuses(rows); err != nil {
			return err
		}
		for _, b := range out {
			if _, done := names[b.ClientID]; done {
				continue
			}
			c, err := s.o.Clients.GetTx(ctx, tx, b.ClientID)
			if err != nil {
				names[b.ClientID] = b.ClientID.String()[:8]
				continue
			}
			names[b.ClientID] = c.Name()
		}
		return nil
	})
	return out, names, err
}

// Evaluation is one rule's decision on one of the client's deposits, with everything it was decided on.
type Evaluation struct {
	RuleID      uuid.UUID
	DepositID   uuid.UUID
	RuleVersion int
	Granted     bool
	Reason      Reason
	Explanation Explanation
	At          time.Time
}

// Evaluations are the rules' decisions on a client's deposits, newest first (at most 100): "why did (or didn't)
// this client get a bonus".
func (s *Service) Evaluations(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]Evaluation, error) {
	var out []Evaluation
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT rule_id, deposit_id, rule_version, outcome = 'granted', reason, explanation, evaluated_at
			FROM bonus_evaluations WHERE client_id = $1 ORDER BY evaluated_at DESC, rule_id LIMIT 100`, client)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Evaluation, error) {
			var e Evaluation
			var raw []byte
			if err := row.Scan(&e.RuleID, &e.DepositID, &e.RuleVersion, &e.Granted, &e.Reason, &raw, &e.At); err != nil {
				return e, err
			}
			return e, json.Unmarshal(raw, &e.Explanation)
		})
		return err
	})
	return out, err
}

// Counts are the dashboard's: bonuses open now, and released since midnight UTC.
type Counts struct {
	Open, ReleasedToday int
}

// CountsOf reads the tenant's counts.
func (s *Service) CountsOf(ctx context.Context, t tenants.Tenant) (Counts, error) {
	var n Counts
	today := s.o.Now().UTC().Truncate(24 * time.Hour)
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'open'),
			count(*) FILTER (WHERE status = 'released' AND closed_at >= $1) FROM bonuses`, today).Scan(&n.Open, &n.ReleasedToday)
	})
	return n, err
}
