package mt5

import (
	"fmt"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

func newAccount(group string) trading.NewAccount {
	return trading.NewAccount{Group: group, Leverage: 100, Currency: "USD", FirstName: "Ada", LastName: "Test",
		Email: "ada@example.com", Password: "Tr4de!Desk", InvestorPassword: "R3ad!Only"}
}

func TestCreateAccountSendsPasswordsInTheBodyAndReadsTheRecord(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	req := newAccount(`real\standard`)
	req.OperationID = "open-1"
	a, err := c.CreateAccount(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	u := f.User(a.Login)
	if u.PassMain != req.Password || u.PassInvestor != req.InvestorPassword {
		t.Errorf("passwords did not arrive in the body: %q %q", u.PassMain, u.PassInvestor)
	}
	if u.Name != "Ada Test" || u.FirstName != "Ada" || u.Email != req.Email || u.Comment != OperationTag("open-1") {
		t.Errorf("record %+v", u)
	}
	want := trading.Account{Login: a.Login, Group: `real\standard`, Currency: "USD", Leverage: 100,
		Access: trading.Access{LoginEnabled: true, TradingEnabled: true}}
	if a.Login == "" || a.Group != want.Group || a.Currency != want.Currency || a.Leverage != want.Leverage || a.Access != want.Access {
		t.Errorf("CreateAccount = %+v, want %+v", a, want)
	}
}

func TestCreateAccountWithoutInvestorPasswordGetsAStrongOne(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	req := newAccount(`real\standard`)
	req.InvestorPassword = ""
	a, err := c.CreateAccount(testCtx(t), req)
	if err != nil {
		t.Fatalf("the server refused the generated investor password: %v", err)
	}
	if pw := f.User(a.Login).PassInvestor; !mt5fake.StrongPassword(pw) || pw == req.Password {
		t.Errorf("generated investor password %q", pw)
	}
}

func TestCurrencyIsFixedByTheGroup(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	req := newAccount(`real\standard`)
	req.Currency = "EUR"
	_, err := c.CreateAccount(testCtx(t), req)
	requireKind(t, err, trading.ErrInvalidRequest)
	if n := f.Requests("/api/user/add"); n != 0 {
		t.Errorf("user/add sent for a currency the group does not have")
	}

	a, err := c.CreateAccount(testCtx(t), newAccount(`real\standard`))
	if err != nil {
		t.Fatal(err)
	}
	requireKind(t, c.MoveGroup(testCtx(t), a.Login, `real\euro`), trading.ErrInvalidRequest)
	if n := f.Requests("/api/user/update"); n != 0 {
		t.Errorf("user/update sent for a move to another currency")
	}
	if g := f.User(a.Login).Group; g != `real\standard` {
		t.Errorf("group %q after a refused move", g)
	}
}

func TestUpdatesKeepEveryOtherFieldOfTheRecord(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	req := newAccount(`real\standard`)
	req.OperationID = "keep-1"
	a, err := c.CreateAccount(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	before := f.User(a.Login)
	if err := c.SetLeverage(testCtx(t), a.Login, 200); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAccess(testCtx(t), a.Login, trading.Access{LoginEnabled: false, TradingEnabled: false}); err != nil {
		t.Fatal(err)
	}
	after := f.User(a.Login)
	// The fake resets any field an update leaves out, as a replacing update does.
	if after.Name != before.Name || after.Email != before.Email || after.Comment != before.Comment ||
		after.FirstName != before.FirstName || after.Group != before.Group {
		t.Errorf("fields lost in updates: before %+v after %+v", before, after)
	}
	if after.Leverage != 200 {
		t.Errorf("leverage %d, want 200", after.Leverage)
	}
	// 483 is MT5's default rights; disabling clears 0x1 and sets 0x4 and keeps every other bit.
	if after.Rights != 483&^rightEnabled|rightTradeDisabled {
		t.Errorf("rights %#x, want %#x", after.Rights, 483&^rightEnabled|rightTradeDisabled)
	}
	if err := c.SetAccess(testCtx(t), a.Login, trading.Access{LoginEnabled: true, TradingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.User(a.Login).Rights; r != 483 {
		t.Errorf("rights %#x after enabling again, want 483", r)
	}
}

func TestUnchangedSettingsCostNoWrite(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	a, err := c.CreateAccount(testCtx(t), newAccount(`real\standard`))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		c.SetLeverage(testCtx(t), a.Login, 100),
		c.SetAccess(testCtx(t), a.Login, trading.Access{LoginEnabled: true, TradingEnabled: true}),
		c.MoveGroup(testCtx(t), a.Login, `real\standard`),
		c.SetSwapFree(testCtx(t), a.Login, false),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Requests("/api/user/update"); n != 0 {
		t.Errorf("%d writes for settings that were already so", n)
	}
}

func TestSwapFreeMovesToTheConfiguredTwinOnly(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	a, err := c.CreateAccount(testCtx(t), newAccount(`real\standard`))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call finds the account already swap-free
		if err := c.SetSwapFree(testCtx(t), a.Login, true); err != nil {
			t.Fatal(err)
		}
	}
	if g := f.User(a.Login).Group; g != `real\standard-sf` {
		t.Fatalf("group %q, want the twin", g)
	}
	if n := f.Requests("/api/user/update"); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	b, err := c.CreateAccount(testCtx(t), newAccount(`real\pro`))
	if err != nil {
		t.Fatal(err)
	}
	requireKind(t, c.SetSwapFree(testCtx(t), b.Login, true), trading.ErrInvalidRequest)
}

func TestLostAnswerOfCreateWithRequestedLoginFindsTheAccount(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	req := newAccount(`real\standard`)
	req.Login = "7770001"
	f.DropNextAnswer("/api/user/add")
	a, err := c.CreateAccount(testCtx(t), req)
	if err != nil || a.Login != req.Login {
		t.Fatalf("create with a lost answer: %+v %v", a, err)
	}

	// Without a requested login the new account cannot be told apart: the caller is told to check.
	f.DropNextAnswer("/api/user/add")
	_, err = c.CreateAccount(testCtx(t), newAccount(`real\standard`))
	requireKind(t, err, trading.ErrUnavailable)
}

func TestOpenPositionsConvertUnitsAndTime(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		f := mt5fake.New(t, mt5fake.Options{Offset: 3 * time.Hour, PlainNumbers: plain})
		c := newTestConnector(t, f, nil)
		login := f.AddUser(`real\standard`, "1000")
		open := time.Date(2025, 6, 1, 23, 30, 15, 0, time.UTC)
		id := f.AddPosition(login, "XAUUSD", true, 150000000, "2345.67", "-12.50", "-1.25", open)
		ps, err := c.OpenPositions(testCtx(t), fmt.Sprint(login))
		if err != nil {
			t.Fatal(err)
		}
		want := trading.Position{ID: fmt.Sprint(id), Login: fmt.Sprint(login), Symbol: "XAUUSD", Side: trading.Sell,
			Volume: dec("1.5"), OpenPrice: dec("2345.67"), Profit: dec("-12.5"), Swap: dec("-1.25"), OpenTime: open}
		if len(ps) != 1 {
			t.Fatalf("%d positions", len(ps))
		}
		p := ps[0]
		if p.ID != want.ID || p.Login != want.Login || p.Symbol != want.Symbol || p.Side != want.Side ||
			!p.Volume.Equal(want.Volume) || !p.OpenPrice.Equal(want.OpenPrice) || !p.Profit.Equal(want.Profit) ||
			!p.Swap.Equal(want.Swap) || !p.OpenTime.Equal(want.OpenTime) || p.OpenTime.Location() != time.UTC {
			t.Errorf("plain numbers %v: got %+v, want %+v", plain, p, want)
		}
		a, err := c.Account(testCtx(t), fmt.Sprint(login))
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equity.Equal(dec("986.25")) || !a.FreeMargin.Equal(dec("986.25")) || !a.Balance.Equal(dec("1000")) {
			t.Errorf("plain numbers %v: account %+v", plain, a)
		}
	}
}
