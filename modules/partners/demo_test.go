package partners

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// The demo's tree: IB-ATLAS > IB-BRAVO > IB-CHARLIE on the Standard IB plan, demo clients at each level; a second
// start changes nothing.
func TestTheDemoTreeIsThreeLevelsWithReferredClientsAndIsSafeToRunAgain(t *testing.T) {
	t.Parallel()
	w := setup(t)
	ctx := context.Background()
	ids := map[string]uuid.UUID{}
	for _, r := range demoReferrals {
		id := uuid.New()
		if err := w.p.Gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier, created_at)
				VALUES ($1, $2, $3, $4, 'GB', '+442079460958', '1990-04-25', 'kyc_approved', 'standard', now() - interval '1 day')`,
				id, clients.DemoEmail(r.first, r.last), r.first, r.last)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ids[r.first] = id
	}
	for range 2 {
		if err := w.svc.demo(ctx, w.ten); err != nil {
			t.Fatal(err)
		}
	}
	list, err := w.svc.Partners(ctx, w.ten, StatusActive)
	if err != nil || len(list) != 3 {
		t.Fatalf("demo partners: %+v %v", list, err)
	}
	charlie, _ := w.svc.partnerByCode(ctx, w.ten, "IB-CHARLIE")
	chain, err := w.svc.Chain(ctx, w.ten, charlie, time.Now())
	if err != nil || len(chain) != 3 {
		t.Errorf("CHARLIE's chain: %v %v", chain, err)
	}
	p, err := w.svc.AttributedTo(ctx, w.ten, ids["Diego"], time.Now())
	if err != nil || p == nil || *p != charlie {
		t.Errorf("Diego is attributed to %v (%v)", p, err)
	}
	w.closed(t, w.account(ids["Diego"], "500002"), closing("1", "XAUUSD", "1", time.Now()), time.Now())
	if got := w.rows(t, CommissionFilter{Ticket: "1", Kind: KindPaid}); len(got) != 3 || got[0].Amount != 1000 || got[2].Amount != 100 {
		t.Errorf("a demo deal pays %+v", got)
	}
}
