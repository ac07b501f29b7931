package simulator

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// ruleQuotes are round prices so the expectations below can be checked by hand (they were, with Python's decimal):
// EURUSD 1.08500/1.08510 (mid 1.08505), GBPUSD 1.27000/1.27014, USDJPY 150.000/150.012 (mid 150.006),
// XAUUSD 2350.00/2350.30.
func ruleQuotes() quotes {
	return quotes{"EURUSD": 108_500, "GBPUSD": 127_000, "USDJPY": 150_000, "XAUUSD": 235_000}
}

func mustSymbol(t *testing.T, name string) symbol {
	t.Helper()
	s, ok := symbolByName(name)
	if !ok {
		t.Fatalf("symbol %s missing", name)
	}
	return s
}

func TestMarginFollowsForexAndCFDModesInAccountCurrency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		symbol   string
		side     trading.Side
		lots     string
		leverage int
		ccy      string
		want     string
	}{
		{"forex margin is in the base currency converted at mid", "EURUSD", trading.Buy, "1", 100, "USD", "1085.05"},
		{"base currency equal to account currency needs no conversion", "USDJPY", trading.Buy, "1", 100, "USD", "1000"},
		{"same base as account for EUR account", "EURUSD", trading.Sell, "1", 100, "EUR", "1000"},
		{"USD base into EUR account", "USDJPY", trading.Sell, "0.5", 200, "EUR", "230.40"},
		{"gold buy uses the ask (CFD mode)", "XAUUSD", trading.Buy, "1", 100, "USD", "2350.30"},
		{"gold sell uses the bid (CFD mode)", "XAUUSD", trading.Sell, "1", 100, "USD", "2350.00"},
		{"gold into EUR account", "XAUUSD", trading.Buy, "0.10", 50, "EUR", "433.22"},
		{"JPY account rounds to whole yen", "USDJPY", trading.Buy, "1", 100, "JPY", "150006"},
		{"higher leverage needs less margin", "EURUSD", trading.Buy, "1", 500, "USD", "217.01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := positionMargin(ruleQuotes(), mustSymbol(t, c.symbol), c.side, d(c.lots), c.leverage, c.ccy)
			if err != nil {
				t.Fatalf("positionMargin: %v", err)
			}
			if !got.Equal(d(c.want)) {
				t.Fatalf("margin of %s %s lots %s at 1:%d in %s = %s, want %s", c.side, c.lots, c.symbol, c.leverage, c.ccy, got, c.want)
			}
		})
	}
}

func TestProfitIsConvertedFromQuoteToAccountCurrency(t *testing.T) {
	t.Parallel()
	jpyUp := ruleQuotes()
	jpyUp["USDJPY"] = 150_500 // mid 150.506 converts the yen profit
	cases := []struct {
		name       string
		q          quotes
		symbol     string
		side       trading.Side
		lots       string
		open, exit string
		ccy        string
		want       string
	}{
		{"USD quote into USD account", ruleQuotes(), "EURUSD", trading.Buy, "1", "1.08000", "1.08500", "USD", "500"},
		{"a losing sell is negative", ruleQuotes(), "GBPUSD", trading.Sell, "1", "1.27000", "1.27014", "USD", "-14"},
		{"yen profit divided by USDJPY for a USD account", jpyUp, "USDJPY", trading.Buy, "1", "150.000", "150.500", "USD", "332.21"},
		{"gold sell profit in USD", ruleQuotes(), "XAUUSD", trading.Sell, "0.5", "2350.00", "2340.30", "USD", "485"},
		{"gold profit into EUR account", ruleQuotes(), "XAUUSD", trading.Buy, "1", "2300.00", "2350.00", "EUR", "4608.08"},
		{"yen profit through USD into EUR account", ruleQuotes(), "USDJPY", trading.Sell, "2", "151.000", "150.012", "EUR", "1214.03"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := positionProfit(c.q, mustSymbol(t, c.symbol), c.side, d(c.lots), d(c.open), d(c.exit), c.ccy)
			if err != nil {
				t.Fatalf("positionProfit: %v", err)
			}
			if !got.Equal(d(c.want)) {
				t.Fatalf("profit = %s, want %s", got, c.want)
			}
		})
	}
}

func TestSwapIsChargedPerUTCMidnightUnlessSwapFree(t *testing.T) {
	t.Parallel()
	groups, err := groupIndex(DefaultGroups())
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name         string
		group        string
		open, closed time.Time
		want         string
	}{
		{"same day is free", "standard-usd", day.Add(time.Hour), day.Add(23 * time.Hour), "0"},
		{"one midnight crossed in two hours", "standard-usd", day.Add(23 * time.Hour), day.Add(25 * time.Hour), "-2.10"},
		{"three nights", "standard-usd", day.Add(12 * time.Hour), day.Add(84 * time.Hour), "-6.30"},
		{"swap-free twin never pays", "standard-usd-swapfree", day, day.Add(72 * time.Hour), "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := swapCharge(groups[c.group], d("0.5"), c.open, c.closed)
			if !got.Equal(d(c.want)) {
				t.Fatalf("swap = %s, want %s", got, c.want)
			}
		})
	}
}

func TestLeverageIsLimitedByTheGroup(t *testing.T) {
	t.Parallel()
	type step func(t *testing.T, s *Simulator, login string) error
	cases := []struct {
		name    string
		group   string
		create  int
		then    step
		wantErr error
	}{
		{"standard allows 1:500 at creation", "standard-usd", 500, nil, nil},
		{"standard refuses 1:501 at creation", "standard-usd", 501, nil, trading.ErrInvalidRequest},
		{"pro allows 1:200 at creation", "pro-usd", 200, nil, nil},
		{"pro refuses 1:201 at creation", "pro-usd", 201, nil, trading.ErrInvalidRequest},
		{"pro refuses raising to 1:300", "pro-usd", 100, func(t *testing.T, s *Simulator, login string) error {
			return s.SetLeverage(t.Context(), login, 300)
		}, trading.ErrInvalidRequest},
		{"moving 1:300 into pro (max 1:200) is refused", "standard-usd", 300, func(t *testing.T, s *Simulator, login string) error {
			return s.MoveGroup(t.Context(), login, "pro-usd")
		}, trading.ErrInvalidRequest},
		{"lowering first then moving into pro works", "standard-usd", 300, func(t *testing.T, s *Simulator, login string) error {
			if err := s.SetLeverage(t.Context(), login, 200); err != nil {
				return err
			}
			return s.MoveGroup(t.Context(), login, "pro-usd")
		}, nil},
		{"moving into another currency's group is refused", "standard-usd", 100, func(t *testing.T, s *Simulator, login string) error {
			return s.MoveGroup(t.Context(), login, "standard-eur")
		}, trading.ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, _ := openTest(t, testOptions())
			a, err := s.CreateAccount(t.Context(), trading.NewAccount{Group: c.group, Leverage: c.create, Password: "Tr4de!Desk"})
			if c.then == nil {
				checkErr(t, err, c.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
			checkErr(t, c.then(t, s, a.Login), c.wantErr)
		})
	}
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

// fundedAccount makes a USD account with money, at the round ruleQuotes prices.
func fundedAccount(t *testing.T, s *Simulator, leverage int, amount string) string {
	t.Helper()
	if err := s.setBids("test", ruleQuotes()); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(t.Context(), trading.NewAccount{Group: "standard-usd", Leverage: leverage, Password: "Tr4de!Desk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BalanceOperation(t.Context(), trading.BalanceOp{
		Login: a.Login, Kind: trading.Deposit, Amount: d(amount), OperationID: "fund-" + a.Login,
	}); err != nil {
		t.Fatal(err)
	}
	return a.Login
}

func TestOpenPositionHoldsMarginAndChargesCommission(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, testOptions())
	login := fundedAccount(t, s, 100, "5000")
	if _, err := s.OpenPosition(t.Context(), login, "USDJPY", trading.Buy, d("2")); err != nil {
		t.Fatalf("OpenPosition: %v", err)
	}
	acc, err := s.Account(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	// 2 lots USDJPY at 1:100 hold 2000 USD; the standard group charges 3.50 a lot on the way in.
	if !acc.Margin.Equal(d("2000")) || !acc.Balance.Equal(d("4993")) {
		t.Fatalf("margin %s balance %s, want 2000 and 4993", acc.Margin, acc.Balance)
	}
	// Floating loss is the spread: 0.012 yen * 200000 = 2400 JPY at mid 150.006 = 16.00 USD.
	if !acc.Equity.Equal(d("4977")) || !acc.FreeMargin.Equal(d("2977")) {
		t.Fatalf("equity %s free margin %s, want 4977 and 2977", acc.Equity, acc.FreeMargin)
	}
}

func TestOpenPositionBeyondFreeMarginIsInsufficientFunds(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, testOptions())
	login := fundedAccount(t, s, 100, "1000")
	_, err := s.OpenPosition(t.Context(), login, "USDJPY", trading.Buy, d("1"))
	checkErr(t, err, trading.ErrInsufficientFunds) // 1000 margin + 3.50 commission > 1000
	if _, err := s.OpenPosition(t.Context(), login, "USDJPY", trading.Buy, d("0.99")); err != nil {
		t.Fatalf("0.99 lots (990 margin + 3.47 commission) should fit in 1000: %v", err)
	}
}

func TestWithdrawalCannotTakeMarginInUse(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, testOptions())
	login := fundedAccount(t, s, 100, "3000")
	if _, err := s.OpenPosition(t.Context(), login, "USDJPY", trading.Buy, d("2")); err != nil {
		t.Fatal(err)
	}
	// Balance is 2993 but only 977 is free (equity 2977 - margin 2000).
	_, err := s.BalanceOperation(t.Context(), trading.BalanceOp{
		Login: login, Kind: trading.Withdrawal, Amount: d("1000"), OperationID: "wd-margin",
	})
	checkErr(t, err, trading.ErrInsufficientFunds)
	if _, err := s.BalanceOperation(t.Context(), trading.BalanceOp{
		Login: login, Kind: trading.Withdrawal, Amount: d("977"), OperationID: "wd-free",
	}); err != nil {
		t.Fatalf("withdrawing exactly the free margin: %v", err)
	}
}

func TestClosingPositionRealisesProfitCommissionAndSwapIntoBalance(t *testing.T) {
	t.Parallel()
	day := time.Date(2025, 6, 2, 22, 0, 0, 0, time.UTC)
	now := day
	opts := testOptions()
	opts.Now = func() time.Time { return now } // read under the simulator's lock, changed only between calls
	s, _ := openTest(t, opts)
	login := fundedAccount(t, s, 100, "10000")
	p, err := s.OpenPosition(t.Context(), login, "XAUUSD", trading.Sell, d("0.5"))
	if err != nil {
		t.Fatal(err)
	}
	q := ruleQuotes()
	q["XAUUSD"] = 233_970 // ask 2340.00
	if err := s.setBids("test", q); err != nil {
		t.Fatal(err)
	}
	now = day.Add(4 * time.Hour) // past one midnight
	deal, err := s.ClosePosition(t.Context(), login, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	// (2350.00 - 2340.00) * 0.5 * 100 = 500; commission 1.75 each way; swap 4.20 * 0.5 for one night.
	if !deal.Profit.Equal(d("500")) || !deal.Commission.Equal(d("-1.75")) || !deal.Swap.Equal(d("-2.10")) {
		t.Fatalf("closing deal profit %s commission %s swap %s, want 500, -1.75, -2.10", deal.Profit, deal.Commission, deal.Swap)
	}
	if deal.Action != trading.ActionBuy || deal.Entry != trading.EntryOut || deal.PositionID != p.ID {
		t.Fatalf("closing deal %+v should be a buy, entry out, of position %s", deal, p.ID)
	}
	acc, err := s.Account(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	if want := d("10494.40"); !acc.Balance.Equal(want) || !acc.Equity.Equal(want) || !acc.Margin.IsZero() {
		t.Fatalf("balance %s equity %s margin %s, want %s, %s, 0", acc.Balance, acc.Equity, acc.Margin, want, want)
	}
}

func TestPasswordsAreStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	s, dir := openTest(t, testOptions())
	a, err := s.CreateAccount(t.Context(), trading.NewAccount{
		Group: "standard-usd", Leverage: 100, Password: "Pl4in!Main", InvestorPassword: "Pl4in!Inv",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ResetPassword(t.Context(), a.Login, trading.PasswordMain, "Pl4in!New"); err != nil {
		t.Fatal(err)
	}
	if !s.CheckPassword(a.Login, trading.PasswordMain, "Pl4in!New") || s.CheckPassword(a.Login, trading.PasswordMain, "Pl4in!Main") {
		t.Fatalf("main password should be the new one only")
	}
	if !s.CheckPassword(a.Login, trading.PasswordInvestor, "Pl4in!Inv") {
		t.Fatalf("investor password should still verify")
	}
	for _, f := range []string{journalFile} {
		b := readFile(t, dir, f)
		for _, plain := range []string{"Pl4in!Main", "Pl4in!Inv", "Pl4in!New"} {
			if containsBytes(b, plain) {
				t.Fatalf("%s holds the plaintext password %q", f, plain)
			}
		}
	}
}

// A manager's change of a closed deal (Faults.AmendDeal) keeps its ticket and time and moves the balance by the
// change of profit; a deleted deal (Faults.DeleteDeal) is no longer listed and takes what it brought with it.
// Balance and credit deals cannot be changed this way.
func TestAnAmendedOrDeletedDealKeepsTheBalanceTheSumOfTheDeals(t *testing.T) {
	s, _ := openTest(t, Options{PasswordIterations: 1})
	ctx := t.Context()
	a, err := s.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: d("1000"), OperationID: "amend-dep"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.OpenPosition(ctx, a.Login, "EURUSD", trading.Buy, d("0.10"))
	if err != nil {
		t.Fatal(err)
	}
	closing, err := s.ClosePosition(ctx, a.Login, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := func() decimal.Decimal {
		total := decimal.Zero
		for _, dl := range allDeals(t, s, a.Login) {
			total = total.Add(dl.Profit).Add(dl.Commission).Add(dl.Swap) // a deposit's deal carries its amount as profit
		}
		return total
	}
	balance := func() decimal.Decimal {
		acc, err := s.Account(ctx, a.Login)
		if err != nil {
			t.Fatal(err)
		}
		return acc.Balance
	}
	if err := s.Faults.AmendDeal(a.Login, closing.Ticket, d("55.50"), "price corrected"); err != nil {
		t.Fatal(err)
	}
	deals := allDeals(t, s, a.Login)
	last := deals[len(deals)-1]
	if last.Ticket != closing.Ticket || !last.Profit.Equal(d("55.50")) || last.Comment != "price corrected" || !last.Time.Equal(closing.Time) {
		t.Fatalf("amended deal: %+v", last)
	}
	if !balance().Equal(sum()) {
		t.Fatalf("after the amendment the balance %s is not the sum of the deals %s", balance(), sum())
	}
	if err := s.Faults.DeleteDeal(a.Login, closing.Ticket); err != nil {
		t.Fatal(err)
	}
	if n := len(allDeals(t, s, a.Login)); n != len(deals)-1 {
		t.Fatalf("%d deals after the deletion, want %d", n, len(deals)-1)
	}
	if !balance().Equal(sum()) {
		t.Fatalf("after the deletion the balance %s is not the sum of the deals %s", balance(), sum())
	}
	if err := s.Faults.DeleteDeal(a.Login, closing.Ticket); !errors.Is(err, trading.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
	if err := s.Faults.AmendDeal(a.Login, deals[0].Ticket, d("1"), ""); !errors.Is(err, trading.ErrNotFound) {
		t.Fatalf("amending the deposit: %v", err)
	}
}
