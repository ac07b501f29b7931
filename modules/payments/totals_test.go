package payments_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// DepositTotals sums completed deposits only, per client and currency, for the clients asked about; another
// tenant's clients have none here.
func TestDepositTotalsSumCompletedDepositsPerClientAndCurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	ann, bob, cid := b.client(t, clients.StatusKYCApproved), b.client(t, clients.StatusKYCApproved), b.client(t, clients.StatusKYCApproved)
	for i, d := range []struct {
		client uuid.UUID
		amount string
	}{{ann, "10.00"}, {ann, "15.50"}, {bob, "7.25"}} {
		if _, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: d.client, Gateway: "bank", Amount: d.amount,
			Currency: "USD", BankReference: "WIRE-T" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.svc.DepositTotals(ctx, b.ten, []uuid.UUID{ann, bob, cid})
	if err != nil || len(got) != 2 || got[ann]["USD"] != 2550 || got[bob]["USD"] != 725 {
		t.Errorf("totals: %v %v", got, err)
	}
	other := b.p.NewTenant(t, "")
	if got, err := b.svc.DepositTotals(ctx, other, []uuid.UUID{ann, bob}); err != nil || len(got) != 0 {
		t.Errorf("another tenant's totals: %v %v", got, err)
	}
}
