package simulator

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Group is an account type on the simulated server, the way MT5 has them: the group fixes the currency, whether
// swaps are charged, the largest leverage and the commission. Swap-free groups are twins of a standard group, which
// is how SetSwapFree moves an account (Capabilities.SwapFree is SwapFreeByGroup, as on MT5).
type Group struct {
	Name        string
	Currency    string
	SwapFree    bool
	MaxLeverage int
	// SwapFreeTwin names the swap-free group an account of this group moves to, and the twin names its standard
	// group back. Empty when the group has no twin (SetSwapFree then answers ErrUnsupported).
	SwapFreeTwin string
	// CommissionPerLot is charged on every deal, in and out, in the group's currency.
	CommissionPerLot decimal.Decimal
	// SwapPerLotNight is charged (as a negative swap) for each UTC midnight a position is held, unless SwapFree.
	SwapPerLotNight decimal.Decimal
}

// DefaultGroups are the groups a demo brokerage starts with.
func DefaultGroups() []Group {
	std := decimal.RequireFromString("3.50")
	pro := decimal.RequireFromString("2.50")
	swap := decimal.RequireFromString("4.20")
	return []Group{
		{Name: "standard-usd", Currency: "USD", MaxLeverage: 500, SwapFreeTwin: "standard-usd-swapfree", CommissionPerLot: std, SwapPerLotNight: swap},
		{Name: "standard-usd-swapfree", Currency: "USD", SwapFree: true, MaxLeverage: 500, SwapFreeTwin: "standard-usd", CommissionPerLot: std},
		{Name: "standard-eur", Currency: "EUR", MaxLeverage: 500, SwapFreeTwin: "standard-eur-swapfree", CommissionPerLot: std, SwapPerLotNight: swap},
		{Name: "standard-eur-swapfree", Currency: "EUR", SwapFree: true, MaxLeverage: 500, SwapFreeTwin: "standard-eur", CommissionPerLot: std},
		{Name: "pro-usd", Currency: "USD", MaxLeverage: 200, SwapFreeTwin: "pro-usd-swapfree", CommissionPerLot: pro, SwapPerLotNight: swap},
		{Name: "pro-usd-swapfree", Currency: "USD", SwapFree: true, MaxLeverage: 200, SwapFreeTwin: "pro-usd", CommissionPerLot: pro},
	}
}

// groupIndex checks a group configuration once at Open, so no operation has to wonder whether a twin exists.
func groupIndex(groups []Group) (map[string]Group, error) {
	idx := make(map[string]Group, len(groups))
	for _, g := range groups {
		if g.Name == "" {
			return nil, fmt.Errorf("simulator: a group has no name")
		}
		if _, dup := idx[g.Name]; dup {
			return nil, fmt.Errorf("simulator: group %q configured twice", g.Name)
		}
		if _, ok := currencyDigits(g.Currency); !ok {
			return nil, fmt.Errorf("simulator: group %q has currency %q, want one of USD, EUR, GBP, JPY", g.Name, g.Currency)
		}
		if g.MaxLeverage < 1 {
			return nil, fmt.Errorf("simulator: group %q has max leverage %d", g.Name, g.MaxLeverage)
		}
		if g.CommissionPerLot.IsNegative() || g.SwapPerLotNight.IsNegative() {
			return nil, fmt.Errorf("simulator: group %q has a negative commission or swap rate; charges are signed by the simulator", g.Name)
		}
		idx[g.Name] = g
	}
	for _, g := range groups {
		if g.SwapFreeTwin == "" {
			continue
		}
		twin, ok := idx[g.SwapFreeTwin]
		if !ok {
			return nil, fmt.Errorf("simulator: group %q names twin %q, which is not configured", g.Name, g.SwapFreeTwin)
		}
		if twin.SwapFree == g.SwapFree || twin.Currency != g.Currency || twin.SwapFreeTwin != g.Name {
			return nil, fmt.Errorf("simulator: groups %q and %q are not swap-free twins (same currency, one swap-free, naming each other)", g.Name, twin.Name)
		}
	}
	return idx, nil
}

// currencyDigits is how many decimals money has in each account currency the simulator can convert into.
func currencyDigits(ccy string) (int32, bool) {
	switch ccy {
	case "USD", "EUR", "GBP":
		return 2, true
	case "JPY":
		return 0, true
	}
	return 0, false
}
