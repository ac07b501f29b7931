package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// What money out needs of money in (modules/withdrawals): the client's completed deposits in a currency, by
// method, and which of them were paid by card through Stripe and can be refunded to that payment (return to
// source). Withdrawals never read the deposits' tables; they ask here.

// PaidDeposit is one of a client's completed deposits.
type PaidDeposit struct {
	ID          uuid.UUID
	GatewaySlug string
	GatewayName string
	GatewayKind string
	Amount      money.Amount
	// PaymentID is the processor's id of the payment that paid it, when it can be refunded to that payment (a
	// Stripe PaymentIntent, pi_...); "" otherwise.
	PaymentID   string
	CompletedAt time.Time
}

// Refundable reports whether the deposit can go back to the payment that paid it.
func (d PaidDeposit) Refundable() bool { return d.PaymentID != "" }

// MoneyIn is a client's completed deposits in one currency, oldest first.
type MoneyIn struct {
	Deposits []PaidDeposit
}

// Total is the sum of the deposits, in minor units.
func (m MoneyIn) Total() int64 {
	var n int64
	for _, d := range m.Deposits {
		n += d.Amount.Minor
	}
	return n
}

// Last is the newest deposit (nil without any).
func (m MoneyIn) Last() *PaidDeposit {
	if len(m.Deposits) == 0 {
		return nil
	}
	return &m.Deposits[len(m.Deposits)-1]
}

// MoneyInTx reads client's completed deposits in currency in tx (a scope of the tenant). A Stripe deposit carries
// the PaymentIntent its credited callback named: what a refund goes to.
func (s *Service) MoneyInTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) (MoneyIn, error) {
	rows, err := tx.Query(ctx, `SELECT d.id, g.slug, g.name, g.kind, d.amount, d.currency, d.exponent, d.completed_at,
			coalesce((SELECT c.external_id FROM payment_callbacks c WHERE c.deposit_id = d.id AND c.outcome = 'credited'
				AND c.external_id LIKE 'pi\_%' ORDER BY c.received_at LIMIT 1), '')
		FROM deposits d JOIN payment_gateways g ON g.id = d.gateway_id
		WHERE d.client_id = $1 AND d.currency = $2 AND d.status = 'completed' ORDER BY d.completed_at, d.id`, client, currency)
	if err != nil {
		return MoneyIn{}, fmt.Errorf("payments: money in of %s: %w", client, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PaidDeposit, error) {
		var d PaidDeposit
		var exp int16
		err := r.Scan(&d.ID, &d.GatewaySlug, &d.GatewayName, &d.GatewayKind, &d.Amount.Minor, &d.Amount.Currency.Code, &exp, &d.CompletedAt, &d.PaymentID)
		d.Amount.Currency.Exponent = int(exp)
		if d.GatewayKind != "stripe" {
			d.PaymentID = ""
		}
		return d, err
	})
	if err != nil {
		return MoneyIn{}, fmt.Errorf("payments: money in of %s: %w", client, err)
	}
	return MoneyIn{Deposits: list}, nil
}

// RefundPayment returns amount of a deposit's payment (a Stripe PaymentIntent, as MoneyInTx named it) to the payer
// through the deposit's gateway: what a withdrawal's return-to-source leg asks. key makes the processor create one
// refund however often it is asked (Stripe's Idempotency-Key): the caller's retry of a lost answer finds the same
// refund. A processor's refusal is ErrProcessor (the refund did not happen); ErrRefundUnsupported for a gateway
// refunded by hand.
func (s *Service) RefundPayment(ctx context.Context, t tenants.Tenant, depositID uuid.UUID, paymentID string, amount money.Amount, key, reason string) (Refunded, error) {
	var g Gateway
	var sealed string
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		d, err := depositTx(ctx, tx, `d.id = $1`, depositID)
		if err != nil {
			return err
		}
		g, sealed, err = s.gatewayTx(ctx, tx, `id = $1`, d.GatewayID, true)
		return err
	})
	if err != nil {
		return Refunded{}, err
	}
	a, err := s.adapterFor(t, g, sealed)
	if err != nil {
		return Refunded{}, err
	}
	out, err := a.Refund(ctx, RefundRequest{ExternalID: paymentID, Amount: amount, IdempotencyKey: key, Reason: cut(reason, 200)})
	if errors.Is(err, ErrRefundUnsupported) {
		return Refunded{}, err
	}
	if _, invalid := validation.As(err); invalid { // refused before the processor was asked: asking again is refused the same
		return Refunded{}, fmt.Errorf("%w: %w", ErrProcessor, err)
	}
	if err != nil && !errors.Is(err, ErrProcessor) {
		return Refunded{}, fmt.Errorf("%w: %v", ErrProcessor, err)
	}
	return out, err
}

// Payout asks gateway (its slug) to pay r out (Payouter), with the gateway's webhook URL as the callback: what a
// withdrawal's leg through a gateway asks. ErrPayoutUnsupported when the gateway cannot; ErrProcessor when the
// processor refused or failed (the caller retries with the same IdempotencyKey).
func (s *Service) Payout(ctx context.Context, t tenants.Tenant, gateway string, r PayoutRequest) (PaidOut, error) {
	g, sealed, err := s.readGateway(ctx, t, gateway)
	if errors.Is(err, ErrNotFound) {
		return PaidOut{}, ErrPayoutUnsupported
	}
	if err != nil {
		return PaidOut{}, err
	}
	a, err := s.adapterFor(t, g, sealed)
	if err != nil {
		return PaidOut{}, err
	}
	p, ok := a.(Payouter)
	if !ok || !g.Enabled {
		return PaidOut{}, ErrPayoutUnsupported
	}
	if !strings.HasPrefix(r.Reference, PayoutReferencePrefix) {
		return PaidOut{}, fmt.Errorf("payments: a payout's reference starts with %q", PayoutReferencePrefix)
	}
	r.CallbackURL = s.o.TenantURL(t, WebhookPath(g.Slug))
	out, err := p.Payout(ctx, r)
	if _, invalid := validation.As(err); invalid {
		return PaidOut{}, fmt.Errorf("%w: %w", ErrProcessor, err)
	}
	return out, err
}
