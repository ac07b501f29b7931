package partners

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The demo brokerage's partners: a three-level tree on one plan, and demo clients who trade in the simulator
// attributed to each level, so `make run` shows commissions at every level within a minute or two of starting.
var demoPartners = []struct {
	name, code, parent string
}{
	{"Atlas Partners", "IB-ATLAS", ""},
	{"Bravo Introducers", "IB-BRAVO", "IB-ATLAS"},
	{"Charlie Trading Club", "IB-CHARLIE", "IB-BRAVO"},
}

// demoReferrals: the demo clients (by name) and the code each came through. Hannah Schmidt registered with
// IB-ATLAS (clients' demo data); the others are attributed by the demo.
var demoReferrals = []struct {
	first, last, code string
}{
	{"Hannah", "Schmidt", "IB-ATLAS"},
	{"Sofia", "Rossi", "IB-ATLAS"},
	{"Diego", "Fernandez", "IB-CHARLIE"},
	{"Priya", "Sharma", "IB-CHARLIE"},
	{"Tom", "Baker", "IB-BRAVO"},
}

// DemoPlan is the demo's plan: 7.00/2.00/1.00 a lot up three levels, metals (XAUUSD.m pays as XAUUSD) 10/3/1.
func DemoPlan() Rules {
	d := decimal.RequireFromString
	return Rules{
		Groups: map[string][]string{"Metals": {"XAUUSD", "XAGUSD"}},
		Lines: []Line{
			{Group: "Metals", PerLot: []decimal.Decimal{d("10"), d("3"), d("1")}},
			{PerLot: []decimal.Decimal{d("7"), d("2"), d("1")}},
		},
		PayOn: PayOnClose,
		CPA:   &CPA{Amount: d("200"), MinDeposit: d("100")},
	}
}

var demoActor = audit.System("demo")

// demo fills the demo brokerage through the service; it is safe at every start: what exists is left as it is.
func (s *Service) demo(ctx context.Context, t tenants.Tenant) error {
	var plan uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM partner_plans WHERE name = 'Standard IB'`).Scan(&plan)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		p, err := s.CreatePlan(ctx, t, demoActor, "Standard IB", "USD", DemoPlan())
		if err != nil {
			return fmt.Errorf("partners: demo plan: %w", err)
		}
		plan = p.ID
	} else if err != nil {
		return err
	}
	byCode := map[string]uuid.UUID{}
	for _, dp := range demoPartners {
		id, err := s.partnerByCode(ctx, t, dp.code)
		if errors.Is(err, ErrNotFound) {
			var parent *uuid.UUID
			if p, ok := byCode[dp.parent]; ok {
				parent = &p
			}
			p, err := s.CreatePartner(ctx, t, demoActor, PartnerInput{Name: dp.name, Code: dp.code, Campaign: "demo", PlanID: &plan, ParentID: parent})
			if err != nil {
				return fmt.Errorf("partners: demo partner %s: %w", dp.code, err)
			}
			id = p.ID
		} else if err != nil {
			return err
		}
		byCode[dp.code] = id
	}
	if err := s.demoIB(ctx, t, byCode["IB-ATLAS"]); err != nil {
		return err
	}
	for _, r := range demoReferrals {
		list, err := s.o.Clients.List(ctx, t, clients.Viewer{}, clients.Filter{Query: clients.DemoEmail(r.first, r.last)}, nil, 1)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			continue
		}
		c := list[0]
		partner := byCode[r.code]
		err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			var has bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partner_attributions WHERE client_id = $1)`, c.ID).Scan(&has); err != nil || has {
				return err
			}
			return s.attributeTx(ctx, tx, demoActor, c.ID, nil, &partner, c.CreatedAt.UTC(), r.code, "registration", "registered with the code "+r.code)
		})
		if err != nil {
			return fmt.Errorf("partners: demo attribution of %s: %w", c.Email, err)
		}
	}
	return nil
}

func (s *Service) partnerByCode(ctx context.Context, t tenants.Tenant, code string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT partner_id FROM partner_codes WHERE upper(code) = upper($1)`, code).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return id, ErrNotFound
	}
	return id, err
}

// demoIB makes the demo introducing broker's client (identity.DemoIBEmail's, which clients' demo seeds) the client
// behind IB-ATLAS, so `make run`'s IB login opens Atlas's partner area. A partner with a client already keeps it.
func (s *Service) demoIB(ctx context.Context, t tenants.Tenant, atlas uuid.UUID) error {
	list, err := s.o.Clients.List(ctx, t, clients.Viewer{}, clients.Filter{Query: identity.DemoIBEmail(t)}, nil, 1)
	if err != nil || len(list) == 0 {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE partners SET client_id = $1 WHERE id = $2 AND client_id IS NULL
			AND NOT EXISTS (SELECT 1 FROM partners WHERE client_id = $1)`, list[0].ID, atlas)
		return err
	})
}
