package partners

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

// Plan is one version of a commission plan.
type Plan struct {
	ID        uuid.UUID
	Name      string
	Currency  money.Currency
	Version   int
	Rules     Rules
	CreatedAt time.Time // of this version
}

// planView is a plan version in the audit trail.
type planView struct {
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Version  int    `json:"version"`
	Rules    Rules  `json:"rules"`
}

// CreatePlan makes a plan with its first version.
func (s *Service) CreatePlan(ctx context.Context, t tenants.Tenant, actor audit.Actor, name, currency string, r Rules) (Plan, error) {
	var f validation.Fields
	name = strings.TrimSpace(name)
	f.Required("name", name)
	f.Name("name", name, 100)
	c, ok := money.Lookup(strings.ToUpper(strings.TrimSpace(currency)))
	if !ok {
		f.Add("currency", "not a currency BrokerDesk knows")
	} else {
		f.Merge(r.Validate(c))
	}
	if err := f.Err(); err != nil {
		return Plan{}, err
	}
	var out Plan
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO partner_plans (id, name, currency) VALUES ($1, $2, $3)`, id, name, c.Code); err != nil {
			if database.IsUniqueViolation(err) {
				return validation.New("name", "another plan has this name")
			}
			return err
		}
		if out, err = s.addVersionTx(ctx, tx, actor, id, r); err != nil {
			return err
		}
		return nil
	})
	return out, err
}

// EditPlan adds a version of the plan with rules r. Rows already computed keep the version they were computed with.
func (s *Service) EditPlan(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, r Rules) (Plan, error) {
	var out Plan
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var code string
		if err := tx.QueryRow(ctx, `SELECT currency FROM partner_plans WHERE id = $1 FOR UPDATE`, id).Scan(&code); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if err := r.Validate(money.MustLookup(code)); err != nil {
			return err
		}
		var err error
		out, err = s.addVersionTx(ctx, tx, actor, id, r)
		return err
	})
	return out, err
}

func (s *Service) addVersionTx(ctx context.Context, tx pgx.Tx, actor audit.Actor, id uuid.UUID, r Rules) (Plan, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return Plan{}, err
	}
	who, _ := json.Marshal(actor)
	var before *Plan
	if p, err := planVersionTx(ctx, tx, id, 0); err == nil {
		before = &p
	} else if !errors.Is(err, ErrNotFound) {
		return Plan{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO partner_plan_versions (plan_id, version, rules, created_by, created_at)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM partner_plan_versions WHERE plan_id = $1`,
		id, raw, who, s.o.Now().UTC()); err != nil {
		return Plan{}, fmt.Errorf("partners: plan version: %w", err)
	}
	out, err := planVersionTx(ctx, tx, id, 0)
	if err != nil {
		return Plan{}, err
	}
	var bv any
	if before != nil {
		bv = planView{before.Name, before.Currency.Code, before.Version, before.Rules}
	}
	return out, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionPlanSaved, Target: audit.Target{Type: planTarget, ID: id.String()},
		Before: bv, After: planView{out.Name, out.Currency.Code, out.Version, out.Rules}})
}

// planVersionTx reads version v of a plan (0: the latest).
func planVersionTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, v int) (Plan, error) {
	return scanPlan(tx.QueryRow(ctx, `SELECT p.id, p.name, p.currency, v.version, v.rules, v.created_at FROM partner_plans p
		JOIN partner_plan_versions v ON v.plan_id = p.id WHERE p.id = $1 AND ($2 = 0 OR v.version = $2)
		ORDER BY v.version DESC LIMIT 1`, id, v))
}

// planAtTx reads the version of a plan in force at time at: the latest made at or before it, or the first when
// the plan is younger than the deal.
func planAtTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, at time.Time) (Plan, error) {
	return scanPlan(tx.QueryRow(ctx, `SELECT p.id, p.name, p.currency, v.version, v.rules, v.created_at FROM partner_plans p
		JOIN partner_plan_versions v ON v.plan_id = p.id WHERE p.id = $1
		ORDER BY (v.created_at <= $2) DESC, CASE WHEN v.created_at <= $2 THEN v.version ELSE -v.version END DESC LIMIT 1`, id, at))
}

func scanPlan(row pgx.Row) (Plan, error) {
	var p Plan
	var code string
	var raw []byte
	err := row.Scan(&p.ID, &p.Name, &code, &p.Version, &raw, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	p.Currency = money.MustLookup(code)
	if err := json.Unmarshal(raw, &p.Rules); err != nil {
		return p, fmt.Errorf("partners: plan %s v%d: %w", p.Name, p.Version, err)
	}
	return p, nil
}

// Plan reads a plan's version v (0: the latest).
func (s *Service) Plan(ctx context.Context, t tenants.Tenant, id uuid.UUID, v int) (Plan, error) {
	var out Plan
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = planVersionTx(ctx, tx, id, v)
		return err
	})
	return out, err
}
