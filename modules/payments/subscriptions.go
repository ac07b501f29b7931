package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Subscribe registers the module's reactions: the client's receipt for every credited deposit, and a case for
// finance when the nightly ledger verification fails.
func (s *Service) Subscribe(h *events.Hall) {
	events.Later(h, "payments.receipt_email", s.sendReceipt, events.InQueue(jobs.QueueNotifications))
	events.Later(h, "payments.ledger_case", s.ledgerCase)
}

// sendReceipt queues the branded receipt of a credited deposit (its idempotency key is the deposit's).
func (s *Service) sendReceipt(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e DepositCompleted) error {
	st, err := settingsTx(ctx, tx)
	if err != nil || !st.ReceiptEmails || s.o.Emails == nil {
		return err
	}
	d, err := depositTx(ctx, tx, `d.id = $1`, e.DepositID)
	if err != nil {
		return err
	}
	c, err := s.o.Clients.GetTx(ctx, tx, e.ClientID)
	if err != nil {
		return err
	}
	amount := money.Amount{Minor: e.Amount, Currency: money.Currency{Code: e.Currency, Exponent: e.Exponent}}
	return s.o.Emails.Queue(ctx, tx, t, "deposit-receipt:"+e.DepositID.String(), emails.Email{Template: emails.TemplateDepositReceived,
		To: c.Email, Data: map[string]any{"FirstName": c.FirstName, "Amount": amount.String(), "Method": d.GatewayName,
			"Reference": e.DepositID.String(), "WalletURL": s.o.TenantURL(t, "/portal/wallet")}})
}

// ledgerCase opens a case for a failed ledger verification (one per night and discrepancy).
func (s *Service) ledgerCase(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e ledger.VerifyFailed) error {
	return s.openExceptionTx(ctx, tx, t, exceptionSpec{Kind: CaseLedgerVerifyFailed,
		Reason: "The ledger's verification found: " + e.Problem.String(),
		Dedupe: fmt.Sprintf("ledger:%s:%s", e.CheckedAt.UTC().Format("2006-01-02"), e.Problem.String())})
}
