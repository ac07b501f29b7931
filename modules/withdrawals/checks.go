package withdrawals

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// The checks of a withdrawal: one pure function (Evaluate) over what the request's transaction read, so every rule
// is table-tested. Each check answers pass, review (compliance decides first) or block (it cannot be approved;
// finance refuses it with the reason), with a sentence a person reads, recorded on the withdrawal
// (withdrawal_checks). The amount limits of the tier refuse a request before anything is held (LimitError);
// their row records which limits the amount was held to.

// Outcome is a check's answer.
type Outcome string

const (
	Pass   Outcome = "pass"
	Review Outcome = "review"
	Block  Outcome = "block"
)

// Names of the checks, in the order they are shown.
const (
	CheckKYC       = "kyc"
	CheckDocuments = "documents"
	CheckBonus     = "bonus"
	CheckSource    = "return_to_source"
	CheckLimits    = "limits"
	CheckVelocity  = "velocity"
	CheckTrading   = "trading_after_deposit"
)

// CheckLabel is a check's name in words.
func CheckLabel(name string) string {
	switch name {
	case CheckKYC:
		return "KYC approved"
	case CheckDocuments:
		return "Documents valid"
	case CheckBonus:
		return "No open bonus forfeited"
	case CheckSource:
		return "Return to source"
	case CheckLimits:
		return "Amount limits"
	case CheckVelocity:
		return "Velocity"
	case CheckTrading:
		return "Trading since the last deposit"
	}
	return name
}

// Check is one check's answer.
type Check struct {
	Name    string
	Outcome Outcome
	Answer  string
	Detail  map[string]any
}

// LegKind is how one part of the money goes back.
type LegKind string

const (
	LegCardRefund LegKind = "card_refund" // a refund of a card payment through its gateway
	LegBank       LegKind = "bank"        // a manual bank payout
	LegGateway    LegKind = "gateway"     // a payout through a generic gateway
)

// Leg is one part of the payout.
type Leg struct {
	Kind        LegKind
	Amount      money.Amount
	DepositID   uuid.UUID // a card refund's deposit
	GatewaySlug string
	ExternalID  string // a card refund's payment (pi_...)
	Status      string
	Reference   string // the processor's refund id or the bank's reference, once paid
}

// Inputs is everything Evaluate looks at, read in the request's transaction.
type Inputs struct {
	Amount money.Amount
	Method string // where the rest goes: bank or a gateway's slug
	Client clients.Client
	Docs   []documents.Document
	// Forfeits is what the withdrawal forfeits of the client's open bonuses (Bonuses.ForfeitsTx), and
	// ForfeitConfirmed whether the client confirmed giving it up.
	Forfeits         []Forfeit
	ForfeitConfirmed bool
	// BonusEngine is false while no bonus engine is installed (NoBonuses).
	BonusEngine bool
	MoneyIn     payments.MoneyIn
	// Refunded is what earlier open or paid withdrawals already take back from each card deposit.
	Refunded map[uuid.UUID]int64
	// Recent is the client's other withdrawals in the 24 hours before, not cancelled, refused, failed or expired: how
	// many (in every currency) and the sum of those in this currency (minor units).
	RecentCount int
	RecentSum   int64
	// LotsSinceDeposit are the lots the client closed since their last deposit in this currency.
	LotsSinceDeposit decimal.Decimal
	Settings         Settings
	Now              time.Time
}

// LimitError refuses an amount outside the tier's bounds (422 naming amount).
type LimitError struct{ Message string }

func (e *LimitError) Error() string { return e.Message }

// CheckAmount refuses an amount outside the per-withdrawal bounds of the client's tier.
func CheckAmount(st Settings, tier string, a money.Amount) error {
	l, ok := st.LimitsOf(tier).Amounts[a.Currency.Code]
	if !ok {
		return nil
	}
	if l.Min > 0 && a.Minor < l.Min {
		return &LimitError{"at least " + money.Amount{Minor: l.Min, Currency: a.Currency}.String() + " a withdrawal"}
	}
	if l.Max > 0 && a.Minor > l.Max {
		return &LimitError{"at most " + money.Amount{Minor: l.Max, Currency: a.Currency}.String() + " a withdrawal"}
	}
	return nil
}

// Evaluate answers every check and plans the payout's legs.
func Evaluate(in Inputs) ([]Check, []Leg) {
	legs, source := planLegs(in)
	return []Check{kycCheck(in), documentsCheck(in), bonusCheck(in), source, limitsCheck(in), velocityCheck(in), tradingCheck(in)}, legs
}

func day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

func kycCheck(in Inputs) Check {
	c := in.Client
	ok := c.Status == clients.StatusKYCApproved || (c.Status == clients.StatusRestricted && c.KYCApprovedAt != nil)
	switch {
	case ok && c.KYCApprovedAt != nil:
		return Check{Name: CheckKYC, Outcome: Pass, Answer: "KYC approved on " + day(*c.KYCApprovedAt) + "."}
	case ok:
		return Check{Name: CheckKYC, Outcome: Pass, Answer: "KYC approved."}
	}
	return Check{Name: CheckKYC, Outcome: Block, Answer: "KYC is not approved (the client is " + strings.ReplaceAll(string(c.Status), "_", " ") + ")."}
}

// documentsCheck blocks when a document type the client had approved has expired and no approved, unexpired one of
// that type replaced it.
func documentsCheck(in Inputs) Check {
	today := in.Now.UTC().Truncate(24 * time.Hour)
	valid := map[documents.Type]bool{}
	expired := map[documents.Type]time.Time{}
	for _, d := range in.Docs {
		switch {
		case d.Status == documents.StatusApproved && (d.ExpiresOn == nil || !d.ExpiresOn.Before(today)):
			valid[d.Type] = true
		case d.Status == documents.StatusExpired || (d.Status == documents.StatusApproved && d.ExpiresOn != nil):
			on := today
			if d.ExpiresOn != nil {
				on = *d.ExpiresOn
			}
			if prev, seen := expired[d.Type]; !seen || on.After(prev) {
				expired[d.Type] = on
			}
		}
	}
	var gone []string
	for typ, on := range expired {
		if !valid[typ] {
			gone = append(gone, typ.Label()+" (expired "+day(on)+")")
		}
	}
	slices.Sort(gone)
	if len(gone) > 0 {
		return Check{Name: CheckDocuments, Outcome: Block, Answer: "Expired and not replaced: " + strings.Join(gone, ", ") + "."}
	}
	return Check{Name: CheckDocuments, Outcome: Pass, Answer: "No approved document has expired."}
}

// bonusCheck passes when the withdrawal forfeits nothing, or when the client confirmed giving up what it forfeits
// (the request refuses it unconfirmed; the block stays for an unconfirmed one reaching it any other way).
func bonusCheck(in Inputs) Check {
	if len(in.Forfeits) == 0 {
		if !in.BonusEngine {
			return Check{Name: CheckBonus, Outcome: Pass, Answer: "No open bonus: no bonus engine is installed, so none was ever granted."}
		}
		return Check{Name: CheckBonus, Outcome: Pass, Answer: "No open bonus."}
	}
	lines := strings.Join(ForfeitLines(in.Forfeits), "; ")
	lines = strings.ReplaceAll(lines, "your bonus", "the bonus")
	if !in.ForfeitConfirmed {
		return Check{Name: CheckBonus, Outcome: Block, Detail: forfeitDetail(in.Forfeits),
			Answer: "The withdrawal would forfeit open bonuses the client has not confirmed giving up: " + lines + "."}
	}
	return Check{Name: CheckBonus, Outcome: Pass, Detail: forfeitDetail(in.Forfeits),
		Answer: "The client confirmed giving up " + lines + "; the bonus engine forfeited it with the request, and it stands whatever becomes of the withdrawal."}
}

// planLegs is return to source: the client's card payments (Stripe) are refunded first, oldest first, each up to
// what it paid less what earlier withdrawals already take back from it; the rest goes by the withdrawal's method.
func planLegs(in Inputs) ([]Leg, Check) {
	left := in.Amount.Minor
	var legs []Leg
	var words []string
	for _, d := range in.MoneyIn.Deposits {
		if left == 0 {
			break
		}
		if !d.Refundable() {
			continue
		}
		room := d.Amount.Minor - in.Refunded[d.ID]
		if room <= 0 {
			continue
		}
		take := min(room, left)
		left -= take
		amt := money.Amount{Minor: take, Currency: in.Amount.Currency}
		legs = append(legs, Leg{Kind: LegCardRefund, Amount: amt, DepositID: d.ID, GatewaySlug: d.GatewaySlug, ExternalID: d.PaymentID, Status: "planned"})
		words = append(words, fmt.Sprintf("%s back to the card that paid the deposit of %s through %s", amt, day(d.CompletedAt), d.GatewayName))
	}
	if left > 0 {
		amt := money.Amount{Minor: left, Currency: in.Amount.Currency}
		if in.Method == MethodBank || in.Method == "" {
			legs = append(legs, Leg{Kind: LegBank, Amount: amt, Status: "planned"})
			words = append(words, amt.String()+" by bank transfer")
		} else {
			legs = append(legs, Leg{Kind: LegGateway, Amount: amt, GatewaySlug: in.Method, Status: "planned"})
			words = append(words, amt.String()+" through "+in.Method)
		}
	}
	answer := strings.Join(words, "; ") + "."
	if len(legs) == 1 && legs[0].Kind != LegCardRefund {
		answer = "No card payment to refund first: " + answer
	}
	return legs, Check{Name: CheckSource, Outcome: Pass, Answer: answer}
}

func limitsCheck(in Inputs) Check {
	tier := in.Client.Tier
	if tier == "" {
		tier = "default"
	}
	l, ok := in.Settings.LimitsOf(in.Client.Tier).Amounts[in.Amount.Currency.Code]
	if !ok || (l.Min == 0 && l.Max == 0) {
		return Check{Name: CheckLimits, Outcome: Pass, Answer: "The " + tier + " tier has no per-withdrawal limit in " + in.Amount.Currency.Code + "."}
	}
	bound := func(v int64) string {
		if v == 0 {
			return "no bound"
		}
		return money.Amount{Minor: v, Currency: in.Amount.Currency}.String()
	}
	return Check{Name: CheckLimits, Outcome: Pass, Answer: fmt.Sprintf("Within the %s tier's limits: %s to %s a withdrawal.", tier, bound(l.Min), bound(l.Max))}
}

func velocityCheck(in Inputs) Check {
	l := in.Settings.LimitsOf(in.Client.Tier)
	cur := in.Amount.Currency
	count, sum := in.RecentCount+1, in.RecentSum+in.Amount.Minor
	total := money.Amount{Minor: sum, Currency: cur}
	var over []string
	if l.DailyCount > 0 && count > l.DailyCount {
		over = append(over, fmt.Sprintf("%d withdrawals in 24 hours (the tier allows %d)", count, l.DailyCount))
	}
	if a, ok := l.Amounts[cur.Code]; ok && a.Daily > 0 && sum > a.Daily {
		over = append(over, fmt.Sprintf("%s in 24 hours (the tier allows %s)", total, money.Amount{Minor: a.Daily, Currency: cur}))
	}
	if len(over) > 0 {
		return Check{Name: CheckVelocity, Outcome: Review, Answer: "Over the tier's velocity: " + strings.Join(over, " and ") + ": compliance decides first.",
			Detail: map[string]any{"count": count, "sum": total.Decimal()}}
	}
	return Check{Name: CheckVelocity, Outcome: Pass, Answer: fmt.Sprintf("%d withdrawal(s), %s, in 24 hours with this one.", count, total),
		Detail: map[string]any{"count": count, "sum": total.Decimal()}}
}

// tradingCheck flags a withdrawal that follows a deposit with little or no trading: within FlagDays of the last
// deposit, fewer than FlagMinLots closed since it.
func tradingCheck(in Inputs) Check {
	st := in.Settings
	last := in.MoneyIn.Last()
	switch {
	case st.FlagDays == 0:
		return Check{Name: CheckTrading, Outcome: Pass, Answer: "The check is switched off for this brokerage."}
	case last == nil:
		return Check{Name: CheckTrading, Outcome: Pass, Answer: "No deposit in " + in.Amount.Currency.Code + " to compare with."}
	case in.Now.Sub(last.CompletedAt) > time.Duration(st.FlagDays)*24*time.Hour:
		return Check{Name: CheckTrading, Outcome: Pass, Answer: fmt.Sprintf("The last deposit (%s) is more than %d days old.", day(last.CompletedAt), st.FlagDays)}
	}
	lots := in.LotsSinceDeposit.String()
	detail := map[string]any{"last_deposit": last.ID, "lots": lots}
	if in.LotsSinceDeposit.LessThan(st.MinLots()) {
		return Check{Name: CheckTrading, Outcome: Review, Detail: detail, Answer: fmt.Sprintf(
			"Deposited %s on %s and closed %s lots since (fewer than %s): deposit and withdrawal with little trading, compliance decides first.",
			last.Amount, day(last.CompletedAt), lots, st.MinLots())}
	}
	return Check{Name: CheckTrading, Outcome: Pass, Detail: detail, Answer: fmt.Sprintf("Closed %s lots since the deposit of %s on %s.", lots,
		last.Amount, day(last.CompletedAt))}
}
