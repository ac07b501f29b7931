package payments_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

func TestAStripeDepositIsCreditedOnceHoweverItsConfirmationsArrive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "500.00")
	if d.Status != payments.StatusPending || d.RedirectURL == "" || d.ExternalID == "" {
		t.Fatalf("started deposit: %+v", d)
	}
	now := b.clock.Now()
	h, body := stripeEvent("evt_1", "checkout.session.completed", d.ID.String(), 50000, "usd", "paid", now)
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeCredited || r.Ack.Status != 200 || r.Deposit != d.ID {
		t.Fatalf("first delivery: %+v", r)
	}
	// The same event again, and another event confirming the same payment: nothing moves.
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeDuplicate || r.Ack.Status != 200 {
		t.Errorf("redelivery: %+v", r)
	}
	h2, body2 := stripeEvent("evt_2", "checkout.session.async_payment_succeeded", d.ID.String(), 50000, "usd", "paid", now)
	if r := b.callback(t, "card", h2, body2); r.Outcome != payments.OutcomeAlreadyDone {
		t.Errorf("a second confirmation: %+v", r)
	}
	// A failure reported after the credit is a case, not a reversal.
	h3, body3 := stripeEvent("evt_3", "checkout.session.async_payment_failed", d.ID.String(), 50000, "usd", "unpaid", now)
	if r := b.callback(t, "card", h3, body3); r.Outcome != payments.OutcomeException {
		t.Errorf("a failure after the credit: %+v", r)
	}
	if w := b.wallet(t, client); w != 50000 {
		t.Fatalf("wallet %d, want 50000", w)
	}
	got, err := b.svc.Deposit(context.Background(), b.ten, d.ID)
	if err != nil || got.Status != payments.StatusCompleted || got.DepositNumber != 1 || got.LedgerTx == nil {
		t.Fatalf("deposit after the webhook: %+v %v", got, err)
	}
	if n := b.published(t, payments.EventDepositCompleted); n != 1 {
		t.Errorf("%d deposit.completed rows in the outbox (the receipt's delivery), want 1", n)
	}
	b.verifyLedger(t)
}

// Money received for a deposit is received once: the same payment confirmed under another event id moves nothing,
// whether the deposit was credited or its money is held by a case; another payment for the same deposit (a
// processor's second attempt under one order) is money of its own, held in suspense for finance, never dropped.
func TestAPaymentIsReceivedOnceAndASecondPaymentForTheSameDepositIsHeld(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	ctx := context.Background()
	suspense := func() int64 {
		s, _ := b.ledger.Balance(ctx, b.ten, ledger.Suspense(usd).Code)
		return s.Posted
	}
	credited := b.deposit(t, client, "card", "100.00")
	h, body := stripeEvent("evt_pay", "checkout.session.completed", credited.ID.String(), 10000, "usd", "paid", b.clock.Now())
	b.callback(t, "card", h, body)
	second := strings.ReplaceAll(string(body), "pi_"+credited.ID.String(), "pi_second_attempt")
	second = strings.ReplaceAll(second, "evt_pay", "evt_pay_2")
	h2 := stripeSigned([]byte(second), b.clock.Now())
	if r := b.callback(t, "card", h2, []byte(second)); r.Outcome != payments.OutcomeException {
		t.Errorf("a second payment for a credited deposit: %s", r.Outcome)
	}
	if w, s := b.wallet(t, client), suspense(); w != 10000 || s != 10000 {
		t.Errorf("wallet %d and suspense %d after a second payment, want 10000 and 10000", w, s)
	}

	held := b.deposit(t, client, "card", "50.00")
	h, body = stripeEvent("evt_short", "checkout.session.completed", held.ID.String(), 4000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeException {
		t.Fatalf("a short payment: %s", r.Outcome)
	}
	h, body = stripeEvent("evt_short_again", "checkout.session.async_payment_succeeded", held.ID.String(), 4000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeAlreadyDone {
		t.Errorf("the held payment confirmed again: %s", r.Outcome)
	}
	if w, s := b.wallet(t, client), suspense(); w != 10000 || s != 14000 {
		t.Errorf("wallet %d and suspense %d after the held payment's second confirmation, want 10000 and 14000", w, s)
	}
	b.verifyLedger(t)
}

// A processor that confirms a payment without its amount gets nothing credited on trust: the case says so and holds
// no money.
func TestAPaidCallbackWithoutAnAmountCreditsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "75.00")
	_, body := stripeEvent("evt_noamount", "checkout.session.completed", d.ID.String(), 7500, "usd", "paid", b.clock.Now())
	noAmount := []byte(strings.Replace(string(body), `"amount_total":7500`, `"amount_total":null`, 1))
	if r := b.callback(t, "card", stripeSigned(noAmount, b.clock.Now()), noAmount); r.Outcome != payments.OutcomeException {
		t.Fatalf("outcome %s", r.Outcome)
	}
	if w := b.wallet(t, client); w != 0 {
		t.Errorf("wallet %d", w)
	}
	open := true
	cases, err := b.svc.Cases(context.Background(), b.ten, payments.CaseFilter{Open: &open}, 10)
	if err != nil || len(cases) != 1 || cases[0].Amount != nil || !strings.Contains(cases[0].Reason, "without saying how much") {
		t.Errorf("cases %+v %v", cases, err)
	}
}

// A case whose refund was asked of the processor (its answer lost) cannot also be credited to a client; an API key
// (no person) cannot resolve cases or take part in the four eyes.
func TestARefundStartedAtTheProcessorBlocksMatchingAndKeysCannotResolve(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	ctx := context.Background()
	h, body := stripeEvent("evt_refund_claim", "checkout.session.completed", "unknown-ref-9", 9000, "usd", "paid", b.clock.Now())
	b.callback(t, "card", h, body)
	open := true
	cases, err := b.svc.Cases(ctx, b.ten, payments.CaseFilter{Open: &open}, 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases %+v %v", cases, err)
	}
	if _, err := b.svc.Resolve(ctx, b.ten, cases[0].ID, uuid.Nil, payments.ResolvedWrittenOff, uuid.Nil, "by a key"); !errors.Is(err, payments.ErrPersonRequired) {
		t.Errorf("a resolution without a person: %v", err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, uuid.New(), uuid.Nil); !errors.Is(err, payments.ErrPersonRequired) {
		t.Errorf("an approval without a person: %v", err)
	}
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE payment_exceptions SET refund_started_at = now() WHERE id = $1`, cases[0].ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Resolve(ctx, b.ten, cases[0].ID, uuid.New(), payments.ResolvedMatched, client, "matched"); err == nil ||
		!strings.Contains(err.Error(), "refund") {
		t.Errorf("matching a case being refunded: %v", err)
	}
	if w := b.wallet(t, client); w != 0 {
		t.Errorf("wallet %d", w)
	}
	if _, err := b.svc.Resolve(ctx, b.ten, cases[0].ID, uuid.New(), payments.ResolvedWrittenOff, uuid.Nil, "refund lost; written off"); err != nil {
		t.Errorf("writing off a case being refunded: %v", err)
	}
	b.verifyLedger(t)
}

// An event id longer than the column keeps is recorded cut, and its redelivery is found as the same event.
func TestAVeryLongEventIDIsDeduplicated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "20.00")
	long := "evt_" + strings.Repeat("é", 150) // 304 bytes
	h, body := stripeEvent(long, "checkout.session.completed", d.ID.String(), 2000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeCredited {
		t.Fatalf("first: %s", r.Outcome)
	}
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeDuplicate {
		t.Errorf("again: %s", r.Outcome)
	}
	if w := b.wallet(t, client); w != 2000 {
		t.Errorf("wallet %d", w)
	}
}

func TestACallbackWithABadSignatureMovesAndRecordsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "100.00")
	h, body := stripeEvent("evt_forged", "checkout.session.completed", d.ID.String(), 10000, "usd", "paid", b.clock.Now())
	forged := append([]byte(nil), body...)
	forged[len(forged)-3] = 'X' // one byte changed
	stale, staleBody := stripeEvent("evt_stale", "checkout.session.completed", d.ID.String(), 10000, "usd", "paid", b.clock.Now().Add(-10*time.Minute))
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
	}{"body changed": {h, forged}, "no signature": {http.Header{}, body}, "stale": {stale, staleBody}} {
		if _, err := b.svc.HandleCallback(context.Background(), b.ten, "card", c.h, c.body); !errors.Is(err, payments.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != 0 {
		t.Errorf("%d callbacks recorded", n)
	}
	if w := b.wallet(t, client); w != 0 {
		t.Errorf("wallet %d", w)
	}
	if _, err := b.svc.HandleCallback(context.Background(), b.ten, "no-such-gateway", h, body); !errors.Is(err, payments.ErrUnknownGateway) {
		t.Errorf("an unknown gateway: %v", err)
	}
}

func TestMoneyForAnUnknownReferenceWaitsInSuspenseUntilFinanceMatchesIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	h, body := stripeEvent("evt_orphan", "checkout.session.completed", "unknown-ref-42", 25000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeException {
		t.Fatalf("outcome %s", r.Outcome)
	}
	if s, _ := b.ledger.Balance(context.Background(), b.ten, ledger.Suspense(usd).Code); s.Posted != 25000 {
		t.Fatalf("suspense %d, want 25000", s.Posted)
	}
	open := true
	cases, err := b.svc.Cases(context.Background(), b.ten, payments.CaseFilter{Open: &open}, 10)
	if err != nil || len(cases) != 1 || cases[0].Kind != payments.CaseUnknownReference || cases[0].Amount == nil || cases[0].Amount.Minor != 25000 {
		t.Fatalf("cases %+v %v", cases, err)
	}
	officer := uuid.New()
	if _, err := b.svc.Resolve(context.Background(), b.ten, cases[0].ID, officer, payments.ResolvedMatched, client, ""); err == nil {
		t.Error("a resolution without a note was accepted")
	}
	if _, err := b.svc.Resolve(context.Background(), b.ten, cases[0].ID, officer, payments.ResolvedDismissed, uuid.Nil, "nothing"); err == nil {
		t.Error("a case holding money was dismissed")
	}
	got, err := b.svc.Resolve(context.Background(), b.ten, cases[0].ID, officer, payments.ResolvedMatched, client, "wire reference matched by phone")
	if err != nil || got.Open || got.Resolution != payments.ResolvedMatched || got.DepositID == nil {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	if w := b.wallet(t, client); w != 25000 {
		t.Errorf("wallet %d after the match", w)
	}
	if s, _ := b.ledger.Balance(context.Background(), b.ten, ledger.Suspense(usd).Code); s.Posted != 0 {
		t.Errorf("suspense %d after the match", s.Posted)
	}
	if _, err := b.svc.Resolve(context.Background(), b.ten, cases[0].ID, officer, payments.ResolvedWrittenOff, uuid.Nil, "again"); !errors.Is(err, payments.ErrCaseClosed) {
		t.Errorf("resolving twice: %v", err)
	}
	d, err := b.svc.Deposit(context.Background(), b.ten, *got.DepositID)
	if err != nil || d.Status != payments.StatusCompleted || d.DepositNumber != 1 || d.ClientID != client {
		t.Errorf("the matched deposit: %+v %v", d, err)
	}
	b.verifyLedger(t)
}

// The trail names money records by what they are and whose: a deposit by its amount, owned by its client; an
// exception case by its kind, owned by a client once it has one (money for an unknown reference has none).
func TestTheTrailNamesDepositsAndCasesWithTheirClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	h, body := stripeEvent("evt_named", "checkout.session.completed", "unknown-ref-7", 12000, "usd", "paid", b.clock.Now())
	b.callback(t, "card", h, body)
	open := true
	cases, err := b.svc.Cases(context.Background(), b.ten, payments.CaseFilter{Open: &open}, 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases %+v %v", cases, err)
	}
	names := func(name audit.NameFunc, id string) audit.Ref {
		t.Helper()
		var out map[string]audit.Ref
		err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			out, err = name(ctx, tx, []string{id, "not-an-id"})
			return err
		})
		if err != nil || len(out) != 1 {
			t.Fatalf("names of %s: %v %v", id, out, err)
		}
		return out[id]
	}
	kase := cases[0].ID.String()
	if r := names(payments.NameCases, kase); r.Name != "unknown reference case" || r.Owner != nil || !strings.HasSuffix(r.Href, kase) {
		t.Errorf("the unmatched case reads %+v", r)
	}
	got, err := b.svc.Resolve(context.Background(), b.ten, cases[0].ID, uuid.New(), payments.ResolvedMatched, client, "matched by phone")
	if err != nil || got.DepositID == nil {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	if r := names(payments.NameCases, kase); r.Owner == nil || r.Owner.Name != "Ada Lovelace" {
		t.Errorf("the matched case reads %+v", r)
	}
	dep := got.DepositID.String()
	if r := names(payments.NameDeposits, dep); r.Name != "deposit of 120.00 USD" || r.Owner == nil || r.Owner.Name != "Ada Lovelace" ||
		!strings.Contains(r.Owner.Href, client.String()) {
		t.Errorf("the deposit reads %+v (owner %+v)", r, r.Owner)
	}
}

func TestAWrongAmountOrCurrencyOrARefusedClientIsACaseAndTheMoneyIsHeld(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct {
		name     string
		amount   int64
		currency string
		status   clients.Status
		kind     payments.CaseKind
	}{
		{"an amount that differs", 49999, "usd", clients.StatusKYCApproved, payments.CaseAmountMismatch},
		{"another currency", 50000, "eur", clients.StatusKYCApproved, payments.CaseCurrencyMismatch},
		{"a client suspended since", 50000, "usd", clients.StatusSuspended, payments.CaseClientRefused},
	} {
		client := b.client(t, clients.StatusKYCApproved)
		d := b.deposit(t, client, "card", "500.00")
		if c.status != clients.StatusKYCApproved {
			if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
				return b.clients.TransitionTx(ctx, tx, b.ten, client, c.status, "test", auditSystem)
			}); err != nil {
				t.Fatal(err)
			}
		}
		h, body := stripeEvent("evt_"+strings.ReplaceAll(c.name, " ", "_"), "checkout.session.completed", d.ID.String(), c.amount, c.currency, "paid", b.clock.Now())
		if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeException {
			t.Errorf("%s: outcome %s", c.name, r.Outcome)
			continue
		}
		if w := b.wallet(t, client); w != 0 {
			t.Errorf("%s: wallet credited %d", c.name, w)
		}
		cs, err := b.svc.Cases(context.Background(), b.ten, payments.CaseFilter{Kind: c.kind}, 5)
		if err != nil || len(cs) != 1 || cs[0].DepositID == nil || *cs[0].DepositID != d.ID || cs[0].Amount == nil || cs[0].Amount.Minor != c.amount {
			t.Errorf("%s: cases %+v %v", c.name, cs, err)
		}
		if got, _ := b.svc.Deposit(context.Background(), b.ten, d.ID); got.Status != payments.StatusProcessing {
			t.Errorf("%s: deposit %s, want processing (held)", c.name, got.Status)
		}
	}
	// Suspense holds exactly what arrived, per currency.
	if s, _ := b.ledger.Balance(context.Background(), b.ten, ledger.Suspense(usd).Code); s.Posted != 49999+50000 {
		t.Errorf("USD suspense %d", s.Posted)
	}
	// A held amount is written off with a reason.
	cs, _ := b.svc.Cases(context.Background(), b.ten, payments.CaseFilter{Kind: payments.CaseAmountMismatch}, 1)
	if _, err := b.svc.Resolve(context.Background(), b.ten, cs[0].ID, uuid.New(), payments.ResolvedWrittenOff, uuid.Nil, "client confirmed a typo; returned by wire"); err != nil {
		t.Fatal(err)
	}
	if w, _ := b.ledger.Balance(context.Background(), b.ten, ledger.WriteOff(usd).Code); w.Posted != 49999 {
		t.Errorf("write-off %d", w.Posted)
	}
	b.verifyLedger(t)
}

func TestAPaymentAfterTheDepositFailedIsHeldNotCredited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "20.00")
	hf, bf := stripeEvent("evt_f", "checkout.session.async_payment_failed", d.ID.String(), 2000, "usd", "unpaid", b.clock.Now())
	if r := b.callback(t, "card", hf, bf); r.Outcome != payments.OutcomeFailed {
		t.Fatalf("failure: %s", r.Outcome)
	}
	hp, bp := stripeEvent("evt_p", "checkout.session.completed", d.ID.String(), 2000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", hp, bp); r.Outcome != payments.OutcomeException {
		t.Fatalf("late payment: %s", r.Outcome)
	}
	if w := b.wallet(t, client); w != 0 {
		t.Errorf("wallet %d", w)
	}
	if n := b.count(t, `SELECT count(*) FROM payment_exceptions WHERE kind = 'late_payment'`); n != 1 {
		t.Errorf("%d late-payment cases", n)
	}
	b.verifyLedger(t)
}

func TestTheSameEventIDWithOtherContentIsACaseAndMovesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "30.00")
	h, body := stripeEvent("evt_same", "checkout.session.completed", d.ID.String(), 3000, "usd", "paid", b.clock.Now())
	b.callback(t, "card", h, body)
	h2, body2 := stripeEvent("evt_same", "checkout.session.completed", d.ID.String(), 9000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h2, body2); r.Outcome != payments.OutcomeException {
		t.Fatalf("outcome %s", r.Outcome)
	}
	b.callback(t, "card", h2, body2) // and again: still one case
	if n := b.count(t, `SELECT count(*) FROM payment_exceptions WHERE kind = 'duplicate_conflict'`); n != 1 {
		t.Errorf("%d conflict cases", n)
	}
	if w := b.wallet(t, client); w != 3000 {
		t.Errorf("wallet %d", w)
	}
}

func TestEachCompletedDepositOfAClientHasItsNumber(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	var ids []uuid.UUID
	for i := range 3 {
		d := b.deposit(t, client, "card", "10.00")
		h, body := stripeEvent(fmt.Sprintf("evt_n%d", i), "checkout.session.completed", d.ID.String(), 1000, "usd", "paid", b.clock.Now())
		b.callback(t, "card", h, body)
		ids = append(ids, d.ID)
	}
	for i, id := range ids {
		if d, _ := b.svc.Deposit(context.Background(), b.ten, id); d.DepositNumber != i+1 {
			t.Errorf("deposit %d has number %d", i+1, d.DepositNumber)
		}
	}
}

func TestADepositIsRefusedWhenThePolicyGateOrTheGatewaysLimitsSayNo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	waiting := b.client(t, clients.StatusKYCSubmitted)
	if _, err := b.svc.StartDeposit(context.Background(), b.ten, waiting, payments.DepositRequest{Gateway: "card", Amount: "100.00", Currency: "USD"}); !errors.Is(err, payments.ErrNotAllowed) {
		t.Errorf("a client waiting for KYC: %v", err)
	}
	ok := b.client(t, clients.StatusKYCApproved)
	for _, c := range []struct{ amount, currency, field string }{
		{"5.00", "USD", "amount"}, {"200000.00", "USD", "amount"}, {"10.005", "USD", "amount"}, {"1e3", "USD", "amount"},
		{"-10", "USD", "amount"}, {"100", "XXX", "currency"},
	} {
		_, err := b.svc.StartDeposit(context.Background(), b.ten, ok, payments.DepositRequest{Gateway: "card", Amount: c.amount, Currency: c.currency})
		if ve, isV := validation.As(err); !isV || ve.Message(c.field) == "" {
			t.Errorf("%s %s: %v, want a field error on %s", c.amount, c.currency, err, c.field)
		}
	}
	if _, err := b.svc.StartDeposit(context.Background(), b.ten, ok, payments.DepositRequest{Gateway: "card", Amount: "100", Currency: "GBP"}); !errors.Is(err, payments.ErrGatewayDisabled) {
		t.Errorf("a currency the gateway does not take: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM deposits`); n != 0 {
		t.Errorf("%d deposits recorded for refused requests", n)
	}
}

func TestANOWPaymentsDepositGoesFromInvoiceToPendingToCredited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "crypto", "75.50")
	if !strings.HasPrefix(d.RedirectURL, "https://nowpayments.io/payment/") || d.ExternalID == "" {
		t.Fatalf("invoice: %+v", d)
	}
	h, body := ipn("4001", d.ID.String(), "confirming", "75.5")
	if r := b.callback(t, "crypto", h, body); r.Outcome != payments.OutcomeProcessing || string(r.Ack.Body) != "OK" {
		t.Fatalf("confirming: %+v", r)
	}
	h, body = ipn("4001", d.ID.String(), "finished", "75.5")
	if r := b.callback(t, "crypto", h, body); r.Outcome != payments.OutcomeCredited {
		t.Fatalf("finished: %+v", r)
	}
	if w := b.wallet(t, client); w != 7550 {
		t.Errorf("wallet %d", w)
	}
	// Refunds of this processor are made by hand: a case resolved as refunded records it without calling out.
	b.verifyLedger(t)
}

func TestAManualDepositAboveTheThresholdWaitsForAnotherFinanceUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	client := b.client(t, clients.StatusKYCApproved)
	recorder, approver := uuid.New(), uuid.New()
	small, err := b.svc.RecordManual(context.Background(), b.ten, recorder, payments.ManualDeposit{ClientID: client, Gateway: "bank",
		Amount: "500.00", Currency: "USD", BankReference: "WIRE-1"})
	if err != nil || small.Status != payments.StatusCompleted {
		t.Fatalf("below the threshold: %+v %v", small, err)
	}
	big, err := b.svc.RecordManual(context.Background(), b.ten, recorder, payments.ManualDeposit{ClientID: client, Gateway: "bank",
		Amount: "25000.00", Currency: "USD", BankReference: "WIRE-2"})
	if err != nil || big.Status != payments.StatusAwaitingApproval {
		t.Fatalf("above the threshold: %+v %v", big, err)
	}
	if w := b.wallet(t, client); w != 50000 {
		t.Errorf("wallet %d before the second approval", w)
	}
	if _, err := b.svc.Approve(context.Background(), b.ten, big.ID, recorder); !errors.Is(err, payments.ErrSameApprover) {
		t.Errorf("the recorder approving: %v", err)
	}
	if d, err := b.svc.Approve(context.Background(), b.ten, big.ID, approver); err != nil || d.Status != payments.StatusCompleted || d.DepositNumber != 2 {
		t.Fatalf("second approval: %+v %v", d, err)
	}
	if w := b.wallet(t, client); w != 50000+2500000 {
		t.Errorf("wallet %d after the second approval", w)
	}
	b.verifyLedger(t)
}

// A storm: 10,000 deliveries of 2,000 distinct events (each a deposit confirmation), shuffled, 64 at a time. Every
// wallet ends equal to the sum of its distinct deposits, nothing is credited twice, and the ledger verifies.
func TestAStormOfShuffledRedeliveriesCreditsEachDepositOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const depositsN, copies = 2000, 5
	clientsN := 100
	var cls []uuid.UUID
	for range clientsN {
		cls = append(cls, b.client(t, clients.StatusKYCApproved))
	}
	type delivery struct {
		h    http.Header
		body []byte
	}
	want := map[uuid.UUID]int64{}
	var deliveries []delivery
	for i := range depositsN {
		c := cls[i%clientsN]
		amount := int64(1000 + i)
		d := b.deposit(t, c, "card", money.Format(amount, usd))
		want[c] += amount
		h, body := stripeEvent(fmt.Sprintf("evt_storm_%d", i), "checkout.session.completed", d.ID.String(), amount, "usd", "paid", b.clock.Now())
		for range copies {
			deliveries = append(deliveries, delivery{h, body})
		}
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, len(deliveries))
	for _, d := range deliveries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A delivery that fails (a serialization conflict under load) is retried, as the processor would.
			for attempt := 0; ; attempt++ {
				_, err := b.svc.HandleCallback(context.Background(), b.ten, "card", d.h, d.body)
				if err == nil {
					return
				}
				if attempt == 10 {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("delivery: %v", err)
	}
	for c, sum := range want {
		if w := b.wallet(t, c); w != sum {
			t.Errorf("client %s: wallet %d, want %d", c, w, sum)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM deposits WHERE status = 'completed'`); n != depositsN {
		t.Errorf("%d completed deposits, want %d", n, depositsN)
	}
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != depositsN {
		t.Errorf("%d callbacks recorded, want %d", n, depositsN)
	}
	b.verifyLedger(t)
}

// Tenant B's webhook URL and ids never touch tenant A's deposits.
func TestAnotherTenantsCallbacksAndIdsDoNotReachThisTenantsDeposits(t *testing.T) {
	t.Parallel()
	a := setup(t)
	other := setup(t)
	client := a.client(t, clients.StatusKYCApproved)
	d := a.deposit(t, client, "card", "40.00")
	// B's gateway signs with the same test secret, so the signature verifies there: the reference still matches
	// nothing of B's.
	h, body := stripeEvent("evt_x", "checkout.session.completed", d.ID.String(), 4000, "usd", "paid", a.clock.Now())
	r, err := other.svc.HandleCallback(context.Background(), other.ten, "card", h, body)
	if err != nil || r.Outcome != payments.OutcomeException {
		t.Fatalf("A's deposit on B's webhook: %+v %v", r, err)
	}
	if got, _ := a.svc.Deposit(context.Background(), a.ten, d.ID); got.Status != payments.StatusPending {
		t.Errorf("A's deposit moved to %s", got.Status)
	}
	if _, err := other.svc.Deposit(context.Background(), other.ten, d.ID); !errors.Is(err, payments.ErrNotFound) {
		t.Errorf("B read A's deposit: %v", err)
	}
	if w := a.wallet(t, client); w != 0 {
		t.Errorf("A's wallet %d", w)
	}
}

// A promo code the client types when starting a deposit is kept as typed on the deposit and carried by
// deposit.completed (the bonus rules that ask one read it there); one that cannot be a code is refused naming the
// field, and nothing is recorded.
func TestAPromoCodeTypedAtDepositTimeTravelsWithTheCompletedDeposit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var completed []payments.DepositCompleted
	events.OnTx(b.hall, "test.promo_codes", func(_ context.Context, _ pgx.Tx, _ tenants.Tenant, _ events.Meta, e payments.DepositCompleted) error {
		completed = append(completed, e)
		return nil
	})
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved)
	for _, bad := range []string{"two words", strings.Repeat("X", 33)} {
		_, err := b.svc.StartDeposit(ctx, b.ten, client, payments.DepositRequest{Gateway: "card", Amount: "500.00", Currency: "USD", PromoCode: bad})
		if v, ok := validation.As(err); !ok || v.Message("promo_code") == "" {
			t.Fatalf("promo code %q: %v, want a refusal naming promo_code", bad, err)
		}
	}
	d, err := b.svc.StartDeposit(ctx, b.ten, client, payments.DepositRequest{Gateway: "card", Amount: "500.00", Currency: "USD", PromoCode: " Spring50 "})
	if err != nil || d.PromoCode != "Spring50" {
		t.Fatalf("deposit with a promo code: %q %v", d.PromoCode, err)
	}
	h, body := stripeEvent("evt_promo", "checkout.session.completed", d.ID.String(), 50000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeCredited {
		t.Fatalf("callback: %+v", r)
	}
	if len(completed) != 1 || completed[0].PromoCode != "Spring50" || completed[0].DepositID != d.ID {
		t.Fatalf("deposit.completed: %+v", completed)
	}
}
