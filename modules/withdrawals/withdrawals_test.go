package withdrawals_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

var toBank = withdrawals.Input{Amount: "10.00", Currency: "USD", Method: "bank", Destination: "GB33BUKB20201555555555"}

// The test: 500 requests at once against a wallet that covers exactly 100 of them. The ledger's check runs
// under the wallet's row lock, so exactly 100 are held; the others are refused with a field error naming amount,
// and the ledger verifies clean.
func TestFiveHundredConcurrentWithdrawalsOnAWalletThatCoversOneHundred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 100*1000)
	var ok, refused, other atomic.Int32
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	start := time.Now()
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := b.svc.Request(context.Background(), b.ten, client, uuid.Nil, toBank)
			v, isField := validation.As(err)
			switch {
			case err == nil:
				ok.Add(1)
			case isField && strings.Contains(v.Message("amount"), "0.00 USD available"):
				refused.Add(1)
			default:
				other.Add(1)
				t.Errorf("request: %v", err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ok.Load() != 100 || refused.Load() != 400 || other.Load() != 0 {
		t.Fatalf("%d accepted, %d refused, %d failed otherwise; want 100 and 400", ok.Load(), refused.Load(), other.Load())
	}
	t.Logf("500 requests on one wallet in %v (%.0f requests/s)", elapsed, 500/elapsed.Seconds())
	w := b.wallet(t, client)
	if w.Posted != 100000 || w.PendingDebits != 100000 || w.Available() != 0 {
		t.Errorf("wallet %+v", w)
	}
	if n := b.count(t, `SELECT count(*) FROM withdrawals WHERE client_id = $1 AND status = 'pending'`, client); n != 100 {
		t.Errorf("%d withdrawals recorded, want 100", n)
	}
	// Over the tier's velocity (3 a day by default): the 4th and later go to compliance, each with its answer.
	if n := b.count(t, `SELECT count(*) FROM withdrawals WHERE client_id = $1 AND flagged`, client); n != 97 {
		t.Errorf("%d flagged for velocity, want 97", n)
	}
	b.verifyLedger(t)
}

func TestARequestHoldsTheAmountAndRecordsEveryCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 50_000)
	w, err := b.svc.Request(context.Background(), b.ten, client, uuid.Nil, withdrawals.Input{Amount: "120.50", Currency: "usd",
		Destination: "GB33BUKB20201555555555"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != withdrawals.StatusPending || w.Amount.Minor != 12050 || w.Method != "bank" || w.Flagged || w.Blocked || w.NeedsSecond {
		t.Errorf("withdrawal %+v", w)
	}
	bal := b.wallet(t, client)
	if bal.Posted != 50_000 || bal.Available() != 50_000-12050 {
		t.Errorf("the hold: posted %d, available %d", bal.Posted, bal.Available())
	}
	var names []string
	for _, c := range w.Checks {
		names = append(names, c.Name+"="+string(c.Outcome))
	}
	want := "kyc=pass documents=pass bonus=pass return_to_source=pass limits=pass velocity=pass trading_after_deposit=pass"
	if strings.Join(names, " ") != want {
		t.Errorf("checks %v, want %s", names, want)
	}
	if len(w.Legs) != 1 || w.Legs[0].Kind != withdrawals.LegBank || w.Legs[0].Amount.Minor != 12050 {
		t.Errorf("legs %+v", w.Legs)
	}
	if !strings.Contains(w.Checks[2].Answer, "no bonus engine is installed") {
		t.Errorf("bonus answer %q", w.Checks[2].Answer)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type LIKE 'publish:%'`); n != 0 {
		t.Logf("%d events published for Later subscribers", n)
	}
}

func TestARefusedRequestHoldsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	approved := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, approved, 2_000_000)
	pending := b.client(t, clients.StatusKYCSubmitted, "")
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		client uuid.UUID
		in     withdrawals.Input
		field  string
	}{
		{"no amount", approved, withdrawals.Input{Currency: "USD", Destination: "x"}, "amount"},
		{"three decimals", approved, withdrawals.Input{Amount: "1.005", Currency: "USD", Destination: "x"}, "amount"},
		{"below the tier's minimum", approved, withdrawals.Input{Amount: "5.00", Currency: "USD", Destination: "x"}, "amount"},
		{"above the tier's maximum", approved, withdrawals.Input{Amount: "50000.01", Currency: "USD", Destination: "x"}, "amount"},
		{"more than the wallet", approved, withdrawals.Input{Amount: "20000.01", Currency: "USD", Destination: "x"}, "amount"},
		{"no such currency", approved, withdrawals.Input{Amount: "10", Currency: "XXX", Destination: "x"}, "currency"},
		{"a method the brokerage does not offer", approved, withdrawals.Input{Amount: "10", Currency: "USD", Method: "paypal", Destination: "x"}, "method"},
		{"no destination for the bank payout", approved, withdrawals.Input{Amount: "10", Currency: "USD"}, "destination"},
	} {
		_, err := b.svc.Request(ctx, b.ten, c.client, uuid.Nil, c.in)
		v, ok := validation.As(err)
		if !ok || v.Message(c.field) == "" {
			t.Errorf("%s: %v, want a field error on %s", c.name, err, c.field)
		}
	}
	if _, err := b.svc.Request(ctx, b.ten, pending, uuid.Nil, toBank); !errors.Is(err, withdrawals.ErrNotAllowed) ||
		!strings.Contains(err.Error(), "being reviewed") {
		t.Errorf("a client whose KYC is in review: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM withdrawals`); n != 0 {
		t.Errorf("%d withdrawals recorded", n)
	}
	if bal := b.wallet(t, approved); bal.PendingDebits != 0 {
		t.Errorf("held %d", bal.PendingDebits)
	}
	b.verifyLedger(t)
}

func TestTheClientCancelsUntilApprovalAndTheHoldIsReleased(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, other := b.client(t, clients.StatusKYCApproved, ""), b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 10_000)
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, toBank)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(ctx, b.ten, other, w.ID); !errors.Is(err, withdrawals.ErrNotFound) {
		t.Errorf("another client's cancel: %v", err)
	}
	got, err := b.svc.Cancel(ctx, b.ten, client, w.ID)
	if err != nil || got.Status != withdrawals.StatusCancelled || got.ResolveTx == nil || got.FinishedAt == nil {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	if bal := b.wallet(t, client); bal.Available() != 10_000 || bal.PendingDebits != 0 {
		t.Errorf("after the cancel: %+v", bal)
	}
	if _, err := b.svc.Cancel(ctx, b.ten, client, w.ID); !errors.Is(err, withdrawals.ErrNotCancellable) {
		t.Errorf("a second cancel: %v", err)
	}
	if got.Legs[0].Status != "voided" {
		t.Errorf("legs after the cancel: %+v", got.Legs)
	}
	b.verifyLedger(t)
}

// Return to source: a client who deposited by card is refunded to that payment first, up to what it paid and what
// earlier withdrawals have not already taken back; the rest goes by bank.
func TestCardDepositsAreRefundedFirstUpToWhatTheyPaid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	d := b.cardDeposit(t, client, "100.00")
	b.fund(t, client, 100_00)
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "150.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Legs) != 2 || w.Legs[0].Kind != withdrawals.LegCardRefund || w.Legs[0].Amount.Minor != 100_00 || w.Legs[0].DepositID != d.ID ||
		w.Legs[0].ExternalID != "pi_"+d.ID.String() || w.Legs[1].Kind != withdrawals.LegBank || w.Legs[1].Amount.Minor != 50_00 {
		t.Fatalf("legs %+v", w.Legs)
	}
	if !strings.Contains(w.Checks[3].Answer, "100.00 USD back to the card") {
		t.Errorf("answer %q", w.Checks[3].Answer)
	}
	// The card's 100.00 is taken: the next withdrawal goes by bank only, until this one is cancelled.
	w2, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "20.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil || len(w2.Legs) != 1 || w2.Legs[0].Kind != withdrawals.LegBank {
		t.Fatalf("second: %+v %v", w2.Legs, err)
	}
	if _, err := b.svc.Cancel(ctx, b.ten, client, w.ID); err != nil {
		t.Fatal(err)
	}
	w3, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "30.00", Currency: "USD"})
	if err != nil || len(w3.Legs) != 1 || w3.Legs[0].Kind != withdrawals.LegCardRefund || w3.Legs[0].Amount.Minor != 30_00 {
		t.Fatalf("after the cancel, all back to the card, no destination needed: %+v %v", w3.Legs, err)
	}
	b.verifyLedger(t)
}

// A withdrawal soon after a deposit, with little trading since, goes to compliance; the lots come from the trading
// desk's deal events (a cancelled deal's lots no longer count).
func TestAWithdrawalAfterADepositWithLittleTradingIsFlaggedForCompliance(t *testing.T) {
	// Not parallel: its worker's relay takes every tenant's outbox rows, so it would run other tests' payouts;
	// serial tests finish (and stop their worker) before the parallel ones start.
	b := setup(t)
	ctx := context.Background()
	b.work(t)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.cardDeposit(t, client, "500.00")
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "100.00", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Flagged || w.Checks[6].Outcome != withdrawals.Review || !strings.Contains(w.Checks[6].Answer, "closed 0 lots since") {
		t.Fatalf("no trading: flagged %v, %+v", w.Flagged, w.Checks[6])
	}
	server := uuid.New()
	deal := func(ticket, lots string) tradingdesk.Deal {
		return tradingdesk.Deal{Ticket: ticket, Action: trading.ActionSell, Entry: trading.EntryOut, Symbol: "EURUSD",
			Volume: decimal.RequireFromString(lots), Time: time.Now().UTC().Truncate(time.Microsecond)}
	}
	acct := tradingdesk.DealAccount{ServerID: server, Login: "700001", ClientID: &client}
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		for _, e := range []any{tradingdesk.DealClosed{DealAccount: acct, Deal: deal("1", "0.70")}, tradingdesk.DealClosed{DealAccount: acct, Deal: deal("2", "0.50")},
			tradingdesk.DealChanged{DealAccount: acct, Change: tradingdesk.DealCancelled, Before: deal("2", "0.50")}} {
			var err error
			switch e := e.(type) {
			case tradingdesk.DealClosed:
				err = b.hall.Publish(ctx, tx, b.ten, e)
			case tradingdesk.DealChanged:
				err = b.hall.Publish(ctx, tx, b.ten, e)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deal events counted", func() bool {
		return b.count(t, `SELECT count(*) FROM event_deliveries WHERE subscriber LIKE 'withdrawals.%'`) == 3
	})
	w, err = b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "10.00", Currency: "USD"})
	if err != nil || !w.Flagged || !strings.Contains(w.Checks[6].Answer, "closed 0.7 lots since") {
		t.Fatalf("0.7 lots (the cancelled 0.5 not counted): %+v %v", w.Checks[6], err)
	}
	b.publishClosed(t, acct, deal("3", "0.40"))
	eventually(t, "the third deal counted", func() bool {
		return b.count(t, `SELECT count(*) FROM withdrawal_trading WHERE client_id = $1`, client) == 3
	})
	w, err = b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "10.00", Currency: "USD"})
	if err != nil || w.Checks[6].Outcome != withdrawals.Pass || !strings.Contains(w.Checks[6].Answer, "Closed 1.1 lots") {
		t.Fatalf("1.1 lots: %+v %v", w.Checks[6], err)
	}
}

func (b *bundle) publishClosed(t *testing.T, acct tradingdesk.DealAccount, d tradingdesk.Deal) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.hall.Publish(ctx, tx, b.ten, tradingdesk.DealClosed{DealAccount: acct, Deal: d})
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAnExpiredDocumentBlocksApprovalUntilReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 10_000)
	doc := func(status, expires string) {
		id := uuid.New()
		b.exec(t, `INSERT INTO documents (id, client_id, type, status, file_name, content_type, size, sha256, blob_key, expires_on, uploaded_by)
			VALUES ($1, $2, 'passport', $3, 'p.pdf', 'application/pdf', 10, sha256(convert_to($5, 'UTF8')), $5, $4::date, 'test')`,
			id, client, status, expires, id.String())
	}
	doc("approved", time.Now().AddDate(0, 0, -3).Format("2006-01-02"))
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, toBank)
	if err != nil || !w.Blocked || w.Checks[1].Outcome != withdrawals.Block || !strings.Contains(w.Checks[1].Answer, "Passport") {
		t.Fatalf("expired passport: %+v %v", w.Checks[1], err)
	}
	doc("approved", time.Now().AddDate(2, 0, 0).Format("2006-01-02"))
	w, err = b.svc.Request(ctx, b.ten, client, uuid.Nil, toBank)
	if err != nil || w.Blocked || w.Checks[1].Outcome != withdrawals.Pass {
		t.Fatalf("replaced passport: %+v %v", w.Checks[1], err)
	}
}

func TestWithdrawalsOfAnotherTenantAreNotFound(t *testing.T) {
	t.Parallel()
	b, other := setup(t), setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 10_000)
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, toBank)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.svc.Get(ctx, other.ten, w.ID, uuid.Nil); !errors.Is(err, withdrawals.ErrNotFound) {
		t.Errorf("another tenant's get: %v", err)
	}
	if _, err := b.svc.Get(ctx, other.ten, w.ID, uuid.Nil); !errors.Is(err, withdrawals.ErrNotFound) {
		t.Errorf("the id through another tenant: %v", err)
	}
	if list, err := b.svc.List(ctx, other.ten, withdrawals.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("another tenant's queue: %d %v", len(list), err)
	}
}
