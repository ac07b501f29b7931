package simulator

import (
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

type demoLogins struct {
	traders  []string // funded, trading enabled
	disabled string   // funded, trading disabled
	unfunded string
}

func demoBrokerage(t *testing.T, seed uint64) (*Simulator, demoLogins) {
	t.Helper()
	opts := testOptions()
	opts.Now = stepClock(time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC))
	s, _ := openTest(t, opts)
	ctx := t.Context()
	var l demoLogins
	open := func(group string, leverage int, deposit string) string {
		a, err := s.CreateAccount(ctx, trading.NewAccount{Group: group, Leverage: leverage, Password: "Tr4de!Desk"})
		if err != nil {
			t.Fatal(err)
		}
		if deposit != "" {
			if _, err := s.BalanceOperation(ctx, trading.BalanceOp{
				Login: a.Login, Kind: trading.Deposit, Amount: d(deposit), OperationID: "demo-" + a.Login,
			}); err != nil {
				t.Fatal(err)
			}
		}
		return a.Login
	}
	l.traders = []string{
		open("standard-usd", 500, "25000"),
		open("pro-usd", 200, "10000"),
		open("standard-eur", 100, "8000.50"),
		open("standard-usd-swapfree", 100, "3000"),
	}
	l.disabled = open("standard-usd", 100, "10000")
	if err := s.SetAccess(ctx, l.disabled, trading.Access{LoginEnabled: true, TradingEnabled: false}); err != nil {
		t.Fatal(err)
	}
	l.unfunded = open("standard-usd", 100, "")
	if err := s.RunActivity(ctx, ActivityOptions{Seed: seed, Ticks: 400}); err != nil {
		t.Fatalf("RunActivity: %v", err)
	}
	return s, l
}

func TestActivityProducesDealsWithVolumeAndCommission(t *testing.T) {
	t.Parallel()
	s, l := demoBrokerage(t, 42)
	var outs int
	commission := decimal.Zero
	for _, login := range l.traders {
		trades := 0
		for _, dl := range allDeals(t, s, login) {
			if dl.Action != trading.ActionBuy && dl.Action != trading.ActionSell {
				continue
			}
			trades++
			if !dl.Volume.IsPositive() {
				t.Fatalf("trade deal %s has volume %s", dl.Ticket, dl.Volume)
			}
			if dl.Entry == trading.EntryOut {
				outs++
			}
			commission = commission.Add(dl.Commission)
		}
		if trades == 0 {
			t.Errorf("funded account %s made no trades in 400 ticks", login)
		}
	}
	t.Logf("400 ticks: %d closed positions, commission %s", outs, commission)
	if outs == 0 || !commission.IsNegative() {
		t.Fatalf("activity closed %d positions and charged %s commission; want closed deals and a charge", outs, commission)
	}
	for _, login := range []string{l.disabled, l.unfunded} {
		for _, dl := range allDeals(t, s, login) {
			if dl.Action == trading.ActionBuy || dl.Action == trading.ActionSell {
				t.Fatalf("account %s (disabled or unfunded) traded: %+v", login, dl)
			}
		}
	}
}

func TestBalanceIsTheSumOfBalanceDealsAndRealisedResults(t *testing.T) {
	t.Parallel()
	s, l := demoBrokerage(t, 7)
	for _, login := range append(l.traders, l.disabled, l.unfunded) {
		sum := decimal.Zero
		for _, dl := range allDeals(t, s, login) {
			// A balance deal's Profit is the signed amount; a trade deal's Profit, Commission and Swap are realised.
			if dl.Action == trading.ActionCredit {
				continue
			}
			sum = sum.Add(dl.Profit).Add(dl.Commission).Add(dl.Swap)
		}
		a, err := s.Account(t.Context(), login)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Balance.Equal(sum) {
			t.Fatalf("account %s balance %s, but its deals add up to %s", login, a.Balance, sum)
		}
		if !a.Balance.IsPositive() && login != l.unfunded {
			t.Fatalf("account %s ended with balance %s: the demo traders should not blow up in 400 ticks", login, a.Balance)
		}
	}
}

func TestActivityIsRepeatableForASeed(t *testing.T) {
	t.Parallel()
	s1, l1 := demoBrokerage(t, 99)
	s2, l2 := demoBrokerage(t, 99)
	s3, l3 := demoBrokerage(t, 100)
	f1 := fingerprint(t, s1, l1.traders...)
	if f2 := fingerprint(t, s2, l2.traders...); f2 != f1 {
		t.Fatalf("same seed, different outcome:\n%s\nvs\n%s", f1, f2)
	}
	if f3 := fingerprint(t, s3, l3.traders...); f3 == f1 {
		t.Fatalf("a different seed gave the very same deals; the seed is not used")
	}
}

func TestActivityStopsWhenContextIsDone(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, testOptions())
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- s.RunActivity(ctx, ActivityOptions{Seed: 1, Interval: time.Millisecond}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunActivity after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("RunActivity did not return within 10s of its context being cancelled")
	}
}

func TestActivityAndManagerCallsRunConcurrentlyWithoutLosingMoney(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, testOptions())
	ctx := t.Context()
	var logins []string
	for range 3 {
		a, err := s.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk"})
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, a.Login)
		if _, err := s.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: d("5000"), OperationID: "seed-" + a.Login}); err != nil {
			t.Fatal(err)
		}
	}
	activity := make(chan error, 1)
	go func() { activity <- s.RunActivity(ctx, ActivityOptions{Seed: 3, Ticks: 300}) }()
	const deposits = 30
	errs := make(chan error, deposits)
	for i := range deposits {
		go func() {
			login := logins[i%len(logins)]
			_, err := s.BalanceOperation(ctx, trading.BalanceOp{
				Login: login, Kind: trading.Deposit, Amount: d("0.37"), OperationID: "conc-" + strconv.Itoa(i),
			})
			if err == nil {
				_, err = s.Account(ctx, login)
			}
			errs <- err
		}()
	}
	for range deposits {
		if err := <-errs; err != nil {
			t.Errorf("deposit during activity: %v", err)
		}
	}
	if err := <-activity; err != nil {
		t.Fatalf("RunActivity: %v", err)
	}
	for _, login := range logins {
		sum, deps := decimal.Zero, 0
		for _, dl := range allDeals(t, s, login) {
			if dl.Action == trading.ActionBalance && dl.Profit.Equal(d("0.37")) {
				deps++
			}
			sum = sum.Add(dl.Profit).Add(dl.Commission).Add(dl.Swap)
		}
		a, err := s.Account(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Balance.Equal(sum) || deps != deposits/len(logins) {
			t.Fatalf("account %s: balance %s, deals add up to %s, %d of %d deposits", login, a.Balance, sum, deps, deposits/len(logins))
		}
	}
}
