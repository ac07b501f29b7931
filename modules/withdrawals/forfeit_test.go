package withdrawals_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// postedFromRows is an account's posted balance summed from its ledger rows (not the derived balance rows).
func (b *bundle) postedFromRows(t testing.TB, ten tenants.Tenant, spec ledger.AccountSpec) int64 {
	t.Helper()
	var sum int64
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(sum(p.amount), 0)::bigint FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
			WHERE a.code = $1 AND NOT p.pending`, spec.Code).Scan(&sum)
	}); err != nil {
		t.Fatal(err)
	}
	return sum
}

// openBonus is the client's one bonus.
func (b *bundle) oneBonus(t testing.TB, ten tenants.Tenant, client uuid.UUID) bonuses.Bonus {
	t.Helper()
	bs, err := b.bon.ClientBonuses(context.Background(), ten, client)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bonuses %+v %v", bs, err)
	}
	return bs[0]
}

func TestAWithdrawalThatForfeitsABonusIsRefusedUnconfirmedAndForfeitsItConfirmed(t *testing.T) {
	t.Parallel()
	b := setupWithBonuses(t)
	ctx := context.Background()
	terms := bonuses.Terms{Active: true, Percent: decimal.NewFromInt(50), LotsPerUnit: decimal.RequireFromString("0.5"), ValidDays: 30,
		Forfeit: bonuses.ForfeitProRata}
	if _, err := b.bon.CreateRule(ctx, b.ten, audit.System("test"), "Half of a deposit", "USD", terms); err != nil {
		t.Fatal(err)
	}
	// Another tenant with the same rule, a client with the same bonus and wallet: untouched by what follows.
	other := b.p.NewTenant(t, "")
	if _, err := b.bon.CreateRule(ctx, other, audit.System("test"), "Half of a deposit", "USD", terms); err != nil {
		t.Fatal(err)
	}
	neighbour := uuid.New()
	if err := b.p.Gate.Scope(ctx, other, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, kyc_approved_at)
			VALUES ($1, 'nia@example.com', 'Nia', 'Neighbour', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', now())`, neighbour); err != nil {
			return err
		}
		if _, err := b.led.PostTx(ctx, tx, ledger.Entry{Key: "test-fund:" + uuid.NewString(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -1_000_00}, {Account: ledger.ClientWallet(neighbour, usd), Amount: 1_000_00}}}); err != nil {
			return err
		}
		return b.hall.Publish(ctx, tx, other, payments.DepositCompleted{DepositID: uuid.New(), ClientID: neighbour, Amount: 400_00, Currency: "USD",
			Exponent: 2, DepositNumber: 1, GatewayID: uuid.New(), GatewayKind: "stripe", LedgerTx: uuid.New()})
	}); err != nil {
		t.Fatal(err)
	}

	client := b.client(t, clients.StatusKYCApproved, "")
	b.work(t)
	b.cardDeposit(t, client, "400.00") // deposit.completed: the bonus engine grants 200.00
	b.fund(t, client, 600_00)          // 1,000.00 withdrawable
	eventually(t, "both bonuses granted", func() bool {
		bs, err1 := b.bon.ClientBonuses(ctx, b.ten, client)
		ns, err2 := b.bon.ClientBonuses(ctx, other, neighbour)
		return err1 == nil && err2 == nil && len(bs) == 1 && len(ns) == 1
	})

	// The preview: 250.00 of 1,000.00 is a quarter of the bonus.
	amt, list, err := b.svc.Preview(ctx, b.ten, client, "250.00", "usd")
	if err != nil || amt.Minor != 250_00 || len(list) != 1 || list[0].Amount.Minor != 50_00 || list[0].Full || list[0].Balance.Minor != 1_000_00 {
		t.Fatalf("preview %v %+v %v", amt, list, err)
	}
	if _, _, err := b.svc.Preview(ctx, b.ten, client, "2.505", "USD"); err == nil {
		t.Fatal("a preview of a bad amount answered")
	}

	// Unconfirmed: refused naming the field, the bonus and the amount; nothing held, nothing recorded.
	in := withdrawals.Input{Amount: "250.00", Currency: "USD", Destination: "GB33BUKB20201555555555"}
	_, err = b.svc.Request(ctx, b.ten, client, uuid.Nil, in)
	ve, ok := validation.As(err)
	if !ok || !strings.Contains(ve.Message("forfeit_bonuses"), "50.00 USD of your bonus Half of a deposit, 200.00 USD") ||
		!strings.Contains(ve.Message("forfeit_bonuses"), "cancelled") {
		t.Fatalf("unconfirmed: %v", err)
	}
	if got := b.wallet(t, client).Available(); got != 1_000_00 {
		t.Fatalf("available %d after a refusal", got)
	}
	// More than the wallet has: that is said first, confirmed or not.
	for _, confirm := range []bool{false, true} {
		_, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "1000.01", Currency: "USD", Destination: "GB33BUKB20201555555555",
			ForfeitBonuses: confirm})
		if ve, ok := validation.As(err); !ok || !strings.Contains(ve.Message("amount"), "1,000.00 USD available") {
			t.Fatalf("more than the wallet (confirmed %v): %v", confirm, err)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM withdrawals`); n != 0 {
		t.Fatalf("%d withdrawals recorded", n)
	}

	// Confirmed: held, the check passes with what was given up, and the bonus engine forfeited it in the ledger.
	in.ForfeitBonuses = true
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Checks {
		if c.Name == withdrawals.CheckBonus && (c.Outcome != withdrawals.Pass || !strings.Contains(c.Answer, "confirmed giving up 50.00 USD of the bonus")) {
			t.Fatalf("bonus check %+v", c)
		}
	}
	if got.Blocked {
		t.Fatal("blocked")
	}
	if a := b.wallet(t, client).Available(); a != 750_00 {
		t.Fatalf("available %d, want 75000", a)
	}
	if bonus := b.oneBonus(t, b.ten, client); bonus.Status != "open" || bonus.Amount.Minor != 150_00 || bonus.LotsRequired.StringFixed(2) != "75.00" {
		t.Fatalf("bonus %+v", bonus)
	}
	if got := b.postedFromRows(t, b.ten, ledger.ClientBonus(client, usd)); got != 150_00 {
		t.Fatalf("bonus account %d from the rows, want 15000", got)
	}
	if got := b.postedFromRows(t, b.ten, ledger.BonusLiability(usd)); got != -150_00 {
		t.Fatalf("bonus liability %d from the rows, want -15000", got)
	}
	if n := b.count(t, `SELECT count(*) FROM ledger_transactions WHERE idem_key = $1`, "bonus:"+b.oneBonus(t, b.ten, client).ID.String()+":forfeited:"+w.ID.String()); n != 1 {
		t.Fatalf("%d forfeiture transactions", n)
	}

	// Cancelled afterwards: the hold goes, the forfeiture stands (the client was told).
	if _, err := b.svc.Cancel(ctx, b.ten, client, w.ID); err != nil {
		t.Fatal(err)
	}
	if a := b.wallet(t, client).Available(); a != 1_000_00 {
		t.Fatalf("available %d after the cancel", a)
	}
	if bonus := b.oneBonus(t, b.ten, client); bonus.Amount.Minor != 150_00 {
		t.Fatalf("the cancel gave the bonus back: %+v", bonus)
	}
	b.verifyLedger(t)

	// The other tenant: its client is not ours to withdraw for, its bonus and accounts as they were.
	if _, err := b.svc.Request(ctx, other, client, uuid.Nil, in); !errors.Is(err, withdrawals.ErrNotFound) {
		t.Fatalf("our client in the other tenant: %v", err)
	}
	if _, list, err := b.svc.Preview(ctx, other, client, "250.00", "USD"); err != nil || len(list) != 0 {
		t.Fatalf("our client's bonuses from the other tenant: %+v %v", list, err)
	}
	if nb := b.oneBonus(t, other, neighbour); nb.Status != "open" || nb.Amount.Minor != 200_00 {
		t.Fatalf("the neighbour's bonus %+v", nb)
	}
	if got := b.postedFromRows(t, other, ledger.ClientBonus(neighbour, usd)); got != 200_00 {
		t.Fatalf("the neighbour's bonus account %d", got)
	}
	if got := b.postedFromRows(t, other, ledger.BonusLiability(usd)); got != -200_00 {
		t.Fatalf("the neighbour's bonus liability %d", got)
	}
}
