package clients_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// insertClient adds a client in status st straight into the table (approved once when approved is true), for tests
// that start a client somewhere in the lifecycle.
func insertClient(tb testing.TB, p *tenanttest.Platform, ten tenants.Tenant, st clients.Status, approved bool) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status, kyc_approved_at)
			VALUES ($1, $2, 'Test', 'Client', 'DE', $3, CASE WHEN $4 THEN now() END)`, id, id.String()+"@clients.test", string(st), approved)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func transition(svc *clients.Service, p *tenanttest.Platform, ten tenants.Tenant, id uuid.UUID, to clients.Status, reason string, actor audit.Actor) error {
	return p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return svc.TransitionTx(ctx, tx, ten, id, to, reason, actor)
	})
}

func TestTransitionsInTheTableMoveTheClientWriteHistoryAndAudit(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	trail := audit.NewService(p.Gate)
	svc := clients.NewService(clients.Options{Gate: p.Gate, Audit: trail})
	ctx := context.Background()
	officer := audit.Actor{Kind: audit.ActorStaff, ID: uuid.NewString()}
	for _, tr := range clients.Transitions {
		id := insertClient(t, p, ten, tr.From, tr.To == clients.StatusKYCApproved)
		reason := fmt.Sprintf("test: %s to %s", tr.From, tr.To)
		if err := transition(svc, p, ten, id, tr.To, reason, officer); err != nil {
			t.Errorf("%s -> %s: %v", tr.From, tr.To, err)
			continue
		}
		c, err := svc.Get(ctx, ten, id)
		if err != nil || c.Status != tr.To {
			t.Errorf("%s -> %s: now %s (%v)", tr.From, tr.To, c.Status, err)
		}
		hist, err := svc.History(ctx, ten, id)
		if err != nil || len(hist) != 1 || hist[0].From != tr.From || hist[0].To != tr.To || hist[0].Reason != reason || hist[0].Actor != officer {
			t.Errorf("%s -> %s: history %+v (%v)", tr.From, tr.To, hist, err)
		}
		page, err := trail.List(ctx, ten, audit.Filter{TargetType: "client", TargetID: id.String()}, "", 10)
		if err != nil || len(page.Rows) != 1 || page.Rows[0].Action != clients.ActionStatusChanged || page.Rows[0].Actor != officer {
			t.Fatalf("%s -> %s: audit %+v (%v)", tr.From, tr.To, page.Rows, err)
		}
		var diff map[string]json.RawMessage
		if err := json.Unmarshal(page.Rows[0].Diff, &diff); err != nil || len(diff) == 0 {
			t.Errorf("%s -> %s: audit diff %s", tr.From, tr.To, page.Rows[0].Diff)
		}
		if tr.To == clients.StatusKYCApproved && c.KYCApprovedAt == nil {
			t.Errorf("%s -> kyc_approved left no approval time", tr.From)
		}
	}
}

func TestTransitionsOutsideTheTableAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	trail := audit.NewService(p.Gate)
	svc := clients.NewService(clients.Options{Gate: p.Gate, Audit: trail})
	ctx := context.Background()
	refused := 0
	for _, from := range clients.Statuses {
		for _, to := range clients.Statuses {
			if clients.CanMove(from, to) {
				continue
			}
			refused++
			id := insertClient(t, p, ten, from, true)
			err := transition(svc, p, ten, id, to, "an attempt", audit.System("test"))
			var te *clients.TransitionError
			if !errors.As(err, &te) || te.From != from || te.To != to {
				t.Errorf("%s -> %s: %v, want a TransitionError", from, to, err)
			}
			if c, _ := svc.Get(ctx, ten, id); c.Status != from {
				t.Errorf("%s -> %s: the client moved to %s", from, to, c.Status)
			}
			if hist, _ := svc.History(ctx, ten, id); len(hist) != 0 {
				t.Errorf("%s -> %s: history written: %+v", from, to, hist)
			}
		}
	}
	if refused < 40 {
		t.Errorf("only %d refused pairs: the table allows too much", refused)
	}
	page, err := trail.List(ctx, ten, audit.Filter{ActionPrefix: clients.ActionStatusChanged}, "", 10)
	if err != nil || len(page.Rows) != 0 {
		t.Errorf("refused changes were audited: %d rows (%v)", len(page.Rows), err)
	}
}

func TestTransitionNeedsAReasonAndReinstatingToApprovedNeedsAnEarlierApproval(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	id := insertClient(t, p, ten, clients.StatusKYCApproved, true)
	for _, reason := range []string{"", "   ", string(make([]byte, clients.MaxReasonLen+1))} {
		if err := transition(svc, p, ten, id, clients.StatusSuspended, reason, audit.System("test")); !errors.Is(err, clients.ErrReasonRequired) {
			t.Errorf("reason %q: %v, want ErrReasonRequired", reason, err)
		}
	}
	never := insertClient(t, p, ten, clients.StatusSuspended, false)
	var te *clients.TransitionError
	if err := transition(svc, p, ten, never, clients.StatusKYCApproved, "cleared", audit.System("test")); !errors.As(err, &te) {
		t.Errorf("suspended, never approved -> kyc_approved: %v, want a TransitionError", err)
	}
	if err := transition(svc, p, ten, uuid.New(), clients.StatusSuspended, "x", audit.System("test")); !errors.Is(err, clients.ErrNotFound) {
		t.Errorf("unknown client: %v, want ErrNotFound", err)
	}
}

func TestReinstatingASuspendedClientReturnsToTheStatusBeforeTheSuspension(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	ctx := context.Background()
	id := insertClient(t, p, ten, clients.StatusKYCSubmitted, false)
	if err := transition(svc, p, ten, id, clients.StatusSuspended, "investigation", audit.System("test")); err != nil {
		t.Fatal(err)
	}
	err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		c, err := svc.GetTx(ctx, tx, id)
		if err != nil {
			return err
		}
		to, ok, err := svc.ReinstateTarget(ctx, tx, c)
		if err != nil || !ok || to != clients.StatusKYCSubmitted {
			return fmt.Errorf("reinstate target %s %v %v, want kyc_submitted", to, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTwoTransitionsAtOnceSerialiseOnTheClient(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	id := insertClient(t, p, ten, clients.StatusKYCSubmitted, false)
	errs := make(chan error, 2)
	for _, to := range []clients.Status{clients.StatusKYCApproved, clients.StatusKYCRejected} {
		go func() { errs <- transition(svc, p, ten, id, to, "decision", audit.System("test")) }()
	}
	var failed int
	for range 2 {
		var te *clients.TransitionError
		if err := <-errs; errors.As(err, &te) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	hist, _ := svc.History(context.Background(), ten, id)
	if failed != 1 || len(hist) != 1 {
		t.Errorf("two decisions at once: %d refused, %d history rows; want exactly one of each", failed, len(hist))
	}
}

func TestReopeningAClosedClientStartsKYCAgain(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	ctx := context.Background()
	id := insertClient(t, p, ten, clients.StatusKYCApproved, true)
	if err := transition(svc, p, ten, id, clients.StatusClosed, "the client asked to close", audit.System("test")); err != nil {
		t.Fatal(err)
	}
	c, err := svc.ChangeStatus(ctx, ten, clients.Viewer{}, id, "reinstate", "the client came back", audit.System("test"))
	if err != nil || c.Status != clients.StatusEmailVerified {
		t.Fatalf("reopen: %+v %v", c, err)
	}
	if got, _ := svc.Get(ctx, ten, id); got.KYCApprovedAt != nil {
		t.Error("a reopened client keeps the old KYC approval")
	}
	if d, _ := svc.May(ctx, ten, id, clients.ActionDeposit); d.Allowed {
		t.Error("a reopened client may deposit before a new KYC approval")
	}
	if _, err := svc.ChangeStatus(ctx, ten, clients.Viewer{}, id, "reinstate", "again", audit.System("test")); err == nil {
		t.Error("reinstating an email_verified client was accepted")
	}
}

func TestAnErasedClientCannotBeReopenedOrMovedAtAll(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	ctx := context.Background()
	id := insertClient(t, p, ten, clients.StatusKYCApproved, true)
	if err := transition(svc, p, ten, id, clients.StatusClosed, "the client asked to close", audit.System("test")); err != nil {
		t.Fatal(err)
	}
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error { return svc.EraseTx(ctx, tx, id) }); err != nil {
		t.Fatal(err)
	}
	err := transition(svc, p, ten, id, clients.StatusEmailVerified, "the person came back", audit.System("test"))
	var te *clients.TransitionError
	if !errors.As(err, &te) || !te.Erased || te.From != clients.StatusClosed || te.To != clients.StatusEmailVerified ||
		!strings.Contains(err.Error(), "personal data was erased; a returning person registers anew") {
		t.Fatalf("closed -> email_verified of an erased client: %v, want an erased TransitionError", err)
	}
	if _, err := svc.ChangeStatus(ctx, ten, clients.Viewer{}, id, "reinstate", "the person came back", audit.System("test")); !errors.As(err, &te) || !te.Erased {
		t.Errorf("reinstating an erased client: %v, want an erased TransitionError", err)
	}
	// An erased client who was never verified (erasure allows it) is refused every change too, even one the table allows.
	fresh := insertClient(t, p, ten, clients.StatusRegistered, false)
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error { return svc.EraseTx(ctx, tx, fresh) }); err != nil {
		t.Fatal(err)
	}
	if err := transition(svc, p, ten, fresh, clients.StatusClosed, "tidy up", audit.System("test")); !errors.As(err, &te) || !te.Erased {
		t.Errorf("registered -> closed of an erased client: %v, want an erased TransitionError", err)
	}
	c, err := svc.Get(ctx, ten, id)
	if err != nil || c.Status != clients.StatusClosed || c.ErasedAt == nil {
		t.Errorf("after the refusals the client is %s, erased at %v (%v); want closed and erased", c.Status, c.ErasedAt, err)
	}
	if hist, _ := svc.History(ctx, ten, id); len(hist) != 1 {
		t.Errorf("history rows: %d, want only the closing", len(hist))
	}
	d, err := svc.Detail(ctx, ten, clients.Viewer{}, id)
	if err != nil || d.Reinstate != "" {
		t.Errorf("the client page would offer reinstating to %q (%v)", d.Reinstate, err)
	}
}
