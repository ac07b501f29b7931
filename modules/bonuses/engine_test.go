package bonuses

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

func TestASecondDepositGrantsOnceUnderItsRuleVersionAndExplainsEveryEvaluation(t *testing.T) {
	t.Parallel()
	w := setup(t)
	ctx := context.Background()
	r := w.rule(t, "2nd deposit 50% up to $500", secondDeposit())
	w.advance(time.Second)
	ann := w.client(t, "Ann", "GB", "standard")

	first := w.deposit(t, ann, 1, 100000)
	if bs := w.bonuses(t, ann); len(bs) != 0 {
		t.Fatalf("the first deposit granted %v", bs)
	}
	second := w.deposit(t, ann, 2, 40000)
	w.redeliver(t, second) // the hall delivers at least once
	bs := w.bonuses(t, ann)
	if len(bs) != 1 || bs[0].Amount.Minor != 20000 || bs[0].RuleVersion != 1 || bs[0].LotsRequired.StringFixed(2) != "100.00" || bs[0].Status != "open" {
		t.Fatalf("bonuses %+v", bs)
	}
	if got := w.balance(t, ledger.ClientBonus(ann, usd)); got != 20000 {
		t.Errorf("bonus account %d, want 20000", got)
	}
	if got := w.balance(t, ledger.BonusLiability(usd)); got != -20000 {
		t.Errorf("bonus liability %d, want -20000", got)
	}
	if got := w.balance(t, ledger.ClientWallet(ann, usd)); got != 0 {
		t.Errorf("the wallet moved: %d", got)
	}

	// Why and why not, each from one row.
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		for _, tc := range []struct {
			deposit                  string
			outcome, reason, version string
		}{{first.DepositID.String(), "not_granted", string(ReasonDepositNumber), "1"}, {second.DepositID.String(), "granted", "", "1"}} {
			var outcome, reason, version, says, number string
			if err := tx.QueryRow(ctx, `SELECT outcome, reason, rule_version::text, explanation->'decision'->>'says', explanation->'deposit'->>'number'
				FROM bonus_evaluations WHERE rule_id = $1 AND deposit_id = $2`, r.ID, tc.deposit).Scan(&outcome, &reason, &version, &says, &number); err != nil {
				return err
			}
			if outcome != tc.outcome || reason != tc.reason || version != tc.version || says == "" || number == "" {
				t.Errorf("deposit %s: %s %q v%s %q (number %s)", tc.deposit, outcome, reason, version, says, number)
			}
		}
		return nil
	})

	// An edit makes version 2; the granted bonus keeps version 1, and the next deposits are evaluated under 2.
	terms := secondDeposit()
	terms.Percent = dec("100")
	w.advance(time.Second)
	if v2, err := w.svc.EditRule(ctx, w.ten, staffer, r.ID, terms); err != nil || v2.Version != 2 {
		t.Fatalf("edit: %v %v", v2.Version, err)
	}
	w.advance(time.Second)
	bob := w.client(t, "Bob", "GB", "standard")
	w.deposit(t, bob, 2, 40000)
	if bs := w.bonuses(t, bob); len(bs) != 1 || bs[0].Amount.Minor != 40000 || bs[0].RuleVersion != 2 {
		t.Fatalf("Bob's bonuses %+v", bs)
	}
	if bs := w.bonuses(t, ann); bs[0].RuleVersion != 1 || bs[0].Amount.Minor != 20000 {
		t.Fatalf("Ann's bonus changed with the edit: %+v", bs[0])
	}
	if v1, err := w.svc.Rule(ctx, w.ten, r.ID, 1); err != nil || !v1.Terms.Percent.Equal(dec("50")) {
		t.Fatalf("version 1 reads %v %v", v1.Terms.Percent, err)
	}
	found := false
	for _, s := range w.sentences(t, ann) {
		found = found || strings.Contains(s, "granted Ann Trader a bonus of 200.00 USD under the rule 2nd deposit 50% up to $500 (version 1)")
	}
	if !found {
		t.Errorf("no grant sentence in %q", w.sentences(t, ann))
	}
}

func TestTheClientsLimitsHoldAcrossDeposits(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := Terms{Active: true, Percent: dec("100"), MaxPerClient: 3, MaxPerMonth: dec("250"), LotsPerUnit: dec("0.01"), ValidDays: 30}
	w.rule(t, "Reload", terms)
	w.advance(time.Second)
	cy := w.client(t, "Cy", "DE", "standard")
	for i := 1; i <= 4; i++ {
		w.deposit(t, cy, i, 10000)
	}
	var got []int64
	for _, b := range w.bonuses(t, cy) {
		got = append(got, b.Amount.Minor)
	}
	// 100 + 100 + 50 (cut to the month's 250), then the month is used.
	if len(got) != 3 || got[0]+got[1]+got[2] != 25000 || got[0] != 5000 {
		t.Fatalf("bonuses %v, want 50.00, 100.00, 100.00 (newest first)", got)
	}
}

func TestTurnoverCountsOnlyDealsHeldLongEnoughTakesCancelledDealsBackAndReleasesWhenMet(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.LotsPerUnit, terms.MinHoldSeconds = dec("0.01"), 60 // 200.00 USD: 2 lots
	w.rule(t, "2nd deposit", terms)
	w.advance(time.Second)
	dee := w.client(t, "Dee", "GB", "standard")
	w.deposit(t, dee, 2, 40000)
	a := w.account(dee)
	at := w.clock().Add(time.Minute)

	w.closed(t, a, w.closingDeal("1", "5", at, 30*time.Second)) // a scalp: counts nothing
	big := w.closingDeal("2", "1.5", at.Add(time.Second), 2*time.Minute)
	w.closed(t, a, big)
	w.closed(t, a, big) // redelivered
	if b := w.bonuses(t, dee)[0]; b.LotsDone.String() != "1.5" || b.Status != "open" {
		t.Fatalf("after a scalp and a 1.5-lot deal: %s lots, %s", b.LotsDone, b.Status)
	}
	w.changed(t, a, big, nil, at.Add(time.Hour)) // the platform cancelled it
	if b := w.bonuses(t, dee)[0]; !b.LotsDone.IsZero() {
		t.Fatalf("the cancelled deal still counts: %s", b.LotsDone)
	}
	w.changed(t, a, big, &big, at.Add(30*time.Minute)) // an older change delivered late undoes nothing
	if b := w.bonuses(t, dee)[0]; !b.LotsDone.IsZero() {
		t.Fatalf("a late older change counted again: %s", b.LotsDone)
	}
	w.closed(t, a, w.closingDeal("3", "2", at.Add(2*time.Hour), time.Hour))
	b := w.bonuses(t, dee)[0]
	if b.Status != "released" {
		t.Fatalf("2 lots traded and the bonus is %s (%s lots)", b.Status, b.LotsDone)
	}
	if got := w.balance(t, ledger.ClientWallet(dee, usd)); got != 20000 {
		t.Errorf("wallet %d, want 20000", got)
	}
	if got := w.balance(t, ledger.ClientBonus(dee, usd)); got != 0 {
		t.Errorf("bonus account %d, want 0", got)
	}
	w.closed(t, a, w.closingDeal("4", "1", at.Add(3*time.Hour), time.Hour)) // a released bonus counts no more
	if got := w.balance(t, ledger.ClientWallet(dee, usd)); got != 20000 {
		t.Errorf("released twice: wallet %d", got)
	}
	if s := w.sentences(t, dee); !strings.Contains(s[0], "released Dee Trader's bonus of 200.00 USD (2nd deposit) to the wallet: 2.00 of 2.00 lots traded") {
		t.Errorf("sentences %q", s)
	}
}

func TestExpiredBonusesAreRemovedAndStaffCancelWithAReason(t *testing.T) {
	t.Parallel()
	w := setup(t)
	ctx := context.Background()
	terms := secondDeposit()
	terms.ValidDays = 1
	w.rule(t, "Short", terms)
	w.advance(time.Second)
	eve, fay := w.client(t, "Eve", "GB", "standard"), w.client(t, "Fay", "GB", "standard")
	w.deposit(t, eve, 2, 40000)
	w.deposit(t, fay, 2, 10000)
	if n, err := w.svc.ExpireDue(ctx, w.ten, 10); err != nil || n != 0 {
		t.Fatalf("expired %d before their time (%v)", n, err)
	}
	fb := w.bonuses(t, fay)[0]
	if err := w.svc.Cancel(ctx, w.ten, staffer, fb.ID, " "); !hasField(err, "reason") {
		t.Fatalf("a cancel without a reason: %v", err)
	}
	if err := w.svc.Cancel(ctx, w.ten, staffer, fb.ID, "bonus abuse: same card as another client"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Cancel(ctx, w.ten, staffer, fb.ID, "again"); !errors.Is(err, ErrState) {
		t.Fatalf("cancelling twice: %v", err)
	}
	w.advance(25 * time.Hour)
	if n, err := w.svc.ExpireDue(ctx, w.ten, 10); err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want Eve's", n, err)
	}
	if b := w.bonuses(t, eve)[0]; b.Status != "expired" {
		t.Fatalf("Eve's bonus is %s", b.Status)
	}
	if got := w.balance(t, ledger.ClientBonus(eve, usd)) + w.balance(t, ledger.ClientBonus(fay, usd)); got != 0 {
		t.Errorf("bonus accounts hold %d after expiry and cancellation", got)
	}
	if got := w.balance(t, ledger.BonusLiability(usd)); got != 0 {
		t.Errorf("bonus liability %d, want 0 (both grants reversed)", got)
	}
	if s := w.sentences(t, fay); !strings.Contains(s[0], "cancelled Fay Trader's bonus of 50.00 USD (Short): bonus abuse") {
		t.Errorf("sentences %q", s)
	}
	if s := w.sentences(t, eve); !strings.Contains(s[0], "removed Eve Trader's bonus of 200.00 USD (Short): it expired with 0.00 of 100.00 lots traded") {
		t.Errorf("sentences %q", s)
	}
}

func TestOpenBonusesAreWhatAWithdrawalWouldForfeitAndOtherTenantsSeeNone(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.rule(t, "2nd deposit", secondDeposit())
	w.advance(time.Second)
	gus := w.client(t, "Gus", "GB", "standard")
	w.deposit(t, gus, 2, 40000)
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		open, err := w.svc.OpenBonusesTx(ctx, tx, gus, "USD")
		if err != nil {
			return err
		}
		if len(open) != 1 || open[0].Amount.Minor != 20000 || !strings.Contains(open[0].Description, "2nd deposit, 200.00 USD (0.00 of 100.00 lots traded") {
			t.Errorf("open bonuses %+v", open)
		}
		if eur, err := w.svc.OpenBonusesTx(ctx, tx, gus, "EUR"); err != nil || len(eur) != 0 {
			t.Errorf("EUR open bonuses %v %v", eur, err)
		}
		return nil
	})
	other := setup(t)
	id := w.bonuses(t, gus)[0].ID
	if err := other.svc.Cancel(context.Background(), other.ten, staffer, id, "not yours"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's bonus: %v", err)
	}
	if bs := other.bonuses(t, gus); len(bs) != 0 {
		t.Fatalf("another tenant reads %v", bs)
	}
}

func hasField(err error, field string) bool {
	ve, ok := validation.As(err)
	return ok && ve.Message(field) != ""
}

func TestTheDemoRuleIsTheSeedsSecondDepositBonusAndIsSafeToRunAgain(t *testing.T) {
	t.Parallel()
	w := setup(t)
	ctx := context.Background()
	for range 2 {
		if err := w.svc.demo(ctx, w.ten); err != nil {
			t.Fatal(err)
		}
	}
	w.advance(time.Second)
	hal := w.client(t, "Hal", "GB", "standard")
	w.deposit(t, hal, 2, 150000)
	bs := w.bonuses(t, hal)
	if len(bs) != 1 || bs[0].RuleName != DemoRuleName || bs[0].Amount.Minor != 50000 || bs[0].LotsRequired.StringFixed(2) != "250.00" {
		t.Fatalf("the demo rule granted %+v", bs)
	}
}

func TestDepositsOfOneClientDeliveredAtOnceKeepTheLimitPerClient(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.rule(t, "Reload", Terms{Active: true, Percent: dec("10"), MaxPerClient: 2, LotsPerUnit: dec("0.01"), ValidDays: 30})
	w.advance(time.Second)
	ivy := w.client(t, "Ivy", "GB", "standard")
	var wg sync.WaitGroup
	for i := 1; i <= 6; i++ {
		wg.Add(1)
		go func() { // t.Error, not t.Fatal, off the test's goroutine
			defer wg.Done()
			e := payments.DepositCompleted{DepositID: uuid.New(), ClientID: ivy, Amount: 10000, Currency: "USD", Exponent: 2, DepositNumber: i,
				GatewayKind: "stripe"}
			if err := w.p.Gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
				return w.svc.onDeposit(ctx, tx, w.ten, meta(w.clock()), e)
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if bs := w.bonuses(t, ivy); len(bs) != 2 {
		t.Fatalf("%d bonuses granted to six deposits at once, want 2 (the rule's maximum per client)", len(bs))
	}
	if got := w.balance(t, ledger.ClientBonus(ivy, usd)); got != 2000 {
		t.Errorf("bonus account %d, want 2000", got)
	}
}

func TestABatchOfDealsCountsAsTheDealsOneAtATimeAndReleasesOnce(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.LotsPerUnit, terms.MinHoldSeconds = dec("0.01"), 60 // 200.00 USD: 2 lots
	w.rule(t, "2nd deposit", terms)
	w.advance(time.Second)
	fay, gus := w.client(t, "Fay", "GB", "standard"), w.client(t, "Gus", "GB", "standard")
	w.deposit(t, fay, 2, 40000)
	w.deposit(t, gus, 2, 40000)
	at := w.clock().Add(time.Minute)
	// One batch: a scalp, Fay's deals passing her 2 lots midway, Gus's deal, and a deal of Fay's after the release.
	calls := w.trades.calls
	w.closedBatch(t, w.account(fay),
		w.closingDeal("1", "5", at, 30*time.Second),
		w.closingDeal("2", "1.5", at.Add(time.Second), time.Hour),
		w.closingDeal("3", "1", at.Add(2*time.Second), time.Hour),
		w.closingDeal("5", "1", at.Add(4*time.Second), time.Hour))
	if n := w.trades.calls - calls; n != 1 {
		t.Errorf("the batch asked about its positions %d times, want once", n)
	}
	w.closedBatch(t, w.account(gus), w.closingDeal("4", "0.7", at.Add(3*time.Second), time.Hour))
	b := w.bonuses(t, fay)[0]
	if b.Status != "released" || b.LotsDone.String() != "2.5" {
		t.Fatalf("Fay's bonus %s with %s lots, want released at 2.5 (the deal after the release not counted)", b.Status, b.LotsDone)
	}
	if got := w.balance(t, ledger.ClientWallet(fay, usd)); got != 20000 {
		t.Errorf("Fay's wallet %d, want 20000 (released once)", got)
	}
	if g := w.bonuses(t, gus)[0]; g.Status != "open" || g.LotsDone.String() != "0.7" {
		t.Fatalf("Gus's bonus %s with %s lots, want open at 0.7", g.Status, g.LotsDone)
	}
	// The same batch again (a redelivery under new event ids) counts nothing twice.
	w.closedBatch(t, w.account(gus), w.closingDeal("4", "0.7", at.Add(3*time.Second), time.Hour))
	if g := w.bonuses(t, gus)[0]; g.LotsDone.String() != "0.7" {
		t.Fatalf("redelivered deal counted twice: %s lots", g.LotsDone)
	}
}

func TestADealCancelledBeforeItsDealClosedArrivesNeverCounts(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.LotsPerUnit = dec("0.01")
	w.rule(t, "2nd deposit", terms)
	w.advance(time.Second)
	hal := w.client(t, "Hal", "GB", "standard")
	w.deposit(t, hal, 2, 40000)
	a := w.account(hal)
	at := w.clock().Add(time.Minute)
	d := w.closingDeal("9", "1.2", at, time.Hour)
	w.changed(t, a, d, nil, at.Add(time.Minute)) // the cancellation's event is delivered first
	w.closed(t, a, d)                            // then the batch holding the deal's deal_closed
	if b := w.bonuses(t, hal)[0]; !b.LotsDone.IsZero() {
		t.Fatalf("a deal cancelled before its deal_closed was delivered counts %s lots", b.LotsDone)
	}
	e := w.closingDeal("10", "1", at, time.Hour)
	updated := e
	updated.Volume = dec("0.4")
	w.changed(t, a, e, &updated, at.Add(time.Minute)) // an update delivered first counts the deal as it is now
	w.closed(t, a, e)
	if b := w.bonuses(t, hal)[0]; b.LotsDone.String() != "0.4" {
		t.Fatalf("an updated deal delivered out of order counts %s lots, want 0.4", b.LotsDone)
	}
}

func TestARuleWithAPromoCodeGrantsOnlyOnADepositStartedWithIt(t *testing.T) {
	t.Parallel()
	w := setup(t)
	terms := secondDeposit()
	terms.DepositNumber, terms.PromoCode = 0, "SPRING50"
	w.rule(t, "Spring campaign", terms)
	w.advance(time.Second)
	ida, ivo := w.client(t, "Ida", "GB", "standard"), w.client(t, "Ivo", "GB", "standard")
	e := payments.DepositCompleted{DepositID: uuid.New(), ClientID: ida, Amount: 20000, Currency: "USD", Exponent: 2, DepositNumber: 1,
		GatewayID: uuid.New(), GatewayKind: "stripe", LedgerTx: uuid.New(), PromoCode: "spring50"} // as typed: compared without case
	w.redeliver(t, e)
	w.deposit(t, ivo, 1, 20000) // no code typed
	if bs := w.bonuses(t, ida); len(bs) != 1 || bs[0].Amount.Minor != 10000 {
		t.Fatalf("Ida typed the code and has %+v, want one bonus of 100.00", bs)
	}
	if bs := w.bonuses(t, ivo); len(bs) != 0 {
		t.Fatalf("Ivo typed no code and has %+v", bs)
	}
}
