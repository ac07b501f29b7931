package simulator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// stepClock is a deterministic clock: every reading is one second after the previous one. Tests that compare
// two simulators give each its own clock and make the same calls.
func stepClock(start time.Time) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return start.Add(time.Duration(n) * time.Second)
	}
}

// mutateEverything drives one of every kind of event through the simulator and returns the logins it made.
func mutateEverything(t testing.TB, s *Simulator) (chosen, requested string) {
	t.Helper()
	ctx := t.Context()
	if err := s.setBids("test", ruleQuotes()); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 200, Password: "Tr4de!Desk", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Requesting the login the sequence would hand out next forces the sequence to step over it.
	b, err := s.CreateAccount(ctx, trading.NewAccount{Login: "100001", Group: "standard-eur", Leverage: 100, Password: "Tr4de!Desk"})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: d("10000.55"), OperationID: "restart-dep"})
	must(err)
	_, err = s.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.CreditIn, Amount: d("250"), OperationID: "restart-cred"})
	must(err)
	_, err = s.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Withdrawal, Amount: d("0.55"), OperationID: "restart-wd"})
	must(err)
	_, err = s.BalanceOperation(ctx, trading.BalanceOp{Login: b.Login, Kind: trading.Deposit, Amount: d("5000"), OperationID: "restart-dep-b"})
	must(err)
	keep, err := s.OpenPosition(ctx, a.Login, "XAUUSD", trading.Buy, d("0.3"))
	must(err)
	_ = keep
	closed, err := s.OpenPosition(ctx, a.Login, "EURUSD", trading.Sell, d("1.25"))
	must(err)
	_, err = s.OpenPosition(ctx, b.Login, "USDJPY", trading.Buy, d("0.5"))
	must(err)
	q := ruleQuotes()
	q["EURUSD"], q["XAUUSD"] = 108_123, 236_010
	must(s.setBids("test", q))
	_, err = s.ClosePosition(ctx, a.Login, closed.ID)
	must(err)
	must(s.SetLeverage(ctx, a.Login, 300))
	must(s.SetSwapFree(ctx, b.Login, true))
	must(s.SetAccess(ctx, b.Login, trading.Access{LoginEnabled: true, TradingEnabled: false}))
	must(s.ResetPassword(ctx, a.Login, trading.PasswordInvestor, "Inv3st!Pass"))
	must(s.SeedDeals(b.Login, 7, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 8, 0, 0, 0, 0, time.UTC)))
	seeded := allDeals(t, s, b.Login)[:2] // the seeded history is the oldest
	must(s.Faults.AmendDeal(b.Login, seeded[0].Ticket, d("-12.34"), "corrected by dealer"))
	must(s.Faults.DeleteDeal(b.Login, seeded[1].Ticket))
	return a.Login, b.Login
}

// fingerprint renders everything a client can read about the given logins, with decimals in canonical form, so
// two simulators can be compared with ==.
func fingerprint(t *testing.T, s *Simulator, logins ...string) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	for _, sym := range s.Symbols() {
		bid, ask, err := s.Quote(sym)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "quote %s %s %s\n", sym, bid, ask)
	}
	for _, login := range logins {
		a, err := s.Account(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "account %s %s %s 1:%d %+v swapfree=%v bal=%s cred=%s eq=%s m=%s fm=%s\n", a.Login, a.Group,
			a.Currency, a.Leverage, a.Access, a.SwapFree, a.Balance, a.Credit, a.Equity, a.Margin, a.FreeMargin)
		ps, err := s.OpenPositions(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			fmt.Fprintf(&b, "  position %s %s %s %s @%s profit=%s %s\n", p.ID, p.Symbol, p.Side, p.Volume, p.OpenPrice,
				p.Profit, p.OpenTime.Format(time.RFC3339Nano))
		}
		for _, dl := range allDeals(t, s, login) {
			fmt.Fprintf(&b, "  deal %s %s %s %s %s @%s p=%s c=%s s=%s %s %q\n", dl.Ticket, dl.PositionID, dl.Action, dl.Entry,
				dl.Volume, dl.Price, dl.Profit, dl.Commission, dl.Swap, dl.Time.Format(time.RFC3339Nano), dl.Comment)
		}
	}
	return b.String()
}

func allDeals(t testing.TB, s *Simulator, login string) []trading.Deal {
	t.Helper()
	q := trading.DealQuery{Login: login, From: time.Unix(0, 0), To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 1000}
	var out []trading.Deal
	for {
		page, err := s.ClosedDeals(t.Context(), q)
		if err != nil {
			t.Fatalf("ClosedDeals(%s): %v", login, err)
		}
		out = append(out, page.Deals...)
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// copyState copies a live simulator's files, which is what a crash (power cut after the last fsync) leaves behind.
func copyState(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{journalFile, snapshotFile} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name          string
		snapshotEvery int
		crash         bool // reopen a copy of the files taken while the simulator was still open, without Close
	}{
		{"clean close compacts into a snapshot", -1, false},
		{"crash replays the journal alone", -1, true},
		{"crash replays periodic snapshots plus the journal after them", 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.SnapshotEvery = c.snapshotEvery
			opts.Now = stepClock(start)
			dir := t.TempDir()
			s, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			a, b := mutateEverything(t, s)
			before := fingerprint(t, s, a, b)
			reopenDir := dir
			if c.crash {
				reopenDir = copyState(t, dir)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			opts.Now = stepClock(start.Add(time.Hour))
			r, err := Open(reopenDir, opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { _ = r.Close() })
			if after := fingerprint(t, r, a, b); after != before {
				t.Fatalf("state after restart differs.\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if !r.CheckPassword(a, trading.PasswordInvestor, "Inv3st!Pass") || !r.CheckPassword(b, trading.PasswordMain, "Tr4de!Desk") {
				t.Fatalf("passwords do not verify after restart")
			}
			// The sequence gave 100000, stepped over the requested 100001, and must go on at 100002.
			next, err := r.CreateAccount(t.Context(), trading.NewAccount{Group: "pro-usd", Leverage: 100, Password: "Tr4de!Desk"})
			if err != nil {
				t.Fatal(err)
			}
			if a != "100000" || next.Login != "100002" {
				t.Fatalf("logins %s then (after restart) %s, want 100000 then 100002", a, next.Login)
			}
			res, err := r.BalanceOperation(t.Context(), trading.BalanceOp{Login: a, Kind: trading.Deposit, Amount: d("10000.55"), OperationID: "restart-dep"})
			if err != nil || !res.Replayed {
				t.Fatalf("repeating an operation from before the restart: %+v, %v; want Replayed", res, err)
			}
			if got := fingerprint(t, r, a, b); got != before {
				t.Fatalf("a replayed operation changed the state:\n%s", got)
			}
		})
	}
}

func TestSecondOpenOfTheSameDirectoryFails(t *testing.T) {
	t.Parallel()
	_, dir := openTest(t, testOptions())
	s2, err := Open(dir, testOptions())
	if err == nil {
		s2.Close()
		t.Fatalf("second Open of %s succeeded", dir)
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestDirectoryCanBeReopenedAfterClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 2 {
		s, err := Open(dir, testOptions())
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
}

func TestTornLastJournalLineIsDroppedOnOpen(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.SnapshotEvery = -1
	s, dir := openTest(t, opts)
	a, b := mutateEverything(t, s)
	want := fingerprint(t, s, a, b)
	crashed := copyState(t, dir)
	f, err := os.OpenFile(filepath.Join(crashed, journalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":999,"type":"balance","bal`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Open(crashed, opts)
	if err != nil {
		t.Fatalf("open with a torn last line: %v", err)
	}
	defer r.Close()
	if got := fingerprint(t, r, a, b); got != want {
		t.Fatalf("state after dropping the torn line differs:\n%s\nwant:\n%s", got, want)
	}
	// New events must land on a clean line, not glued to the torn bytes.
	if _, err := r.BalanceOperation(t.Context(), trading.BalanceOp{Login: a, Kind: trading.Deposit, Amount: d("1"), OperationID: "after-torn"}); err != nil {
		t.Fatal(err)
	}
	if _, err := parseEvent([]byte(lastLine(readFile(t, crashed, journalFile)))); err != nil {
		t.Fatalf("event written after the torn line does not parse: %v", err)
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return lines[len(lines)-1]
}

func TestCorruptJournalLineStopsOpen(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.SnapshotEvery = -1
	s, dir := openTest(t, opts)
	mutateEverything(t, s)
	crashed := copyState(t, dir)
	path := filepath.Join(crashed, journalFile)
	lines := strings.SplitAfter(string(readFile(t, crashed, journalFile)), "\n")
	lines[3] = "{not json}\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(crashed, opts)
	if err == nil {
		r.Close()
		t.Fatalf("Open accepted a journal with a corrupt line in the middle")
	}
	if !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("error %q should name the corrupt line 4", err)
	}
}
