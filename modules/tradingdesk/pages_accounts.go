package tradingdesk

import (
	"errors"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The accounts' pages: the portal's "Trading accounts" (the client's accounts, their requests, the open-account
// form offering only what the client may open), the client page's Trading tab, the back office's requests list and
// the dashboard's tile of failed and pending requests.
//
//	/portal/trading                    the client's accounts and requests; the form
//	/portal/trading (POST)             ask for an account: back to the page, the request shown "opening"
//	/backoffice/trading/requests       requests, failed first by default (?status=)

func (p *pages) mountAccountPages(shell *web.Shell) {
	shell.Nav(
		web.NavEntry{Group: web.GroupPortal, Label: "Trading accounts", Href: PortalAccountsPath, Permission: identity.PermPortalAccount, Order: 27},
		web.NavEntry{Group: web.GroupTrading, Label: "Trading requests", Href: requestsPath, Permission: PermRead, Order: 30},
	)
	shell.Tiles(web.Tile{Group: web.GroupTrading, Label: "Account requests failed", Href: requestsPath + "?status=failed", Permission: PermRead, Order: 10,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			n, err := p.s.RequestCounts(c.UserContext(), tenants.Current(c))
			if err != nil {
				return web.TileCount{}, err
			}
			out := web.TileCount{Value: n[RequestFailed], Alert: n[RequestFailed] > 0}
			if pending := n[RequestPending]; pending > 0 {
				out.Detail, out.DetailHref = strconv.Itoa(pending)+" opening now", requestsPath+"?status=pending"
			}
			return out, nil
		}})
	shell.Page(fiber.MethodGet, PortalAccountsPath, identity.PermPortalAccount, p.portalAccounts)
	shell.Post(PortalAccountsPath, identity.PermPortalAccount, p.openAccount)
	shell.Page(fiber.MethodGet, requestsPath, PermRead, p.requests)
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "trading", Label: "Trading", Order: 45, Permission: PermRead,
		Hint: "Trading accounts, account requests and transfers", Render: p.tradingTab})
	p.mountTransferPages(shell)
	p.mountCreditPages(shell)
	p.mountChangePages(shell)
}

type accountRow struct {
	ID, Login, Type, Kind, Server, Currency, Leverage, Status, Balance, Equity, Opened string
	Tone                                                                               web.Tone
	Access, Held                                                                       string
	SwapFree, AccessHeld                                                               bool
	// What the platform reported at the last read (the drift check's): leverage, access, when; and the kinds of
	// the account's open drift.
	PlatformLeverage, PlatformAccess, StateAt string
	Drift                                     []string
}

type requestRow struct {
	ID, Client, ClientHref, Type, Kind, Details, Login, Status, Failure, Created, Finished string
	Tone                                                                                   web.Tone
	Emailed                                                                                bool
	// What is asked in words ("Open a live account: Standard, USD, 1:100", "Account 700001: leverage 1:200"),
	// why the CRM asked when the client did not, and a rejection's reason; Awaiting: approve and reject apply.
	What, Reason, Rejection string
	Awaiting, Change        bool
}

func kindWord(live bool) string {
	if live {
		return "Live"
	}
	return "Demo"
}

func accountRows(list []Account) []accountRow {
	out := make([]accountRow, 0, len(list))
	for _, a := range list {
		r := accountRow{ID: a.ID.String(), Login: a.Login, Type: a.TypeName, Kind: kindWord(a.Live), Server: a.ServerName, Currency: a.Currency.Code,
			Leverage: "1:" + strconv.Itoa(a.Leverage), Status: a.Status, Opened: when(&a.CreatedAt), Tone: web.ToneGood,
			Access: accessWords(ExpectedAccess(a)), SwapFree: a.SwapFree, AccessHeld: a.AccessHeld}
		if a.Status != "active" {
			r.Tone = web.ToneWarn
		}
		if a.Balance != nil {
			r.Balance = a.Balance.String()
		}
		if a.Equity != nil {
			r.Equity = a.Equity.String()
		}
		if pl := a.Platform; pl != nil {
			r.PlatformLeverage, r.PlatformAccess = "1:"+strconv.Itoa(pl.Leverage), accessWords(pl.Access)
		}
		r.StateAt = when(a.StateAt)
		for _, k := range a.OpenDrift {
			r.Drift = append(r.Drift, k.Label())
		}
		out = append(out, r)
	}
	return out
}

// requestWords are a request's status in words for staff or for the client.
func requestWords(r Request) (string, web.Tone) {
	switch r.Status {
	case RequestAwaitingApproval:
		return "Waiting for approval", web.ToneWarn
	case RequestRejected:
		return "Rejected", web.ToneBad
	case RequestFailed:
		return "Failed", web.ToneBad
	}
	if r.Kind != KindOpenAccount {
		if r.Status == RequestDone {
			return "Done", web.ToneGood
		}
		return "In progress", web.ToneInfo
	}
	if r.Status == RequestDone {
		return "Opened", web.ToneGood
	}
	if r.AccountOpen {
		return "Opened, emailing the credentials", web.ToneInfo
	}
	return "Opening", web.ToneInfo
}

func requestRows(list []Request, staff bool) []requestRow {
	out := make([]requestRow, 0, len(list))
	for _, r := range list {
		words, tone := requestWords(r)
		v := ToRequestResponse(r, staff)
		row := requestRow{ID: r.ID.String(), Client: r.ClientName, ClientHref: clientPagePath + r.ClientID.String(), Type: r.TypeName,
			Kind: kindWord(r.Live), Details: r.Currency + ", 1:" + strconv.Itoa(r.Leverage), Login: v.Login, Status: words, Tone: tone,
			Failure: v.Failure, Created: when(&r.CreatedAt), Finished: when(r.FinishedAt), Emailed: r.EmailedAt != nil,
			What: kindWord(r.Live) + " account: " + r.TypeName + ", " + r.Currency + ", 1:" + strconv.Itoa(r.Leverage), Reason: v.Reason, Rejection: r.Rejection,
			Awaiting: r.Status == RequestAwaitingApproval, Change: r.Kind != KindOpenAccount}
		if row.Change {
			row.What = "Account " + r.Login + ": " + r.Summary()
		}
		out = append(out, row)
	}
	return out
}

// clientPagePath is the client page (the clients module's), which the requests list links to.
const clientPagePath = "/backoffice/clients/"

type offerOption struct {
	Value, Label string
	Selected     bool
}

type portalPage struct {
	CSRF                string
	Accounts            []accountRow
	Requests            []requestRow
	Offers              []offerOption
	Leverages           []offerOption
	LiveBlocked         string
	DemoBlocked         string
	Notice, Error       string
	Problems            []string
	Opening             bool
	AccountsWithBalance bool
	Transfers           transfersSection
	Changes             []accountChange
	ChangeError         string
	ChangeProblems      []string
	ChangeNotice        string
}

func (p *pages) portalAccounts(c *fiber.Ctx) error {
	return p.renderPortal(c, fiber.StatusOK, portalForms{})
}

// portalForms are what the client sent in the page's forms and why it was refused (errText, problems).
type portalForms struct {
	choice, leverage string
	problems         []string
	errText          string
	transfer         transferForm
	transferProblems []string
	transferErr      string
	changeProblems   []string
	changeErr        string
}

// renderPortal draws the portal page, with a refusal and the choices the client made.
func (p *pages) renderPortal(c *fiber.Ctx, status int, f portalForms) error {
	choice, leverage, problems, errText := f.choice, f.leverage, f.problems, f.errText
	ctx, t := c.UserContext(), tenants.Current(c)
	client, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	accounts, err := p.s.ClientAccounts(ctx, t, client)
	if err != nil {
		return err
	}
	requests, err := p.s.ClientRequests(ctx, t, client)
	if err != nil {
		return err
	}
	offers, refused, err := p.s.Offers(ctx, t, client)
	if err != nil {
		return err
	}
	d := portalPage{CSRF: p.shell.CSRF(c), Accounts: accountRows(accounts), LiveBlocked: refused[true], DemoBlocked: refused[false],
		Error: errText, Problems: problems, ChangeError: f.changeErr, ChangeProblems: f.changeProblems}
	changes := 0
	for _, r := range requests {
		// Done openings are the accounts above; changes are shown with their outcome, the last 20.
		if r.Kind == KindOpenAccount && r.Status == RequestDone || r.Kind != KindOpenAccount && changes >= 20 {
			continue
		}
		if r.Kind != KindOpenAccount {
			changes++
		}
		d.Requests = append(d.Requests, requestRows([]Request{r}, false)...)
		d.Opening = d.Opening || r.Status == RequestPending
	}
	if id := c.Query("requested"); id != "" && errText == "" {
		d.Notice = "Your account is being opened. Its login appears here in a few seconds, and its passwords are emailed to you."
	}
	if id := c.Query("changed"); id != "" && f.changeErr == "" {
		d.ChangeNotice = "Your request is recorded: its status is below. A change that waits for approval is decided by our back office; the others reach the trading server within seconds."
	}
	if choice == "" {
		choice = c.Query("open")
	}
	if d.Changes, err = p.changeOptions(ctx, t, client, accounts, requests, offers); err != nil {
		return err
	}
	levs := map[int]bool{}
	for _, o := range offers {
		for _, cur := range o.Currencies {
			v := o.Type.Slug + "|" + cur
			d.Offers = append(d.Offers, offerOption{Value: v, Label: kindWord(o.Type.Live) + " account: " + o.Type.Name + ", " + cur + " (leverage " +
				leverageList(o.Leverages) + ")", Selected: v == choice})
		}
		for _, l := range o.Leverages {
			levs[l] = true
		}
	}
	for l := 1; l <= MaxLeverage; l++ {
		if levs[l] {
			v := strconv.Itoa(l)
			d.Leverages = append(d.Leverages, offerOption{Value: v, Label: "1:" + v, Selected: v == leverage || leverage == "" && l == 100})
		}
	}
	if d.Transfers, err = p.portalTransfers(c, client, accounts, f.transfer); err != nil {
		return err
	}
	d.Transfers.Error, d.Transfers.Problems = f.transferErr, f.transferProblems
	return p.shell.Render(c, status, "tradingdesk_portal", "Trading accounts", d)
}

func (p *pages) openAccount(c *fiber.Ctx) error {
	client, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	choice, leverage := c.FormValue("account"), c.FormValue("leverage")
	typ, cur, _ := strings.Cut(choice, "|")
	lev, _ := strconv.Atoi(leverage)
	r, err := p.s.OpenAccount(c.UserContext(), tenants.Current(c), client, OpenAccountInput{Type: typ, Currency: cur, Leverage: lev})
	if err != nil {
		lines, status, ok := problemLines(err)
		if !ok {
			return err
		}
		return p.renderPortal(c, status, portalForms{choice: choice, leverage: leverage, problems: lines, errText: "The account was not requested:"})
	}
	return c.Redirect(PortalAccountsPath+"?"+url.Values{"requested": {r.ID.String()}}.Encode(), fiber.StatusSeeOther)
}

type requestsPage struct {
	CSRF     string
	Status   string
	Filters  []addLink
	Awaiting []requestRow // waiting for approval, first whatever the filter
	Rows     []requestRow
	Failed   int
	Pending  int
	Waiting  int
	Selected string
	// MayApprove: the viewer holds trading.approve (the approve and reject forms).
	MayApprove    bool
	Notice, Error string
	Problems      []string
}

// requests is the back office's list of requests: those waiting for approval first, then the filter's (failed
// ones by default: what support follows up).
func (p *pages) requests(c *fiber.Ctx) error {
	return p.renderRequests(c, fiber.StatusOK, c.Query("status", string(RequestFailed)), "", nil)
}

func (p *pages) renderRequests(c *fiber.Ctx, status int, st, errText string, problems []string) error {
	if st == "all" {
		st = ""
	}
	switch RequestStatus(st) {
	case "", RequestAwaitingApproval, RequestPending, RequestDone, RequestFailed, RequestRejected:
	default:
		return web.NotFound("No such status.")
	}
	awaiting, err := p.s.visibleRequests(c, RequestFilter{Status: RequestAwaitingApproval})
	if err != nil {
		return err
	}
	var list []Request
	if RequestStatus(st) != RequestAwaitingApproval {
		if list, err = p.s.visibleRequests(c, RequestFilter{Status: RequestStatus(st)}); err != nil {
			return err
		}
		if st == "" { // the waiting ones are above
			list = slices.DeleteFunc(list, func(r Request) bool { return r.Status == RequestAwaitingApproval })
		}
	}
	n, err := p.s.RequestCounts(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := requestsPage{CSRF: p.shell.CSRF(c), Status: st, Awaiting: requestRows(awaiting, true), Rows: requestRows(list, true), Failed: n[RequestFailed],
		Pending: n[RequestPending], Waiting: n[RequestAwaitingApproval], Selected: st, MayApprove: p.may(c, PermApprove), Error: errText, Problems: problems}
	switch {
	case c.Query("approved") != "":
		d.Notice = "Approved: the request is on its way to the trading server."
	case c.Query("rejected") != "":
		d.Notice = "Rejected: the client sees your reason in the portal."
	}
	for _, f := range []struct{ label, value string }{{"Waiting for approval", "awaiting_approval"}, {"Failed", "failed"}, {"In progress", "pending"},
		{"Rejected", "rejected"}, {"Done", "done"}, {"All", "all"}} {
		d.Filters = append(d.Filters, addLink{Label: f.label, Href: requestsPath + "?status=" + f.value})
	}
	return p.shell.Render(c, status, "tradingdesk_requests", "Trading requests", d)
}

type tradingTab struct {
	CSRF        string
	Accounts    []accountRow
	Requests    []requestRow
	Transfers   []transferRow
	MayManage   bool
	AccessError string
}

// tradingTab draws the client page's Trading tab. The hub's owner has checked that the viewer may see the client.
func (p *pages) tradingTab(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	accounts, err := p.s.ClientAccounts(ctx, t, client)
	if err != nil {
		return "", err
	}
	requests, err := p.s.ClientRequests(ctx, t, client)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	transfers, err := p.s.Transfers(ctx, t, TransferFilter{Client: client, Limit: 50})
	if err != nil {
		return "", err
	}
	return p.shell.Fragment(c, "tradingdesk_hub", tradingTab{CSRF: p.shell.CSRF(c), Accounts: accountRows(accounts), Requests: requestRows(requests, true),
		Transfers: transferRows(transfers, true), MayManage: p.may(c, PermManage), AccessError: c.Query("access_error")})
}
