package partners

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Status is where a partner is.
type Status string

const (
	StatusApplied   Status = "applied"
	StatusActive    Status = "active"
	StatusRejected  Status = "rejected"
	StatusSuspended Status = "suspended"
)

// Audited actions.
const (
	ActionCreated          = "partner.created"
	ActionApplied          = "partner.applied"
	ActionApproved         = "partner.approved"
	ActionRejected         = "partner.rejected"
	ActionCodeAdded        = "partner.code_added"
	ActionMoved            = "partner.moved"
	ActionPlanSet          = "partner.plan_set"
	ActionClientAttributed = "partner.client_attributed"
	ActionPlanSaved        = "partner.plan_saved"
	ActionSettingsChanged  = "partner.settings_changed"
)

const (
	partnerTarget = "partner"
	planTarget    = "partner_plan"
)

// effectiveLayout is how an effective date reads in the audit trail: "7 December 2026 17:00 UTC".
const effectiveLayout = "2 January 2006 15:04 MST"

// Beginning is when a new partner's first parent takes effect: a partner made under a parent has always been
// there, so a deal synced late (its time before the partner was made) still climbs the tree. Moves take a date.
var Beginning = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func clientTarget(id uuid.UUID) audit.Target { return audit.Target{Type: "client", ID: id.String()} }

// Partner is an introducing broker or affiliate.
type Partner struct {
	ID        uuid.UUID
	Name      string
	ClientID  *uuid.UUID
	Status    Status
	PlanID    *uuid.UUID
	PlanName  string
	Note      string
	CreatedAt time.Time
	// ParentID is the parent now (nil: top level).
	ParentID *uuid.UUID
	Codes    []Code
}

// Code is a referral code with its campaign tag.
type Code struct {
	Code      string
	Campaign  string
	CreatedAt time.Time
}

// PartnerInput makes a partner (staff) or applies (a client).
type PartnerInput struct {
	Name     string
	ClientID *uuid.UUID
	PlanID   *uuid.UUID
	ParentID *uuid.UUID
	// Code and Campaign, when Code is set, add the partner's first referral code.
	Code     string
	Campaign string
	Note     string
}

// view is a partner in the audit trail.
type view struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Plan   string `json:"plan,omitempty"`
	Parent string `json:"parent,omitempty"`
	Code   string `json:"code,omitempty"`
	Note   string `json:"note,omitempty"`
}

// CreatePartner makes an active partner (staff: an ib_manager), with its plan, parent (from now on) and first code.
func (s *Service) CreatePartner(ctx context.Context, t tenants.Tenant, actor audit.Actor, in PartnerInput) (Partner, error) {
	return s.create(ctx, t, actor, in, StatusActive, ActionCreated)
}

// Apply records a client's application to become a partner; an ib_manager approves or rejects it.
func (s *Service) Apply(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, note string) (Partner, error) {
	return s.create(ctx, t, audit.Actor{Kind: audit.ActorClient, ID: clientID.String()},
		PartnerInput{ClientID: &clientID, Note: note}, StatusApplied, ActionApplied)
}

func (s *Service) create(ctx context.Context, t tenants.Tenant, actor audit.Actor, in PartnerInput, st Status, action string) (Partner, error) {
	var out Partner
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var f validation.Fields
		in.Name, in.Note = strings.TrimSpace(in.Name), strings.TrimSpace(in.Note)
		if in.ClientID != nil {
			c, err := s.o.Clients.GetTx(ctx, tx, *in.ClientID)
			if errors.Is(err, clients.ErrNotFound) {
				f.Add("client_id", "no client has this id")
			} else if err != nil {
				return err
			} else if in.Name == "" {
				in.Name = c.Name()
			}
		}
		f.Required("name", in.Name)
		f.Name("name", in.Name, 200)
		f.Text("note", in.Note, 2000)
		if in.Code != "" {
			checkCode(&f, in.Code, in.Campaign)
		}
		if err := f.Err(); err != nil {
			return err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		now := s.o.Now().UTC()
		if _, err := tx.Exec(ctx, `INSERT INTO partners (id, name, client_id, status, note, created_at, decided_at)
			VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'active' THEN $6::timestamptz END)`,
			id, in.Name, in.ClientID, st, in.Note, now); err != nil {
			if database.IsUniqueViolation(err) {
				return validation.New("client_id", "this client is already a partner or has applied")
			}
			return fmt.Errorf("partners: create: %w", err)
		}
		if err := s.setParentTx(ctx, tx, id, in.ParentID, Beginning, ""); err != nil {
			return err
		}
		if in.PlanID != nil {
			if err := setPlanTx(ctx, tx, id, *in.PlanID); err != nil {
				return err
			}
		}
		if in.Code != "" {
			if err := addCodeTx(ctx, tx, id, in.Code, in.Campaign, now); err != nil {
				return err
			}
		}
		if out, err = partnerTx(ctx, tx, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: audit.Target{Type: partnerTarget, ID: id.String()},
			After: viewTx(ctx, tx, out, in.Code)})
	})
	return out, err
}

func viewTx(ctx context.Context, tx pgx.Tx, p Partner, code string) view {
	v := view{Name: p.Name, Status: p.Status, Plan: p.PlanName, Code: code, Note: p.Note}
	if p.ParentID != nil {
		_ = tx.QueryRow(ctx, `SELECT name FROM partners WHERE id = $1`, *p.ParentID).Scan(&v.Parent)
	}
	return v
}

// Approve makes an applied (or suspended) partner active, with a plan when planID is given.
func (s *Service) Approve(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, planID *uuid.UUID) (Partner, error) {
	return s.decide(ctx, t, actor, id, StatusActive, planID, "")
}

// Reject refuses an application, with a reason the applicant reads.
func (s *Service) Reject(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, reason string) (Partner, error) {
	if err := checkReason(reason); err != nil {
		return Partner{}, err
	}
	return s.decide(ctx, t, actor, id, StatusRejected, nil, strings.TrimSpace(reason))
}

func (s *Service) decide(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, to Status, planID *uuid.UUID, reason string) (Partner, error) {
	var out Partner
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := partnerTx(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if before.Status == to || (to == StatusRejected && before.Status != StatusApplied) || before.Status == StatusRejected {
			return fmt.Errorf("%w: the partner is %s", ErrState, before.Status)
		}
		if _, err := tx.Exec(ctx, `UPDATE partners SET status = $2, decided_at = $3 WHERE id = $1`, id, to, s.o.Now().UTC()); err != nil {
			return err
		}
		if planID != nil {
			if err := setPlanTx(ctx, tx, id, *planID); err != nil {
				return err
			}
		}
		if out, err = partnerTx(ctx, tx, id); err != nil {
			return err
		}
		action := ActionApproved
		if to == StatusRejected {
			action = ActionRejected
		}
		after := viewTx(ctx, tx, out, "")
		after.Note = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: audit.Target{Type: partnerTarget, ID: id.String()},
			Before: viewTx(ctx, tx, before, ""), After: after})
	})
	return out, err
}

// checkReason refuses an empty reason, or one that is not plain text of at most 500 characters.
func checkReason(reason string) error {
	var f validation.Fields
	f.Required("reason", reason)
	f.Text("reason", strings.TrimSpace(reason), 500)
	return f.Err()
}

func checkCode(f *validation.Fields, code, campaign string) {
	if !clients.ValidReferralCode(code) {
		f.Add("code", "must be 1 to 32 letters, digits, '-' or '_'")
	}
	f.SingleLine("campaign", campaign, 64)
}

func addCodeTx(ctx context.Context, tx pgx.Tx, partner uuid.UUID, code, campaign string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO partner_codes (code, partner_id, campaign, created_at) VALUES ($1, $2, $3, $4)`,
		code, partner, strings.TrimSpace(campaign), now)
	if database.IsUniqueViolation(err) {
		return validation.New("code", "another partner's code, or one already given")
	}
	return err
}

// AddCode gives a partner another referral code, tagged with a campaign ("spring-webinar").
func (s *Service) AddCode(ctx context.Context, t tenants.Tenant, actor audit.Actor, partner uuid.UUID, code, campaign string) error {
	var f validation.Fields
	checkCode(&f, code, campaign)
	if err := f.Err(); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := partnerTx(ctx, tx, partner, true); err != nil {
			return err
		}
		if err := addCodeTx(ctx, tx, partner, code, campaign, s.o.Now().UTC()); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionCodeAdded, Target: audit.Target{Type: partnerTarget, ID: partner.String()},
			After: map[string]string{"code": code, "campaign": campaign}})
	})
}

// SetPlan puts a partner on a plan; rows computed from then on use the plan's versions.
func (s *Service) SetPlan(ctx context.Context, t tenants.Tenant, actor audit.Actor, partner, plan uuid.UUID) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := partnerTx(ctx, tx, partner, true)
		if err != nil {
			return err
		}
		if err := setPlanTx(ctx, tx, partner, plan); err != nil {
			return err
		}
		after, err := partnerTx(ctx, tx, partner)
		if err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionPlanSet, Target: audit.Target{Type: partnerTarget, ID: partner.String()},
			Before: map[string]string{"plan": before.PlanName}, After: map[string]string{"plan": after.PlanName}})
	})
}

func setPlanTx(ctx context.Context, tx pgx.Tx, partner, plan uuid.UUID) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partner_plans WHERE id = $1)`, plan).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return validation.New("plan_id", "no plan has this id")
	}
	_, err := tx.Exec(ctx, `UPDATE partners SET plan_id = $2 WHERE id = $1`, partner, plan)
	return err
}

// Move gives a partner another parent (nil: top level) from effective on. Deals before effective stay with the
// tree as it was; a move that would make the partner its own ancestor at any time from effective on is refused.
func (s *Service) Move(ctx context.Context, t tenants.Tenant, actor audit.Actor, partner uuid.UUID, parent *uuid.UUID, effective time.Time, reason string) error {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return err
	}
	if effective.IsZero() {
		effective = s.o.Now()
	}
	effective = effective.UTC().Truncate(time.Microsecond)
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		// One move at a time per tenant (the key names the tenant's schema: advisory locks are the cluster's): the
		// cycle check reads the whole tree's history.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.partners.tree'))`); err != nil {
			return err
		}
		if _, err := partnerTx(ctx, tx, partner, true); err != nil {
			return err
		}
		var was *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT parent_id FROM partner_parents WHERE partner_id = $1 AND effective_from <= $2
			ORDER BY effective_from DESC LIMIT 1`, partner, effective).Scan(&was); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := s.setParentTx(ctx, tx, partner, parent, effective, reason); err != nil {
			return err
		}
		names := func(id *uuid.UUID) string {
			if id == nil {
				return ""
			}
			var n string
			_ = tx.QueryRow(ctx, `SELECT name FROM partners WHERE id = $1`, *id).Scan(&n)
			return n
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionMoved, Target: audit.Target{Type: partnerTarget, ID: partner.String()},
			Before: map[string]string{"parent": names(was)},
			After:  map[string]string{"to": names(parent), "effective": effective.Format(effectiveLayout), "reason": reason}})
	})
}

// setParentTx records partner's parent from effective on, refusing a cycle at effective or at any later change of
// the tree.
func (s *Service) setParentTx(ctx context.Context, tx pgx.Tx, partner uuid.UUID, parent *uuid.UUID, effective time.Time, reason string) error {
	if parent != nil {
		if *parent == partner {
			return validation.New("parent_id", "a partner cannot be its own parent")
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)`, *parent).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return validation.New("parent_id", "no partner has this id")
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO partner_parents (partner_id, effective_from, parent_id, reason) VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id, effective_from) DO UPDATE SET parent_id = excluded.parent_id, reason = excluded.reason,
		recorded_at = now()`, partner, effective, parent, reason); err != nil {
		return fmt.Errorf("partners: parent: %w", err)
	}
	if parent == nil {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT effective_from FROM partner_parents WHERE effective_from >= $1`, effective)
	if err != nil {
		return err
	}
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return err
	}
	for _, at := range times {
		chain, err := chainTx(ctx, tx, partner, at)
		if err != nil {
			return err
		}
		if chain == nil {
			return validation.New("parent_id", "the move would make the partner its own ancestor on "+at.Format("2 January 2006 15:04 MST"))
		}
	}
	return nil
}

// chainTx is the partner and its ancestors at time at, nearest first; nil when the tree has a cycle there.
func chainTx(ctx context.Context, tx pgx.Tx, partner uuid.UUID, at time.Time) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `WITH RECURSIVE up(id, depth, path, cycle) AS (
			SELECT $1::uuid, 1, ARRAY[$1::uuid], false
			UNION ALL
			SELECT p.parent_id, up.depth + 1, up.path || p.parent_id, p.parent_id = ANY(up.path)
			FROM up CROSS JOIN LATERAL (SELECT parent_id FROM partner_parents WHERE partner_id = up.id AND effective_from <= $2
				ORDER BY effective_from DESC LIMIT 1) p
			WHERE p.parent_id IS NOT NULL AND NOT up.cycle)
		SELECT id, cycle FROM up ORDER BY depth`, partner, at)
	if err != nil {
		return nil, err
	}
	var out []uuid.UUID
	var id uuid.UUID
	var cycle, bad bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &cycle}, func() error {
		if cycle {
			bad = true
		}
		out = append(out, id)
		return nil
	}); err != nil {
		return nil, err
	}
	if bad {
		return nil, nil
	}
	return out, nil
}

// Attribute links a client to a partner (nil: to none) from effective on, with a reason (staff re-attribution).
// Deals before effective stay with the partner they were attributed to then.
func (s *Service) Attribute(ctx context.Context, t tenants.Tenant, actor audit.Actor, client uuid.UUID, partner *uuid.UUID, effective time.Time, reason string) error {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return err
	}
	if effective.IsZero() {
		effective = s.o.Now()
	}
	effective = effective.UTC().Truncate(time.Microsecond)
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.o.Clients.GetTx(ctx, tx, client); errors.Is(err, clients.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if partner != nil {
			if _, err := partnerTx(ctx, tx, *partner); errors.Is(err, ErrNotFound) {
				return validation.New("partner_id", "no partner has this id")
			} else if err != nil {
				return err
			}
		}
		was, _, err := attributionTx(ctx, tx, client, effective)
		if err != nil {
			return err
		}
		return s.attributeTx(ctx, tx, actor, client, was, partner, effective, "", "staff", reason)
	})
}

func (s *Service) attributeTx(ctx context.Context, tx pgx.Tx, actor audit.Actor, client uuid.UUID, was, partner *uuid.UUID, effective time.Time,
	code, source, reason string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO partner_attributions (client_id, effective_from, partner_id, code, source, reason)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, effective_from) DO UPDATE SET partner_id = excluded.partner_id,
		code = excluded.code, source = excluded.source, reason = excluded.reason, recorded_at = now()`,
		client, effective, partner, code, source, reason); err != nil {
		return fmt.Errorf("partners: attribution: %w", err)
	}
	name := func(id *uuid.UUID) string {
		if id == nil {
			return ""
		}
		var n string
		_ = tx.QueryRow(ctx, `SELECT name FROM partners WHERE id = $1`, *id).Scan(&n)
		return n
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionClientAttributed, Target: clientTarget(client),
		Before: map[string]string{"partner": name(was)},
		After: map[string]string{"to": name(partner), "code": code, "source": source, "reason": reason,
			"effective": effective.Format(effectiveLayout)}})
}

// attributionTx is the client's partner at time at (nil: none) and whether any attribution row applies.
func attributionTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, at time.Time) (*uuid.UUID, bool, error) {
	var p *uuid.UUID
	err := tx.QueryRow(ctx, `SELECT partner_id FROM partner_attributions WHERE client_id = $1 AND effective_from <= $2
		ORDER BY effective_from DESC LIMIT 1`, client, at).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return p, err == nil, err
}

// attributeRegistered links a new client to the partner whose code it registered with (a Later subscriber of
// client.registered). A code no partner holds is kept as given, with no partner, so "why is this client not
// mine" has an answer.
func (s *Service) attributeRegistered(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, m events.Meta, e clients.Registered) error {
	if e.ReferralCode == "" {
		return nil
	}
	var partner *uuid.UUID
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT partner_id FROM partner_codes WHERE upper(code) = upper($1) AND disabled_at IS NULL`, e.ReferralCode).Scan(&id)
	switch {
	case err == nil:
		partner = &id
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	source := "registration"
	return s.attributeTx(ctx, tx, audit.System("referral"), e.ClientID, nil, partner, m.OccurredAt.UTC().Truncate(time.Microsecond),
		e.ReferralCode, source, "registered with the code "+e.ReferralCode)
}

const partnerSelect = `SELECT p.id, p.name, p.client_id, p.status, p.plan_id, coalesce(pl.name, ''), p.note, p.created_at,
	(SELECT parent_id FROM partner_parents WHERE partner_id = p.id AND effective_from <= now() ORDER BY effective_from DESC LIMIT 1)
	FROM partners p LEFT JOIN partner_plans pl ON pl.id = p.plan_id`

func scanPartner(row pgx.Row) (Partner, error) {
	var p Partner
	err := row.Scan(&p.ID, &p.Name, &p.ClientID, &p.Status, &p.PlanID, &p.PlanName, &p.Note, &p.CreatedAt, &p.ParentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

func partnerTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock ...bool) (Partner, error) {
	q := partnerSelect + ` WHERE p.id = $1`
	if len(lock) > 0 && lock[0] {
		q += ` FOR UPDATE OF p`
	}
	p, err := scanPartner(tx.QueryRow(ctx, q, id))
	if err != nil {
		return p, err
	}
	rows, err := tx.Query(ctx, `SELECT code, campaign, created_at FROM partner_codes WHERE partner_id = $1 AND disabled_at IS NULL ORDER BY created_at, code`, id)
	if err != nil {
		return p, err
	}
	p.Codes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Code, error) {
		var c Code
		return c, r.Scan(&c.Code, &c.Campaign, &c.CreatedAt)
	})
	return p, err
}

// Partner reads one partner with its codes and its parent now.
func (s *Service) Partner(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Partner, error) {
	var out Partner
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = partnerTx(ctx, tx, id)
		return err
	})
	return out, err
}

// Partners lists the tenant's partners by name with their codes (status "" for all).
func (s *Service) Partners(ctx context.Context, t tenants.Tenant, status Status) ([]Partner, error) {
	var out []Partner
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, partnerSelect+` WHERE $1 = '' OR p.status = $1 ORDER BY p.name, p.id`, status)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partner, error) { return scanPartner(r) }); err != nil {
			return err
		}
		at := map[uuid.UUID]int{}
		for i, p := range out {
			at[p.ID] = i
		}
		rows, err = tx.Query(ctx, `SELECT partner_id, code, campaign, created_at FROM partner_codes WHERE disabled_at IS NULL ORDER BY created_at, code`)
		if err != nil {
			return err
		}
		var id uuid.UUID
		var c Code
		_, err = pgx.ForEachRow(rows, []any{&id, &c.Code, &c.Campaign, &c.CreatedAt}, func() error {
			if i, ok := at[id]; ok {
				out[i].Codes = append(out[i].Codes, c)
			}
			return nil
		})
		return err
	})
	return out, err
}

// Chain is the partner and its ancestors at time at, nearest first (the levels a client's deal pays).
func (s *Service) Chain(ctx context.Context, t tenants.Tenant, partner uuid.UUID, at time.Time) ([]uuid.UUID, error) {
	var out []uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = chainTx(ctx, tx, partner, at)
		return err
	})
	return out, err
}

// AttributedTo is the partner a client was attributed to at time at (nil: none).
func (s *Service) AttributedTo(ctx context.Context, t tenants.Tenant, client uuid.UUID, at time.Time) (*uuid.UUID, error) {
	var out *uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, _, err = attributionTx(ctx, tx, client, at)
		return err
	})
	return out, err
}

// Node is a partner in a subtree: its parent there and its depth below the subtree's root (0).
type Node struct {
	ID       uuid.UUID
	Name     string
	Status   Status
	ParentID *uuid.UUID
	Depth    int
	Clients  int // clients attributed to it at the time
}

// Subtree is partner and every partner below it at time at, by depth then name.
func (s *Service) Subtree(ctx context.Context, t tenants.Tenant, partner uuid.UUID, at time.Time) ([]Node, error) {
	var out []Node
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := partnerTx(ctx, tx, partner); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH RECURSIVE cur AS (
				SELECT DISTINCT ON (partner_id) partner_id, parent_id FROM partner_parents WHERE effective_from <= $2
				ORDER BY partner_id, effective_from DESC),
			down(id, parent, depth) AS (
				SELECT $1::uuid, NULL::uuid, 0
				UNION ALL
				SELECT c.partner_id, c.parent_id, d.depth + 1 FROM down d JOIN cur c ON c.parent_id = d.id WHERE d.depth < 1000),
			att AS (
				SELECT DISTINCT ON (client_id) client_id, partner_id FROM partner_attributions WHERE effective_from <= $2
				ORDER BY client_id, effective_from DESC)
			SELECT d.id, p.name, p.status, d.parent, d.depth, (SELECT count(*) FROM att WHERE att.partner_id = d.id)
			FROM down d JOIN partners p ON p.id = d.id ORDER BY d.depth, p.name, d.id`, partner, at)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
			var n Node
			return n, r.Scan(&n.ID, &n.Name, &n.Status, &n.ParentID, &n.Depth, &n.Clients)
		})
		return err
	})
	return out, err
}

// Plans lists the tenant's plans, each at its latest version, by name.
func (s *Service) Plans(ctx context.Context, t tenants.Tenant) ([]Plan, error) {
	var out []Plan
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (p.name, p.id) p.id, p.name, p.currency, v.version, v.rules, v.created_at
			FROM partner_plans p JOIN partner_plan_versions v ON v.plan_id = p.id ORDER BY p.name, p.id, v.version DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Plan, error) { return scanPlan(r) })
		return err
	})
	return out, err
}

// PartnerOfClient is the partner record (or application) of a client (ErrNotFound: none).
func (s *Service) PartnerOfClient(ctx context.Context, t tenants.Tenant, client uuid.UUID) (Partner, error) {
	var out Partner
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM partners WHERE client_id = $1`, client).Scan(&id); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		var err error
		out, err = partnerTx(ctx, tx, id)
		return err
	})
	return out, err
}
