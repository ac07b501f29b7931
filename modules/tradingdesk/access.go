package tradingdesk

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Login and trading on or off (docs/trading/desk.md "Access"). What an account may do follows two things:
//
//   - its client's status (StatusAccess): a suspended or closed client's accounts can neither sign in nor trade; a
//     restricted client (withdrawals only, clients.Decide) may sign in and watch their positions but not trade;
//     every other status leaves the accounts they already have as they are (the policy gate stops new money and
//     new accounts; compliance suspends a client whose trading must stop);
//   - a staff user's hand (trading.manage): an account disabled by hand (access_held) stays disabled, whatever the
//     client's status, until a staff user enables it again.
//
// A client's status change publishes client.status_changed; the desk's subscriber (in the publisher's
// transaction) records a set_access request for each account whose access must change, so the requests exist
// exactly when the status change commits. The worker applies the access the CRM wants when it runs (the client's
// status and the hand as they are then), not the one of the moment the request was made: requests of one account
// carried out of order (a suspension and a quick reinstatement) still leave the account as the CRM wants it.
// trading_accounts records what the platform was last told (login_enabled, trading_enabled, status), and
// ExpectedAccess reads it.

// ExpectedAccess is what the CRM believes the platform gives account a: the access the desk last set on it
// (trading_accounts.login_enabled and trading_enabled). The drift report compares it with the platform's.
func ExpectedAccess(a Account) trading.Access {
	return trading.Access{LoginEnabled: a.LoginEnabled, TradingEnabled: a.TradingEnabled}
}

// StatusAccess is what a client's status allows their trading accounts.
func StatusAccess(st clients.Status) trading.Access {
	switch st {
	case clients.StatusSuspended, clients.StatusClosed:
		return trading.Access{}
	case clients.StatusRestricted:
		return trading.Access{LoginEnabled: true}
	}
	return trading.Access{LoginEnabled: true, TradingEnabled: true}
}

// wantedAccess is the access the CRM wants for an account of a client in st, held by hand or not.
func wantedAccess(st clients.Status, held bool) trading.Access {
	if held {
		return trading.Access{}
	}
	return StatusAccess(st)
}

// Subscribe registers the desk's reactions to other modules' events.
func (s *Service) Subscribe(h *events.Hall) {
	events.OnTx(h, "tradingdesk.account_access", s.onClientStatus)
}

// onClientStatus records, in the status change's transaction, a set_access request for each of the client's
// accounts whose access the new status changes.
func (s *Service) onClientStatus(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e clients.StatusChanged) error {
	if StatusAccess(e.From) == StatusAccess(e.To) {
		return nil
	}
	rows, err := tx.Query(ctx, accountSelect+` WHERE t.client_id = $1 AND t.status <> 'closed' ORDER BY t.login FOR UPDATE OF t`, e.ClientID)
	if err != nil {
		return err
	}
	accounts, err := scanAccounts(rows)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		want := wantedAccess(e.To, a.AccessHeld)
		if want == ExpectedAccess(a) {
			continue
		}
		reason := "the client's status is now " + strings.ReplaceAll(string(e.To), "_", " ")
		if _, err := s.recordChangeTx(ctx, tx, a, changeSpec{kind: KindSetAccess, leverage: a.Leverage, group: a.Group, swapFree: a.SwapFree,
			reason: reason, by: "system:client_status", actor: systemActor,
			summary: fmt.Sprintf("%s on account %s", accessWords(want), a.Login)}); err != nil {
			return err
		}
	}
	return nil
}

// SetAccountAccess disables (or enables again) an account by a staff user's hand, with a reason: disabled, it stays
// so until enabled by hand, whatever its client's status; enabled, it gets what its client's status allows (a
// suspended or closed client's account cannot be enabled: reinstate the client). ErrNoSuchAccount for another
// brokerage's account.
func (s *Service) SetAccountAccess(ctx context.Context, t tenants.Tenant, actor audit.Actor, account uuid.UUID, enable bool, reason string) (Request, error) {
	reason = strings.TrimSpace(reason)
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := changeAccountTx(ctx, tx, uuid.Nil, account)
		if err != nil {
			return err
		}
		if !enable && reason == "" {
			return validation.New("reason", "say why the account is disabled (the trail keeps it)")
		}
		var f validation.Fields
		f.SingleLine("reason", reason, maxFailure)
		if err := f.Err(); err != nil {
			return err
		}
		if a.Status == "closed" {
			return validation.New("account", "account "+a.Login+" is closed")
		}
		c, err := s.o.Clients.GetTx(ctx, tx, a.ClientID)
		if err != nil {
			return err
		}
		want := wantedAccess(c.Status, !enable)
		if enable && want == (trading.Access{}) {
			return validation.New("account", fmt.Sprintf("the client is %s: reinstate the client, and their accounts follow",
				strings.ReplaceAll(string(c.Status), "_", " ")))
		}
		if a.AccessHeld == !enable && want == ExpectedAccess(a) {
			return validation.New("account", fmt.Sprintf("account %s is %s already", a.Login, accessWords(want)))
		}
		if _, err := tx.Exec(ctx, `UPDATE trading_accounts SET access_held = $2, updated_at = now() WHERE id = $1`, a.ID, !enable); err != nil {
			return err
		}
		verb := "enabled"
		if !enable {
			verb = "disabled"
		}
		why := "by hand: " + verb
		if reason != "" {
			why += " (" + reason + ")"
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionAccountAccessByHand, Target: audit.Target{Type: accountTarget, ID: a.ID.String()},
			Before: map[string]any{"held": a.AccessHeld}, After: map[string]any{"held": !enable, "enabled": enable, "login": a.Login, "reason": reason}}); err != nil {
			return err
		}
		out, err = s.recordChangeTx(ctx, tx, a, changeSpec{kind: KindSetAccess, leverage: a.Leverage, group: a.Group, swapFree: a.SwapFree,
			reason: why, by: actorString(actor), actor: actor, summary: fmt.Sprintf("%s on account %s", accessWords(want), a.Login)})
		return err
	})
	return out, err
}

// applyAccess sets on the platform the access the CRM wants for r's account now, and records it.
func (s *Service) applyAccess(ctx context.Context, t tenants.Tenant, tg Target, r Request) error {
	var want trading.Access
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := oneTx(ctx, tx, "account", accountSelect+` WHERE t.id = $1`, scanAccounts, *r.AccountID)
		if err != nil {
			return err
		}
		c, err := s.o.Clients.GetTx(ctx, tx, a.ClientID)
		want = wantedAccess(c.Status, a.AccessHeld)
		return err
	}); err != nil {
		return err
	}
	if err := s.sessions.Use(ctx, tg, true, func(c trading.Connector) error { return c.SetAccess(ctx, r.Login, want) }); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE trading_accounts SET login_enabled = $2, trading_enabled = $3,
			status = CASE WHEN status = 'closed' THEN status WHEN $2 AND $3 THEN 'active' ELSE 'disabled' END, updated_at = now() WHERE id = $1`,
			*r.AccountID, want.LoginEnabled, want.TradingEnabled); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE trading_requests SET login_enabled = $2, trading_enabled = $3 WHERE id = $1`,
			r.ID, want.LoginEnabled, want.TradingEnabled); err != nil {
			return err
		}
		return s.doneTx(ctx, tx, r, map[string]any{"login": r.Login, "client": r.ClientName, "kind": r.Kind, "access": accessWords(want),
			"reason": r.Reason})
	})
}
