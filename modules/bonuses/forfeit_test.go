package bonuses

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

func TestForfeitureProRataExactToTheMinorUnit(t *testing.T) {
	t.Parallel()
	full, proRata, legacy := Terms{Forfeit: ForfeitFull}, Terms{Forfeit: ForfeitProRata}, Terms{}
	for _, tc := range []struct {
		name                     string
		r                        Terms
		open, withdrawn, balance int64
		want                     int64
	}{
		{"full: any withdrawal takes it all", full, 120_00, 1, 1_500_00, 120_00},
		{"a version made before the term forfeits in full", legacy, 120_00, 1, 1_500_00, 120_00},
		{"pro rata: a fifth of the balance takes a fifth", proRata, 120_00, 300_00, 1_500_00, 24_00},
		{"pro rata: a half", proRata, 200_00, 100_00, 200_00, 100_00},
		{"a share that falls between cents rounds up", proRata, 100_00, 1, 3, 33_34},
		{"a share that lands on a cent does not", proRata, 99_99, 1, 3, 33_33},
		{"the whole balance takes the whole bonus", proRata, 120_00, 1_500_00, 1_500_00, 120_00},
		{"more than the balance takes the whole bonus", proRata, 120_00, 1_500_01, 1_500_00, 120_00},
		{"a cent of a million takes a cent of a bonus", proRata, 100_00, 1, 1_000_000_00, 1},
		{"a cent of a million of a one-cent bonus takes it", proRata, 1, 1, 1_000_000_00, 1},
		{"a cent short of the whole balance rounds up to all of it", proRata, 120_00, 1_499_99, 1_500_00, 120_00},
		{"ten dollars short leaves the share's floor", proRata, 120_00, 1_490_00, 1_500_00, 119_20},
		{"a currency without decimals (JPY) rounds up to the yen", proRata, 6172, 2500, 12345, 1250},
		{"JPY, exact", proRata, 6000, 2000, 12000, 1000},
		{"large amounts do not overflow", proRata, 100_000_000_000_000, 900_000_000_000_000, 1_000_000_000_000_000, 90_000_000_000_000},
		{"an empty wallet: the whole bonus", proRata, 120_00, 10_00, 0, 120_00},
		{"nothing open, nothing taken", proRata, 0, 10_00, 100_00, 0},
		{"nothing withdrawn, nothing taken", full, 120_00, 0, 100_00, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Forfeits(tc.open, tc.withdrawn, tc.balance); got != tc.want {
				t.Fatalf("Forfeits(%d, %d, %d) = %d, want %d", tc.open, tc.withdrawn, tc.balance, got, tc.want)
			}
		})
	}
	// Splitting a withdrawal never forfeits less than taking it at once (rounding up is what makes it so).
	for _, split := range [][]int64{{1, 1, 1}, {333_33, 333_33, 333_34}, {7, 500_00, 1}, {1_23, 4_56, 7_89, 10_11}} {
		open, balance, whole := int64(100_00), int64(1_000_00), int64(0)
		for _, w := range split {
			whole += w
		}
		once := proRata.Forfeits(open, whole, balance)
		taken := int64(0)
		for _, w := range split {
			f := proRata.Forfeits(open-taken, w, balance)
			taken, balance = taken+f, balance-w
		}
		if taken < once {
			t.Errorf("split %v forfeits %d, at once %d", split, taken, once)
		}
	}
}

func TestForfeitTermValidates(t *testing.T) {
	t.Parallel()
	r := secondDeposit()
	r.Forfeit = "half"
	if ve, ok := validation.As(r.Validate(usd)); !ok || ve.Message("forfeit") == "" {
		t.Fatalf("a term that is not one: %v", r.Validate(usd))
	}
	for in, want := range map[string]string{"": ForfeitFull, ForfeitFull: ForfeitFull, ForfeitProRata: ForfeitProRata} {
		r := secondDeposit()
		r.Forfeit = in
		if err := r.Validate(usd); err != nil || r.Forfeit != want || r.ForfeitRule() != want {
			t.Fatalf("%q: %v, %q", in, err, r.Forfeit)
		}
	}
}

// fundWallet credits the client's wallet in the ledger (as a deposit would).
func (w *world) fundWallet(t testing.TB, client uuid.UUID, minor int64) {
	t.Helper()
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := w.led.PostTx(ctx, tx, ledger.Entry{Key: "test-fund:" + uuid.NewString(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -minor}, {Account: ledger.ClientWallet(client, usd), Amount: minor}}})
		return err
	})
}

// withdraw asks what withdrawing minor forfeits and books it as the withdrawals room does when the client confirms,
// in one transaction; the same withdrawal again when id is given (a redelivery).
func (w *world) withdraw(t testing.TB, client uuid.UUID, minor int64, id uuid.UUID) []withdrawals.Forfeit {
	t.Helper()
	var list []withdrawals.Forfeit
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if list, err = w.svc.ForfeitsTx(ctx, tx, client, money.Amount{Minor: minor, Currency: usd}); err != nil || len(list) == 0 {
			return err
		}
		e := withdrawals.ForfeitConfirmed{WithdrawalID: id, ClientID: client, Amount: minor, Balance: list[0].Balance.Minor, Currency: "USD", Exponent: 2}
		for _, f := range list {
			e.Bonuses = append(e.Bonuses, withdrawals.ForfeitedBonus{BonusID: f.Bonus.ID, Amount: f.Amount.Minor})
		}
		return w.svc.onForfeitConfirmed(ctx, tx, w.ten, meta(w.clock()), e)
	})
	return list
}

func TestAConfirmedWithdrawalForfeitsProRataOnceAndWhatIsLeftAsksLessTurnover(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.DepositNumber, terms.Forfeit = 0, ForfeitProRata // 50% up to 500.00, 0.5 lots a dollar
	w.rule(t, "Half, pro rata", terms)
	w.advance(time.Second)
	ann := w.client(t, "Ann", "GB", "standard")
	w.deposit(t, ann, 1, 400_00) // a bonus of 200.00, 100 lots
	w.fundWallet(t, ann, 1_000_00)

	// 250.00 of 1,000.00 withdrawable: a quarter of the bonus.
	first := uuid.New()
	list := w.withdraw(t, ann, 250_00, first)
	if len(list) != 1 || list[0].Amount.Minor != 50_00 || list[0].Full || list[0].Balance.Minor != 1_000_00 || !strings.Contains(list[0].Why, "pro rata") {
		t.Fatalf("forfeits %+v", list)
	}
	w.withdraw(t, ann, 250_00, first) // delivered again: nothing twice (the ledger's key, the forfeiture's row)
	bs := w.bonuses(t, ann)
	if len(bs) != 1 || bs[0].Status != "open" || bs[0].Amount.Minor != 150_00 || bs[0].LotsRequired.StringFixed(2) != "75.00" {
		t.Fatalf("after a quarter: %+v", bs)
	}
	if r := ToBonusResponse(bs[0]); r.Amount != "150.00" || r.Forfeited != "50.00" || r.CreditTo != "bonus_balance" || r.CreditLogin != "" {
		t.Errorf("the API's bonus after a quarter: %+v", r)
	}
	if why := toRow(bs[0]).Why; !strings.Contains(why, "50.00 USD of it was forfeited by withdrawals") {
		t.Errorf("the pages say %q", why)
	}
	if got := w.balance(t, ledger.ClientBonus(ann, usd)); got != 150_00 {
		t.Errorf("bonus account %d, want 15000", got)
	}
	if got := w.balance(t, ledger.BonusLiability(usd)); got != -150_00 {
		t.Errorf("bonus liability %d, want -15000", got)
	}
	says := w.sentences(t, ann)
	if !strings.Contains(says[0], " forfeited 50.00 USD of Ann Trader's bonus of 200.00 USD (Half, pro rata): the client withdrew 250.00 USD of 1,000.00 USD withdrawable") ||
		!strings.Contains(says[0], "150.00 USD stays open, released after 75.00 lots") {
		t.Fatalf("sentence %q", says[0])
	}

	// What is left asks 75 lots; 80 were traded already: it is released with the forfeiture.
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE bonuses SET lots_done = 80 WHERE client_id = $1`, ann)
		return err
	})
	w.withdraw(t, ann, 75_00, uuid.New()) // 75.00 of 1,000.00: 11.25 of 150.00; 138.75 asks 69.38 lots
	bs = w.bonuses(t, ann)
	if bs[0].Status != "released" || bs[0].Amount.Minor != 138_75 {
		t.Fatalf("after the tenth: %+v", bs[0])
	}
	if got := w.balance(t, ledger.ClientBonus(ann, usd)); got != 0 {
		t.Errorf("bonus account %d, want 0", got)
	}
	if got := w.balance(t, ledger.ClientWallet(ann, usd)); got != 1_000_00+138_75 {
		t.Errorf("wallet %d: the release did not reach it", got)
	}
	var granted int64
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT amount + forfeited FROM bonuses WHERE client_id = $1`, ann).Scan(&granted)
	})
	if granted != 200_00 {
		t.Errorf("amount + forfeited = %d, want what was granted", granted)
	}
}

func TestAWithdrawalOfTheWholeBalanceForfeitsTheBonusInFull(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.DepositNumber, terms.Forfeit = 0, ForfeitProRata
	w.rule(t, "Half, pro rata", terms)
	w.advance(time.Second)
	bea := w.client(t, "Bea", "GB", "standard")
	w.deposit(t, bea, 1, 120_00) // 60.00
	w.fundWallet(t, bea, 300_00)
	id := uuid.New()
	if list := w.withdraw(t, bea, 300_00, id); len(list) != 1 || !list[0].Full || list[0].Amount.Minor != 60_00 {
		t.Fatalf("forfeits %+v", list)
	}
	if bs := w.bonuses(t, bea); bs[0].Status != "forfeited" {
		t.Fatalf("bonus %+v", bs[0])
	}
	if got := w.balance(t, ledger.ClientBonus(bea, usd)); got != 0 {
		t.Errorf("bonus account %d", got)
	}
	if got := w.balance(t, ledger.BonusLiability(usd)); got != 0 {
		t.Errorf("bonus liability %d", got)
	}
	if list := w.withdraw(t, bea, 10_00, uuid.New()); len(list) != 0 {
		t.Fatalf("a forfeited bonus forfeits again: %+v", list)
	}
	if says := w.sentences(t, bea); !strings.Contains(says[0], " forfeited Bea Trader's bonus of 60.00 USD (Half, pro rata) in full: the client withdrew 300.00 USD of 300.00 USD withdrawable") {
		t.Fatalf("sentence %q", says[0])
	}
	var key string
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT t.idem_key FROM ledger_transactions t JOIN bonus_forfeitures f ON f.ledger_tx = t.id WHERE f.withdrawal_id = $1`, id).Scan(&key)
	})
	if !strings.HasSuffix(key, ":forfeited") {
		t.Fatalf("ledger key %q", key)
	}
}
