package withdrawals_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

var (
	fin1, fin2   = uuid.New(), uuid.New()
	finActor1    = audit.Actor{Kind: audit.ActorStaff, ID: fin1.String()}
	finActor2    = audit.Actor{Kind: audit.ActorStaff, ID: fin2.String()}
	complianceID = uuid.New()
)

func TestWithdrawalNeedsSecondApproverAboveThreshold(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 20_000_00)
	big, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "5000.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil || !big.NeedsSecond {
		t.Fatalf("5,000.00 USD at the default threshold: %+v %v", big, err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, big.ID, ""); err == nil {
		t.Error("an approval without a reason was taken")
	}
	if _, err := b.svc.Approve(ctx, b.ten, audit.System("key"), uuid.Nil, big.ID, "by a key"); !errors.Is(err, withdrawals.ErrPersonRequired) {
		t.Errorf("an approval by an API key: %v", err)
	}
	w, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, big.ID, "Bank account checked.")
	if err != nil || w.Status != withdrawals.StatusPending || w.WaitingFor() != "a second approver" {
		t.Fatalf("first approval: %s %s %v", w.Status, w.WaitingFor(), err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, big.ID, "Again."); !errors.Is(err, withdrawals.ErrSameApprover) {
		t.Fatalf("the same approver twice: %v", err)
	}
	if _, err := b.svc.Cancel(ctx, b.ten, client, big.ID); err != nil {
		t.Logf("the client may still cancel between the two approvals: %v", err)
	}
	big2, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "6000.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, big2.ID, "Checked."); err != nil {
		t.Fatal(err)
	}
	w, err = b.svc.Approve(ctx, b.ten, finActor2, fin2, big2.ID, "Second look: fine.")
	if err != nil || w.Status != withdrawals.StatusApproved || len(w.Approvals()) != 2 || w.WaitingFor() != "the payout" {
		t.Fatalf("second approval: %+v %v", w, err)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1`, withdrawals.TaskPayout); n != 1 {
		t.Errorf("%d payout tasks queued, want 1", n)
	}
	if _, err := b.svc.Cancel(ctx, b.ten, client, big2.ID); !errors.Is(err, withdrawals.ErrNotCancellable) {
		t.Errorf("a cancel after approval: %v", err)
	}
	// A bank payout: the worker has nothing to refund; finance marks it paid with the bank's reference.
	if err := b.svc.RunPayout(ctx, b.ten, big2.ID, false); err != nil {
		t.Fatal(err)
	}
	if w, _ := b.svc.Get(ctx, b.ten, big2.ID, uuid.Nil); w.Status != withdrawals.StatusApproved {
		t.Fatalf("a bank payout waits for finance: %s", w.Status)
	}
	w, err = b.svc.MarkPaid(ctx, b.ten, finActor2, fin2, big2.ID, "BARC-000481")
	if err != nil || w.Status != withdrawals.StatusPaid || w.Legs[0].Reference != "BARC-000481" || w.PaidAmount != 6000_00 {
		t.Fatalf("marked paid: %+v %v", w, err)
	}
	if _, err := b.svc.MarkPaid(ctx, b.ten, finActor2, fin2, big2.ID, "AGAIN"); !errors.Is(err, withdrawals.ErrNotPending) {
		t.Errorf("paid twice: %v", err)
	}
	bal := b.wallet(t, client)
	if bal.Posted != 20_000_00-6000_00 {
		t.Errorf("posted %d after the payout", bal.Posted)
	}
	b.verifyLedger(t)
}

func TestAFlaggedWithdrawalNeedsComplianceBeforeFinance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.cardDeposit(t, client, "500.00") // a deposit today, no trading: the withdrawal is flagged
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "100.00", Currency: "USD"})
	if err != nil || !w.Flagged || w.WaitingFor() != "compliance" {
		t.Fatalf("flagged: %+v %v", w, err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); !errors.Is(err, withdrawals.ErrComplianceFirst) {
		t.Fatalf("finance before compliance: %v", err)
	}
	compliance := audit.Actor{Kind: audit.ActorStaff, ID: complianceID.String()}
	if w, err = b.svc.Review(ctx, b.ten, compliance, complianceID, w.ID, true, "Source of funds: salary."); err != nil || w.WaitingFor() != "finance" {
		t.Fatalf("cleared: %+v %v", w, err)
	}
	if _, err := b.svc.Review(ctx, b.ten, compliance, complianceID, w.ID, true, "Again."); !errors.Is(err, withdrawals.ErrNotFlagged) {
		t.Errorf("cleared twice: %v", err)
	}
	if w, err = b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Compliance cleared it."); err != nil || w.Status != withdrawals.StatusApproved {
		t.Fatalf("approved after compliance: %+v %v", w, err)
	}
	// Paid back to the card through Stripe (stripe-mock): the refund is the leg's reference and the hold is posted.
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err != nil {
		t.Fatal(err)
	}
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusPaid || !strings.HasPrefix(w.Legs[0].Reference, "re_") || w.ResolveTx == nil {
		t.Fatalf("paid by a card refund: %s %+v", w.Status, w.Legs)
	}
	if bal := b.wallet(t, client); bal.Posted != 400_00 || bal.PendingDebits != 0 {
		t.Errorf("wallet after the refund: %+v", bal)
	}
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err != nil {
		t.Errorf("a second run: %v", err)
	}
	// Compliance refuses another: the hold is released.
	w2, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "50.00", Currency: "USD"})
	if err != nil || !w2.Flagged {
		t.Fatalf("second: %+v %v", w2, err)
	}
	if w2, err = b.svc.Review(ctx, b.ten, compliance, complianceID, w2.ID, false, "Deposit and withdraw without trading."); err != nil ||
		w2.Status != withdrawals.StatusRejected || w2.Reason != "Deposit and withdraw without trading." {
		t.Fatalf("refused by compliance: %+v %v", w2, err)
	}
	if bal := b.wallet(t, client); bal.Available() != 400_00 {
		t.Errorf("available after the refusal: %d", bal.Available())
	}
	b.verifyLedger(t)
}

// A card refund the processor refuses fails the withdrawal: the card legs paid before it are posted from the hold,
// the rest released.
func TestARefusedCardRefundFailsTheWithdrawalAndReleasesTheRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.exec(t, `INSERT INTO settings (key, value) VALUES ('withdrawals', '{"flag_days": 0, "tiers": {"*": {"daily_count": 0, "amounts": {}}}}')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	b.cardDeposit(t, client, "60.00")
	b.cardDeposit(t, client, "70.00")
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "100.00", Currency: "USD"})
	if err != nil || len(w.Legs) != 2 || w.Flagged {
		t.Fatalf("two card legs: %+v %v", w, err)
	}
	// The second card's payment id is one Stripe refuses (not a PaymentIntent): the adapter says no.
	b.exec(t, `UPDATE withdrawal_legs SET external_id = 'ch_refused' WHERE withdrawal_id = $1 AND position = 2`, w.ID)
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err != nil {
		t.Fatal(err)
	}
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusFailed || w.PaidAmount != 60_00 || w.Legs[0].Status != "paid" || w.Legs[1].Status != "failed" ||
		!strings.Contains(w.Failure, "card refund did not go through") {
		t.Fatalf("failed in part: %s paid %d legs %+v failure %q", w.Status, w.PaidAmount, w.Legs, w.Failure)
	}
	if bal := b.wallet(t, client); bal.Posted != 130_00-60_00 || bal.PendingDebits != 0 {
		t.Errorf("wallet: %+v", bal)
	}
	b.verifyLedger(t)
}

func TestAWithdrawalNobodyDecidesExpiresAndItsHoldIsReleased(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 100_00)
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, toBank)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.svc.Expire(ctx, b.ten); err != nil || n != 0 {
		t.Fatalf("nothing due: %d %v", n, err)
	}
	b.exec(t, `UPDATE withdrawals SET expires_at = now() - interval '1 minute' WHERE id = $1`, w.ID)
	if n, err := b.svc.Expire(ctx, b.ten); err != nil || n != 1 {
		t.Fatalf("expired: %d %v", n, err)
	}
	if w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil); w.Status != withdrawals.StatusExpired {
		t.Errorf("status %s", w.Status)
	}
	if bal := b.wallet(t, client); bal.Available() != 100_00 {
		t.Errorf("available %d", bal.Available())
	}
	b.verifyLedger(t)
}

// The worker pays: the last approval queues the payout in its transaction, the relay hands it to Asynq, and the
// worker refunds the card through Stripe (stripe-mock) and posts the hold.
func TestTheWorkerPaysAnApprovedWithdrawalBackToTheCard(t *testing.T) {
	// Not parallel: its worker's relay takes every tenant's outbox rows, so it would run other tests' payouts;
	// serial tests finish (and stop their worker) before the parallel ones start.
	b := setup(t)
	ctx := context.Background()
	b.work(t)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.exec(t, `INSERT INTO settings (key, value) VALUES ('withdrawals', '{"flag_days": 0}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	b.cardDeposit(t, client, "80.00")
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "80.00", Currency: "USD"})
	if err != nil || w.Flagged {
		t.Fatalf("request: %+v %v", w, err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the worker's payout", func() bool {
		got, err := b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
		return err == nil && got.Status == withdrawals.StatusPaid
	})
	if bal := b.wallet(t, client); bal.Posted != 0 || bal.PendingDebits != 0 {
		t.Errorf("wallet after the payout: %+v", bal)
	}
	b.verifyLedger(t)
}
