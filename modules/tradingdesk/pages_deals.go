package tradingdesk

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// The deals of an account (docs/trading/desk.md, "Deals of an account"), reached from the client page's Trading
// tab: the account in one line and its synced deals, newest first, in one dense table.
//
//	/backoffice/trading/accounts/:id/deals   ?from=&to= (dates), symbol=, kind=trades|money|all, cancelled=on, cursor=

const accountsPath = "/backoffice/trading/accounts/"

// dealsPath is the deals page of an account.
func dealsPath(id string) string { return accountsPath + id + "/deals" }

func (p *pages) mountDealPages(shell *web.Shell) {
	p.dealCursors = web.NewCursors([]byte("brokerdesk trading account deals page cursor v1 (positions only)"))
	shell.Page(fiber.MethodGet, accountsPath+":id/deals", PermRead, p.accountDeals)
}

type dealLine struct {
	Time, Ticket, Action, Entry, Symbol, Volume, Price, Profit, Commission, Swap, Comment string
	Cancelled, Changed, Before                                                            string
}

type dealsPage struct {
	Client, ClientHref, Login, Server, Kind, Type, Currency, Leverage, Status string
	Balance, Equity, StateAt                                                  string
	From, To, Symbol, KindFilter                                              string
	Kinds                                                                     []offerOption
	Cancelled                                                                 bool
	Rows                                                                      []dealLine
	Next, Action, Error                                                       string
	Problems                                                                  []string
}

// actionWords are a deal's action in words.
var actionWords = map[trading.DealAction]string{
	trading.ActionBuy: "buy", trading.ActionSell: "sell", trading.ActionBalance: "balance", trading.ActionCredit: "credit",
	trading.ActionCharge: "charge", trading.ActionCorrection: "correction", trading.ActionBonus: "bonus",
	trading.ActionCommission: "commission", trading.ActionAgent: "agent commission", trading.ActionOther: "other",
}

var entryWords = map[trading.DealEntry]string{trading.EntryIn: "in", trading.EntryOut: "out", trading.EntryInOut: "in-out", trading.EntryOutBy: "out by"}

func dealAction(a trading.DealAction) string {
	if w, ok := actionWords[a]; ok {
		return w
	}
	return strings.ReplaceAll(string(a), "_", " ")
}

// moneyIn is an exact stored amount with its currency.
func moneyIn(d decimal.Decimal, currency string) string { return d.String() + " " + currency }

// beforeWords is what a changed deal was, for the row's title.
func beforeWords(p *Deal, currency string) string {
	if p == nil {
		return ""
	}
	parts := []string{"Before: " + dealAction(p.Action)}
	if w := entryWords[p.Entry]; w != "" {
		parts = append(parts, w)
	}
	if p.Symbol != "" {
		parts = append(parts, p.Symbol)
	}
	parts = append(parts, p.Volume.String()+" lots at "+p.Price.String(), "profit "+moneyIn(p.Profit, currency),
		"commission "+moneyIn(p.Commission, currency), "swap "+moneyIn(p.Swap, currency), when(&p.Time))
	if p.Comment != "" {
		parts = append(parts, strconv.Quote(p.Comment))
	}
	return strings.Join(parts, ", ")
}

func dealLines(list []StoredDeal, currency string) []dealLine {
	out := make([]dealLine, 0, len(list))
	for _, d := range list {
		l := dealLine{Time: when(&d.Time), Ticket: d.Ticket, Action: dealAction(d.Action), Entry: entryWords[d.Entry], Symbol: d.Symbol,
			Volume: d.Volume.String(), Price: d.Price.String(), Profit: moneyIn(d.Profit, currency), Commission: moneyIn(d.Commission, currency),
			Swap: moneyIn(d.Swap, currency), Comment: d.Comment, Before: beforeWords(d.Previous, currency)}
		if d.CancelledAt != nil {
			l.Cancelled = when(d.CancelledAt)
		} else if d.ChangedAt != nil {
			l.Changed = when(d.ChangedAt)
		}
		out = append(out, l)
	}
	return out
}

func (p *pages) accountDeals(c *fiber.Ctx) error {
	a, cl, err := p.s.staffAccount(c)
	if err != nil {
		return err
	}
	id := a.ID.String()
	d := dealsPage{Client: cl.Name(), ClientHref: clientPagePath + a.ClientID.String(), Login: a.Login, Server: a.ServerName, Kind: kindWord(a.Live),
		Type: a.TypeName, Currency: a.Currency.Code, Leverage: "1:" + strconv.Itoa(a.Leverage), Status: a.Status, StateAt: when(a.StateAt),
		From: c.Query("from"), To: c.Query("to"), Symbol: c.Query("symbol"), KindFilter: c.Query("kind"), Cancelled: c.Query("cancelled") != "",
		Action: dealsPath(id)}
	if a.Balance != nil {
		d.Balance = a.Balance.String()
	}
	if a.Equity != nil {
		d.Equity = a.Equity.String()
	}
	for _, k := range []struct{ v, label string }{{"", "All deals"}, {"trades", "Trades"}, {"money", "Money movements"}} {
		d.Kinds = append(d.Kinds, offerOption{Value: k.v, Label: k.label, Selected: k.v == d.KindFilter || k.v == "" && d.KindFilter == "all"})
	}
	list, limit, err := p.s.accountDealsPage(c, p.dealCursors, a)
	if err != nil {
		lines, status, ok := problemLinesOf(err)
		if !ok {
			return err
		}
		d.Error, d.Problems = "That filter or page link is not valid:", lines
		return p.shell.Render(c, status, "tradingdesk_deals", "Deals of "+a.Login, d)
	}
	page, err := web.MakePaged(p.dealCursors, list, limit, dealCursorOf)
	if err != nil {
		return err
	}
	d.Rows = dealLines(page.Items, a.Currency.Code)
	if page.NextCursor != nil {
		v := url.Values{"cursor": {*page.NextCursor}}
		for _, k := range []string{"from", "to", "symbol", "kind", "cancelled", "limit"} {
			if x := c.Query(k); x != "" {
				v.Set(k, x)
			}
		}
		d.Next = dealsPath(id) + "?" + v.Encode()
	}
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_deals", "Deals of "+a.Login, d)
}
