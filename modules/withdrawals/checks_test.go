package withdrawals_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func amt(minor int64) money.Amount { return money.Amount{Minor: minor, Currency: usd} }

// base is an approved client withdrawing 100.00 USD by bank, with no deposit, document, bonus or earlier withdrawal.
func base() withdrawals.Inputs {
	approved := now.AddDate(0, -2, 0)
	return withdrawals.Inputs{Amount: amt(100_00), Method: "bank", Now: now, Settings: withdrawals.DefaultSettings(),
		Client: clients.Client{Status: clients.StatusKYCApproved, KYCApprovedAt: &approved}, LotsSinceDeposit: decimal.Zero}
}

func outcomeOf(list []withdrawals.Check, name string) withdrawals.Check {
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	return withdrawals.Check{}
}

func TestEveryCheckAnswersByItsRule(t *testing.T) {
	t.Parallel()
	card := func(id uuid.UUID, minor int64, daysAgo int) payments.PaidDeposit {
		return payments.PaidDeposit{ID: id, GatewaySlug: "card", GatewayName: "Card", GatewayKind: "stripe", Amount: amt(minor),
			PaymentID: "pi_" + id.String()[:8], CompletedAt: now.AddDate(0, 0, -daysAgo)}
	}
	bank := payments.PaidDeposit{ID: uuid.New(), GatewaySlug: "bank", GatewayName: "Bank", GatewayKind: "manual", Amount: amt(1_000_00),
		CompletedAt: now.AddDate(0, 0, -1)}
	d1, d2 := uuid.New(), uuid.New()
	past, future := now.AddDate(0, 0, -1), now.AddDate(1, 0, 0)
	for _, c := range []struct {
		name    string
		change  func(*withdrawals.Inputs)
		check   string
		outcome withdrawals.Outcome
		answer  string
	}{
		{"approved KYC", nil, withdrawals.CheckKYC, withdrawals.Pass, "KYC approved on 7 Oct 2026"},
		{"KYC in review", func(in *withdrawals.Inputs) {
			in.Client.Status, in.Client.KYCApprovedAt = clients.StatusKYCSubmitted, nil
		},
			withdrawals.CheckKYC, withdrawals.Block, "kyc submitted"},
		{"restricted after approval", func(in *withdrawals.Inputs) { in.Client.Status = clients.StatusRestricted },
			withdrawals.CheckKYC, withdrawals.Pass, "KYC approved"},
		{"no documents", nil, withdrawals.CheckDocuments, withdrawals.Pass, "No approved document has expired"},
		{"an expired passport", func(in *withdrawals.Inputs) {
			in.Docs = []documents.Document{{Type: documents.TypePassport, Status: documents.StatusApproved, ExpiresOn: &past}}
		}, withdrawals.CheckDocuments, withdrawals.Block, "Passport (expired 6 Dec 2026)"},
		{"an expired passport replaced", func(in *withdrawals.Inputs) {
			in.Docs = []documents.Document{{Type: documents.TypePassport, Status: documents.StatusExpired, ExpiresOn: &past},
				{Type: documents.TypePassport, Status: documents.StatusApproved, ExpiresOn: &future}}
		}, withdrawals.CheckDocuments, withdrawals.Pass, "No approved document"},
		{"no bonus engine", nil, withdrawals.CheckBonus, withdrawals.Pass, "no bonus engine is installed"},
		{"an open bonus the withdrawal forfeits, unconfirmed", func(in *withdrawals.Inputs) {
			in.BonusEngine, in.Forfeits = true, []withdrawals.Forfeit{{Bonus: withdrawals.OpenBonus{Description: "50% on the 2nd deposit, 120.00 USD"},
				Amount: amt(24_00), Rule: "pro_rata", Why: "pro rata"}}
		}, withdrawals.CheckBonus, withdrawals.Block, "not confirmed giving up: 24.00 USD of the bonus 50% on the 2nd deposit"},
		{"an open bonus the withdrawal forfeits, confirmed", func(in *withdrawals.Inputs) {
			in.BonusEngine, in.ForfeitConfirmed = true, true
			in.Forfeits = []withdrawals.Forfeit{{Bonus: withdrawals.OpenBonus{Description: "50% on the 2nd deposit, 120.00 USD"}, Amount: amt(120_00),
				Full: true, Rule: "full", Why: "its rule forfeits the whole bonus on any withdrawal"}}
		}, withdrawals.CheckBonus, withdrawals.Pass, "The client confirmed giving up all of the bonus 50% on the 2nd deposit"},
		{"the bonus engine, no open bonus", func(in *withdrawals.Inputs) { in.BonusEngine = true }, withdrawals.CheckBonus, withdrawals.Pass, "No open bonus."},
		{"no card: all by bank", nil, withdrawals.CheckSource, withdrawals.Pass, "No card payment to refund first: 100.00 USD by bank transfer."},
		{"the card first, the rest by bank", func(in *withdrawals.Inputs) { in.MoneyIn.Deposits = []payments.PaidDeposit{card(d1, 60_00, 40)} },
			withdrawals.CheckSource, withdrawals.Pass, "60.00 USD back to the card that paid the deposit of 28 Oct 2026 through Card; 40.00 USD by bank transfer."},
		{"a card already refunded in part", func(in *withdrawals.Inputs) {
			in.MoneyIn.Deposits = []payments.PaidDeposit{card(d1, 60_00, 40), card(d2, 500_00, 35)}
			in.Refunded = map[uuid.UUID]int64{d1: 50_00}
		}, withdrawals.CheckSource, withdrawals.Pass, "10.00 USD back to the card that paid the deposit of 28 Oct 2026 through Card; 90.00 USD back to the card that paid the deposit of 2 Nov 2026"},
		{"the rest through a gateway", func(in *withdrawals.Inputs) { in.Method = "crypto" },
			withdrawals.CheckSource, withdrawals.Pass, "100.00 USD through crypto"},
		{"limits", nil, withdrawals.CheckLimits, withdrawals.Pass, "Within the default tier's limits: 10.00 USD to 50,000.00 USD a withdrawal."},
		{"the third today", func(in *withdrawals.Inputs) { in.RecentCount, in.RecentSum = 2, 200_00 },
			withdrawals.CheckVelocity, withdrawals.Pass, "3 withdrawal(s), 300.00 USD, in 24 hours"},
		{"the fourth today", func(in *withdrawals.Inputs) { in.RecentCount = 3 },
			withdrawals.CheckVelocity, withdrawals.Review, "4 withdrawals in 24 hours (the tier allows 3)"},
		{"over the daily amount", func(in *withdrawals.Inputs) { in.RecentSum = 99_950_00 },
			withdrawals.CheckVelocity, withdrawals.Review, "100,050.00 USD in 24 hours (the tier allows 100,000.00 USD)"},
		{"no deposit", nil, withdrawals.CheckTrading, withdrawals.Pass, "No deposit in USD"},
		{"a deposit yesterday, no trading", func(in *withdrawals.Inputs) { in.MoneyIn.Deposits = []payments.PaidDeposit{bank} },
			withdrawals.CheckTrading, withdrawals.Review, "closed 0 lots since (fewer than 1)"},
		{"a deposit yesterday, 1 lot", func(in *withdrawals.Inputs) {
			in.MoneyIn.Deposits, in.LotsSinceDeposit = []payments.PaidDeposit{bank}, decimal.NewFromInt(1)
		}, withdrawals.CheckTrading, withdrawals.Pass, "Closed 1 lots"},
		{"a deposit 31 days ago", func(in *withdrawals.Inputs) { in.MoneyIn.Deposits = []payments.PaidDeposit{card(d1, 10_00, 31)} },
			withdrawals.CheckTrading, withdrawals.Pass, "more than 30 days old"},
		{"the check off", func(in *withdrawals.Inputs) {
			in.MoneyIn.Deposits, in.Settings.FlagDays = []payments.PaidDeposit{bank}, 0
		}, withdrawals.CheckTrading, withdrawals.Pass, "switched off"},
	} {
		in := base()
		if c.change != nil {
			c.change(&in)
		}
		checks, _ := withdrawals.Evaluate(in)
		got := outcomeOf(checks, c.check)
		if got.Outcome != c.outcome || !strings.Contains(got.Answer, c.answer) {
			t.Errorf("%s: %s %q, want %s containing %q", c.name, got.Outcome, got.Answer, c.outcome, c.answer)
		}
	}
}

func TestTheLegsAddUpToTheAmountToTheMinorUnit(t *testing.T) {
	t.Parallel()
	in := base()
	in.Amount = amt(123_45)
	for i := range 3 {
		id := uuid.New()
		in.MoneyIn.Deposits = append(in.MoneyIn.Deposits, payments.PaidDeposit{ID: id, GatewayKind: "stripe", PaymentID: "pi_x",
			Amount: amt(int64(33_33 + i)), CompletedAt: now})
	}
	_, legs := withdrawals.Evaluate(in)
	var sum int64
	for _, l := range legs {
		sum += l.Amount.Minor
	}
	if sum != 123_45 || len(legs) != 4 || legs[0].Amount.Minor != 33_33 || legs[2].Amount.Minor != 33_35 || legs[3].Amount.Minor != 123_45-100_02 ||
		legs[3].Kind != withdrawals.LegBank {
		t.Errorf("legs %+v (sum %d)", legs, sum)
	}
}

func TestTheTiersAmountLimitsRefuseOutsideThem(t *testing.T) {
	t.Parallel()
	st := withdrawals.DefaultSettings()
	st.Tiers["vip"] = withdrawals.Limits{Amounts: map[string]withdrawals.AmountLimits{"USD": {Min: 0, Max: 1_000_000_00}}}
	for _, c := range []struct {
		tier  string
		minor int64
		want  string
	}{
		{"", 9_99, "at least 10.00 USD"}, {"", 10_00, ""}, {"", 50_000_00, ""}, {"", 50_000_01, "at most 50,000.00 USD"},
		{"standard", 9_99, "at least 10.00 USD"}, {"vip", 1, ""}, {"vip", 1_000_000_01, "at most 1,000,000.00 USD"},
	} {
		err := withdrawals.CheckAmount(st, c.tier, amt(c.minor))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) || (c.want == "") != (err == nil) {
			t.Errorf("tier %q, %d: %v, want %q", c.tier, c.minor, err, c.want)
		}
	}
	jpy := money.MustLookup("JPY")
	if err := withdrawals.CheckAmount(st, "", money.Amount{Minor: 1, Currency: jpy}); err != nil {
		t.Errorf("a currency without limits: %v", err)
	}
}
