package bonuses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Rule is one version of a bonus rule.
type Rule struct {
	ID        uuid.UUID
	Name      string
	Currency  money.Currency
	Version   int
	Terms     Terms
	CreatedAt time.Time // of this version
}

// ruleView is a rule version in the audit trail.
type ruleView struct {
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Version  int    `json:"version"`
	Terms    Terms  `json:"terms"`
}

// CreateRule makes a rule with its first version.
func (s *Service) CreateRule(ctx context.Context, t tenants.Tenant, actor audit.Actor, name, currency string, terms Terms) (Rule, error) {
	var f validation.Fields
	name = strings.TrimSpace(name)
	f.Required("name", name)
	f.Name("name", name, 100)
	c, ok := money.Lookup(strings.ToUpper(strings.TrimSpace(currency)))
	if !ok {
		f.Add("currency", "not a currency BrokerDesk knows")
	} else {
		f.Merge(terms.Validate(c))
	}
	if err := f.Err(); err != nil {
		return Rule{}, err
	}
	var out Rule
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bonus_rules (id, name, currency) VALUES ($1, $2, $3)`, id, name, c.Code); err != nil {
			if database.IsUniqueViolation(err) {
				return validation.New("name", "another rule has this name")
			}
			return err
		}
		out, err = s.addVersionTx(ctx, tx, actor, id, terms)
		return err
	})
	return out, err
}

// EditRule adds a version of the rule with terms. Bonuses already granted keep the version they were granted
// under; deposits completed from now on are evaluated under the new one.
func (s *Service) EditRule(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, terms Terms) (Rule, error) {
	var out Rule
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var code string
		if err := tx.QueryRow(ctx, `SELECT currency FROM bonus_rules WHERE id = $1 FOR UPDATE`, id).Scan(&code); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if err := terms.Validate(money.MustLookup(code)); err != nil {
			return err
		}
		var err error
		out, err = s.addVersionTx(ctx, tx, actor, id, terms)
		return err
	})
	return out, err
}

func (s *Service) addVersionTx(ctx context.Context, tx pgx.Tx, actor audit.Actor, id uuid.UUID, terms Terms) (Rule, error) {
	raw, err := json.Marshal(terms)
	if err != nil {
		return Rule{}, err
	}
	who, _ := json.Marshal(actor)
	var before *Rule
	if r, err := ruleVersionTx(ctx, tx, id, 0); err == nil {
		before = &r
	} else if !errors.Is(err, ErrNotFound) {
		return Rule{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bonus_rule_versions (rule_id, version, terms, created_by, created_at)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM bonus_rule_versions WHERE rule_id = $1`,
		id, raw, who, s.o.Now().UTC()); err != nil {
		return Rule{}, fmt.Errorf("bonuses: rule version: %w", err)
	}
	out, err := ruleVersionTx(ctx, tx, id, 0)
	if err != nil {
		return Rule{}, err
	}
	var bv any
	if before != nil {
		bv = ruleView{before.Name, before.Currency.Code, before.Version, before.Terms}
	}
	return out, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionRuleSaved, Target: audit.Target{Type: ruleTarget, ID: id.String()},
		Before: bv, After: ruleView{out.Name, out.Currency.Code, out.Version, out.Terms}})
}

const selectRule = `SELECT r.id, r.name, r.currency, v.version, v.terms, v.created_at FROM bonus_rules r
	JOIN bonus_rule_versions v ON v.rule_id = r.id`

// ruleVersionTx reads version v of a rule (0: the latest).
func ruleVersionTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, v int) (Rule, error) {
	return scanRule(tx.QueryRow(ctx, selectRule+` WHERE r.id = $1 AND ($2 = 0 OR v.version = $2) ORDER BY v.version DESC LIMIT 1`, id, v))
}

// rulesAtTx are every rule's version in force at time at: the latest made at or before it. Rules made after it
// did not exist for a deposit completed then.
func rulesAtTx(ctx context.Context, tx pgx.Tx, at time.Time) ([]Rule, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (r.id) r.id, r.name, r.currency, v.version, v.terms, v.created_at FROM bonus_rules r
		JOIN bonus_rule_versions v ON v.rule_id = r.id WHERE v.created_at <= $1 ORDER BY r.id, v.version DESC`, at)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rule, error) { return scanRule(row) })
}

func scanRule(row pgx.Row) (Rule, error) {
	var r Rule
	var code string
	var raw []byte
	err := row.Scan(&r.ID, &r.Name, &code, &r.Version, &raw, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Currency = money.MustLookup(code)
	if err := json.Unmarshal(raw, &r.Terms); err != nil {
		return r, fmt.Errorf("bonuses: rule %s v%d: %w", r.Name, r.Version, err)
	}
	return r, nil
}

// Rule reads a rule's version v (0: the latest).
func (s *Service) Rule(ctx context.Context, t tenants.Tenant, id uuid.UUID, v int) (Rule, error) {
	var out Rule
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = ruleVersionTx(ctx, tx, id, v)
		return err
	})
	return out, err
}
