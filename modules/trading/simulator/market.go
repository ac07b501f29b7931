package simulator

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// symbol is one tradable instrument. Prices are kept as integer points (the smallest price step), so the random
// walk and the spread are integer arithmetic and every price is an exact decimal: points * 10^-Digits.
type symbol struct {
	Name         string
	Base, Quote  string
	Digits       int32
	ContractSize int64
	// Forex margin is lots*contract/leverage in the base currency; CFD margin (gold) is lots*contract*price/leverage
	// in the quote currency, as MT5's two most common margin modes do it.
	CFD          bool
	SpreadPoints int64
	StartBid     int64
	MaxStep      int64 // largest move of the bid in one activity tick, in points
	MinBid       int64 // the walk never goes below this, so prices stay positive and plausible
}

func symbols() []symbol {
	return []symbol{
		{Name: "EURUSD", Base: "EUR", Quote: "USD", Digits: 5, ContractSize: 100_000, SpreadPoints: 10, StartBid: 108_500, MaxStep: 15, MinBid: 50_000},
		{Name: "GBPUSD", Base: "GBP", Quote: "USD", Digits: 5, ContractSize: 100_000, SpreadPoints: 14, StartBid: 127_000, MaxStep: 20, MinBid: 60_000},
		{Name: "USDJPY", Base: "USD", Quote: "JPY", Digits: 3, ContractSize: 100_000, SpreadPoints: 12, StartBid: 150_000, MaxStep: 20, MinBid: 50_000},
		{Name: "XAUUSD", Base: "XAU", Quote: "USD", Digits: 2, ContractSize: 100, CFD: true, SpreadPoints: 30, StartBid: 235_000, MaxStep: 150, MinBid: 50_000},
	}
}

func symbolByName(name string) (symbol, bool) {
	i := slices.IndexFunc(symbols(), func(s symbol) bool { return s.Name == name })
	if i < 0 {
		return symbol{}, false
	}
	return symbols()[i], true
}

// quotes are the current bids, in points, by symbol name.
type quotes map[string]int64

func (q quotes) bid(s symbol) decimal.Decimal { return decimal.New(q[s.Name], -s.Digits) }

func (q quotes) ask(s symbol) decimal.Decimal {
	return decimal.New(q[s.Name]+s.SpreadPoints, -s.Digits)
}

// mid is exact: half a point more digits than the symbol has.
func (q quotes) mid(s symbol) decimal.Decimal {
	return decimal.New(2*q[s.Name]+s.SpreadPoints, -s.Digits).Div(decimal.NewFromInt(2))
}

// convPrecision is how many decimals an intermediate conversion keeps before the final rounding to the account
// currency's cents; far more than any rate or amount here carries.
const convPrecision = 12

// convert turns an amount from one currency to another at mid prices, directly through a symbol that quotes the
// pair, or through USD. The result keeps convPrecision decimals; callers round once, at the end.
func (q quotes) convert(amount decimal.Decimal, from, to string) (decimal.Decimal, error) {
	if from == to {
		return amount, nil
	}
	for _, s := range symbols() {
		switch {
		case s.Base == from && s.Quote == to:
			return amount.Mul(q.mid(s)), nil
		case s.Base == to && s.Quote == from:
			return amount.DivRound(q.mid(s), convPrecision), nil
		}
	}
	if from != "USD" && to != "USD" {
		usd, err := q.convert(amount, from, "USD")
		if err != nil {
			return decimal.Decimal{}, err
		}
		return q.convert(usd, "USD", to)
	}
	return decimal.Decimal{}, fmt.Errorf("no price converts %s to %s", from, to)
}

// positionMargin is the margin one position holds, in the account currency, rounded to its cents. Margin uses the
// price the position would open at now (ask for a buy, bid for a sell).
func positionMargin(q quotes, s symbol, side trading.Side, lots decimal.Decimal, leverage int, ccy string) (decimal.Decimal, error) {
	if leverage < 1 {
		return decimal.Decimal{}, fmt.Errorf("leverage %d", leverage)
	}
	units := lots.Mul(decimal.NewFromInt(s.ContractSize))
	lev := decimal.NewFromInt(int64(leverage))
	var amount decimal.Decimal
	var in string
	if s.CFD {
		price := q.ask(s)
		if side == trading.Sell {
			price = q.bid(s)
		}
		amount, in = units.Mul(price).DivRound(lev, convPrecision), s.Quote
	} else {
		amount, in = units.DivRound(lev, convPrecision), s.Base
	}
	m, err := q.convert(amount, in, ccy)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return roundMoney(m, ccy), nil
}

// closePrice is where a position would close now: a buy sells at the bid, a sell buys back at the ask.
func closePrice(q quotes, s symbol, side trading.Side) decimal.Decimal {
	if side == trading.Buy {
		return q.bid(s)
	}
	return q.ask(s)
}

// openPrice is where a new position opens now.
func openPrice(q quotes, s symbol, side trading.Side) decimal.Decimal {
	if side == trading.Buy {
		return q.ask(s)
	}
	return q.bid(s)
}

// positionProfit is the profit of closing at price, in the account currency, rounded to its cents. The quote
// currency profit is converted at current mid prices, as MT5 does for floating profit.
func positionProfit(q quotes, s symbol, side trading.Side, lots, open, price decimal.Decimal, ccy string) (decimal.Decimal, error) {
	diff := price.Sub(open)
	if side == trading.Sell {
		diff = diff.Neg()
	}
	inQuote := diff.Mul(lots).Mul(decimal.NewFromInt(s.ContractSize))
	p, err := q.convert(inQuote, s.Quote, ccy)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return roundMoney(p, ccy), nil
}

func roundMoney(d decimal.Decimal, ccy string) decimal.Decimal {
	digits, _ := currencyDigits(ccy)
	return d.Round(digits)
}

// commission is the (negative) charge for one deal of lots in a group.
func commission(g Group, lots decimal.Decimal) decimal.Decimal {
	return roundMoney(g.CommissionPerLot.Mul(lots), g.Currency).Neg()
}

// swapCharge is the (negative) swap for holding lots from opened to closed: one charge per UTC midnight crossed.
func swapCharge(g Group, lots decimal.Decimal, opened, closed time.Time) decimal.Decimal {
	if g.SwapFree || g.SwapPerLotNight.IsZero() {
		return decimal.Zero
	}
	o := opened.UTC().Truncate(24 * time.Hour)
	c := closed.UTC().Truncate(24 * time.Hour)
	nights := int64(c.Sub(o) / (24 * time.Hour))
	if nights <= 0 {
		return decimal.Zero
	}
	return roundMoney(g.SwapPerLotNight.Mul(lots).Mul(decimal.NewFromInt(nights)), g.Currency).Neg()
}
