package payments

import (
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The client page's money (the shell's client hub): the balances in the page's header, and a "Money" tab with the
// wallets, the last deposits, the open cases about the client and the links to the whole history; and the client's
// wallet page with each wallet's ledger history, paged.

func (p *pages) mountHub() {
	p.shell.HubSummary(clients.ClientHub, web.HubSummary{ID: "balances", Order: 50, Permission: PermRead, Label: "Wallet balances",
		Facts: p.balanceFacts})
	p.shell.HubSection(clients.ClientHub, web.HubSection{ID: "money", Label: "Money", Order: 40, Permission: PermRead,
		Hint: "Wallets, deposits and payment cases", Render: p.moneyTab})
}

func clientWalletPath(id uuid.UUID) string { return clientPagePath + id.String() + "/wallet" }

// balanceFacts are the client's wallets in the header, one query (the ledger's balances of the client).
func (p *pages) balanceFacts(c *fiber.Ctx, client uuid.UUID) ([]web.HubFact, error) {
	list, err := p.s.o.Ledger.ClientBalances(c.UserContext(), tenants.Current(c), client)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return []web.HubFact{{Label: "Wallet", Value: "No deposits yet"}}, nil
	}
	out := make([]web.HubFact, 0, len(list))
	for _, b := range list {
		cur := b.Account.Currency
		f := web.HubFact{Label: cur.Code + " wallet", Value: money.Grouped(b.Posted, cur),
			Href: clientWalletPath(client) + "?" + url.Values{"currency": {cur.Code}}.Encode()}
		if b.PendingDebits != 0 {
			f.Hint, f.Tone = "available "+money.Grouped(b.Available(), cur)+", "+money.Grouped(b.PendingDebits, cur)+" held", web.ToneWarn
		}
		out = append(out, f)
	}
	return out, nil
}

type walletRow struct {
	Currency, Posted, Pending, Available, Href string
}

type moneyTab struct {
	Wallets                          []walletRow
	Deposits                         []depositRow
	Cases                            []caseRow
	AllDeposits, History, RecordHref string
}

func walletRows(client uuid.UUID, list []ledger.Balance) []walletRow {
	out := make([]walletRow, 0, len(list))
	for _, b := range list {
		cur := b.Account.Currency
		out = append(out, walletRow{Currency: cur.Code, Posted: money.Grouped(b.Posted, cur), Pending: money.Grouped(b.PendingDebits, cur),
			Available: money.Grouped(b.Available(), cur), Href: clientWalletPath(client) + "?" + url.Values{"currency": {cur.Code}}.Encode()})
	}
	return out
}

// moneyTab draws the "Money" tab. The hub's owner has checked that the viewer may see the client.
func (p *pages) moneyTab(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	balances, err := p.s.o.Ledger.ClientBalances(ctx, t, client)
	if err != nil {
		return "", err
	}
	m, err := p.s.clientMoney(ctx, t, client, 10)
	if err != nil {
		return "", err
	}
	d := moneyTab{Wallets: walletRows(client, balances), AllDeposits: depositsPath + "?" + url.Values{"client": {client.String()}}.Encode(),
		History: clientWalletPath(client)}
	if p.may(c, PermApprove) {
		d.RecordHref = newDepositPath + "?" + url.Values{"client": {client.String()}}.Encode()
	}
	if d.Deposits, err = p.depositRows(ctx, t, m.Deposits); err != nil {
		return "", err
	}
	var staffIDs []uuid.UUID
	for _, cs := range m.Cases {
		if cs.AssigneeID != nil {
			staffIDs = append(staffIDs, *cs.AssigneeID)
		}
	}
	n, err := p.s.names(ctx, t, []uuid.UUID{client}, staffIDs)
	if err != nil {
		return "", err
	}
	now := p.s.o.Now()
	for _, cs := range m.Cases {
		d.Cases = append(d.Cases, p.caseRowOf(cs, n, now))
	}
	return p.shell.Fragment(c, "payments_hub", d)
}

type clientWalletPage struct {
	Client, ClientHref, Currency string
	Wallets                      []walletRow
	History                      []historyRow
	Next, AllDeposits            string
}

// clientWallet is a client's wallets and one wallet's ledger history, newest first, paged.
func (p *pages) clientWallet(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	client, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such client.")
	}
	r, err := p.reachOf(c)
	if err != nil {
		return err
	}
	n, err := p.s.names(ctx, t, []uuid.UUID{client}, nil)
	if err != nil {
		return err
	}
	if _, ok := n.clients[client.String()]; !ok || !r.sees(client) {
		return web.NotFound("No such client.")
	}
	balances, err := p.s.o.Ledger.ClientBalances(ctx, t, client)
	if err != nil {
		return err
	}
	d := clientWalletPage{Client: n.client(client), ClientHref: clientPagePath + client.String(), Wallets: walletRows(client, balances),
		AllDeposits: depositsPath + "?" + url.Values{"client": {client.String()}}.Encode(), Currency: strings.ToUpper(c.Query("currency"))}
	current := walletOf(balances, d.Currency)
	if current != nil {
		d.Currency = current.Account.Currency.Code
		if d.History, d.Next, err = p.history(c, *current, 50, clientWalletPath(client)); err != nil {
			return err
		}
	}
	return p.shell.Render(c, fiber.StatusOK, "payments_client_wallet", "Wallets of "+d.Client, d)
}
