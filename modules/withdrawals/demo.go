package withdrawals

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DemoClients lists the demo brokerage's approved clients (*clients.Service), for the demo's withdrawals.
type DemoClients interface {
	List(ctx context.Context, t tenants.Tenant, v clients.Viewer, f clients.Filter, after *clients.After, limit int) ([]clients.Client, error)
}

// DemoSecondApproval is the demo brokerage's four-eyes threshold in USD (minor units): 1,000.00, so a demo
// withdrawal needs two approvers without a large wallet.
const DemoSecondApproval = 1000_00

// demo gives `make run`'s brokerage withdrawals at each stage, all through the service (held in the ledger, checked,
// decided by the demo's staff): every demo client deposited just now without trading, so each is flagged first.
//
// Stages go to the clients with the most available, in turn (a client may get two):
//
//	the richest client   1,200.00 USD: cleared by compliance, approved by the admin; waits for a second, different
//	                     approver (the demo finance login gives it)
//	the next             300.00 USD: cleared by compliance; waits for finance
//	the next             200.00 USD: flagged, waits for compliance
//	the next             100.00 USD: cleared and approved: the worker refunds it to the card (stripe-mock)
//
// Idempotent: a brokerage with withdrawals is left as it is. The rules get DemoSecondApproval for USD.
func (s *Service) demo(ctx context.Context, t tenants.Tenant) error {
	if s.o.DemoClients == nil {
		return nil
	}
	var have int
	if err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM withdrawals`).Scan(&have)
	}); err != nil || have > 0 {
		return err
	}
	st, err := s.Settings(ctx, t)
	if err != nil {
		return err
	}
	st.SecondApproval["USD"] = DemoSecondApproval
	if err := s.SaveSettings(ctx, t, audit.System("demo"), st); err != nil {
		return err
	}
	ids := map[staff.Role]uuid.UUID{}
	if err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		for _, m := range staff.DemoStaff(t) {
			got, err := staff.ByEmail(ctx, tx, m.Email)
			if err != nil {
				return fmt.Errorf("withdrawals demo: %s: %w", m.Email, err)
			}
			ids[m.Roles[0]] = got.ID
		}
		return nil
	}); err != nil {
		return err
	}
	approved, err := s.o.DemoClients.List(ctx, t, clients.Viewer{}, clients.Filter{Status: clients.StatusKYCApproved}, nil, 50)
	if err != nil {
		return err
	}
	usd := money.MustLookup("USD")
	type funded struct {
		id        uuid.UUID
		available int64
	}
	var list []funded
	for _, c := range approved {
		if c.Email == "" {
			continue
		}
		bals, err := s.o.Ledger.ClientBalances(ctx, t, c.ID)
		if err != nil {
			return err
		}
		for _, b := range bals {
			if b.Account.Currency == usd && b.Available() >= 100_00 {
				list = append(list, funded{c.ID, b.Available()})
			}
		}
	}
	slices.SortFunc(list, func(a, b funded) int { return cmp.Compare(b.available, a.available) })
	staffActor := func(r staff.Role) audit.Actor { return audit.Actor{Kind: audit.ActorStaff, ID: ids[r].String()} }
	stages := []struct {
		amount  string
		clear   bool
		approve []staff.Role
	}{
		{"1200.00", true, []staff.Role{staff.RoleAdmin}},
		{"300.00", true, nil},
		{"200.00", false, nil},
		{"100.00", true, []staff.Role{staff.RoleFinance}},
	}
	for i, stage := range stages {
		if len(list) == 0 {
			break
		}
		w, err := s.Request(ctx, t, list[i%len(list)].id, uuid.Nil, Input{Amount: stage.amount, Currency: "USD", Method: MethodBank,
			Destination: "GB33BUKB2020155555555" + fmt.Sprint(i)})
		if err != nil {
			return fmt.Errorf("withdrawals demo: request %s: %w", stage.amount, err)
		}
		if stage.clear && w.Flagged {
			if _, err := s.Review(ctx, t, staffActor(staff.RoleCompliance), ids[staff.RoleCompliance], w.ID, true,
				"Source of funds on file (demo)."); err != nil {
				return fmt.Errorf("withdrawals demo: clear: %w", err)
			}
		}
		for _, r := range stage.approve {
			if _, err := s.Approve(ctx, t, staffActor(r), ids[r], w.ID, "Bank account in the client's name (demo)."); err != nil {
				return fmt.Errorf("withdrawals demo: approve: %w", err)
			}
		}
	}
	return nil
}
