package tradingdesk

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The transfers' pages: the portal page's transfer form and the client's recent transfers, the client page's
// Trading tab's transfers, finance's list with its retry button, and the dashboard's tile of transfers that need
// finance.
//
//	/portal/trading/transfers (POST)        move money: back to the portal page, the transfer's outcome shown
//	/backoffice/trading/transfers           transfers, unknown outcomes first by default (?status=)
//	/backoffice/trading/transfers/:id/retry POST: ask the platform again (payments.approve)

// stuckAfter is how long a transfer may stay pending before the dashboard counts it as stuck: the worker moves one
// in seconds, and its task's retries span minutes.
const stuckAfter = 15 * time.Minute

func (p *pages) mountTransferPages(shell *web.Shell) {
	shell.Nav(web.NavEntry{Group: web.GroupTrading, Label: "Transfers", Href: transfersPath, Permission: PermRead, Order: 35})
	shell.Tiles(web.Tile{Group: web.GroupTrading, Label: "Transfers for finance", Href: transfersPath + "?status=unknown", Permission: PermRead, Order: 15,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			failed, pending, unknown, err := p.s.TransferCounts(c.UserContext(), tenants.Current(c), stuckAfter)
			if err != nil {
				return web.TileCount{}, err
			}
			out := web.TileCount{Value: unknown, Alert: unknown > 0 || pending > 0}
			switch {
			case pending > 0:
				out.Detail, out.DetailHref = strconv.Itoa(pending)+" pending for over 15 minutes", transfersPath+"?status=pending"
			case failed > 0:
				out.Detail, out.DetailHref = strconv.Itoa(failed)+" failed this week", transfersPath+"?status=failed"
			}
			return out, nil
		}})
	shell.Post(portalTransferPath, identity.PermPortalAccount, p.transfer)
	shell.Page(fiber.MethodGet, transfersPath, PermRead, p.transfers)
	shell.Post(transfersPath+"/:id/retry", identity.PermPaymentsApprove, p.retryTransfer)
}

type transferRow struct {
	ID, Client, ClientHref, Login, Direction, Amount, Status, Outcome, Failure, Ticket, Created, Finished string
	Tone                                                                                                  web.Tone
	Retry                                                                                                 bool
}

// transferWordsFor are a transfer's status in words with its tone.
func transferWordsFor(x Transfer) (string, web.Tone) {
	switch {
	case x.Status == RequestDone:
		return "Done", web.ToneGood
	case x.Status == RequestFailed:
		return "Failed", web.ToneBad
	case x.OutcomeUnknown:
		return "Outcome unknown", web.ToneWarn
	}
	return "Moving", web.ToneInfo
}

func transferRows(list []Transfer, staff bool) []transferRow {
	out := make([]transferRow, 0, len(list))
	for _, x := range list {
		words, tone := transferWordsFor(x)
		dir := "Wallet → " + x.Login
		if x.Direction == ToWallet {
			dir = x.Login + " → wallet"
		}
		row := transferRow{ID: x.ID.String(), Client: x.ClientName, ClientHref: clientPagePath + x.ClientID.String(), Login: x.Login,
			Direction: dir, Amount: x.Amount.String(), Status: words, Tone: tone, Outcome: x.Outcome(), Created: when(&x.CreatedAt),
			Finished: when(x.FinishedAt), Retry: staff && x.Status == RequestPending}
		if staff {
			row.Failure, row.Ticket = x.Failure, x.Ticket
		}
		out = append(out, row)
	}
	return out
}

// transferForm is what the client sent in the transfer form.
type transferForm struct {
	Account, Direction, Amount string
}

type transfersSection struct {
	Accounts   []offerOption
	Directions []offerOption
	Amount     string
	Wallets    []string
	Rows       []transferRow
	Notice     string
	Error      string
	Problems   []string
	Moving     bool
}

// portalTransfers is the portal page's transfer section: the wallets, the form over the client's active live accounts,
// and their recent transfers; a transfer just asked for (?transfer=) is told in words.
func (p *pages) portalTransfers(c *fiber.Ctx, client uuid.UUID, accounts []Account, f transferForm) (transfersSection, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	var d transfersSection
	if p.s.o.Ledger == nil {
		return d, nil
	}
	for _, a := range accounts {
		if a.Status == "active" && a.Live {
			d.Accounts = append(d.Accounts, offerOption{Value: a.ID.String(), Label: a.Login + " (" + a.TypeName + ", " + a.Currency.Code + ")",
				Selected: f.Account == a.ID.String()})
		}
	}
	for _, dir := range []struct{ value, label string }{{string(ToAccount), "From my wallet to the account"}, {string(ToWallet), "From the account to my wallet"}} {
		d.Directions = append(d.Directions, offerOption{Value: dir.value, Label: dir.label, Selected: f.Direction == dir.value})
	}
	d.Amount = f.Amount
	balances, err := p.s.o.Ledger.ClientBalances(ctx, t, client)
	if err != nil {
		return d, err
	}
	for _, b := range balances {
		d.Wallets = append(d.Wallets, money.Amount{Minor: b.Available(), Currency: b.Account.Currency}.String())
	}
	list, err := p.s.Transfers(ctx, t, TransferFilter{Client: client, Limit: 10})
	if err != nil {
		return d, err
	}
	d.Rows = transferRows(list, false)
	for _, x := range list {
		d.Moving = d.Moving || x.Status == RequestPending
	}
	if id, err := uuid.Parse(c.Query("transfer")); err == nil {
		if x, err := p.s.GetTransfer(ctx, t, id, client); err == nil {
			d.Notice = x.Outcome()
		}
	}
	return d, nil
}

// transfer takes the portal page's transfer form.
func (p *pages) transfer(c *fiber.Ctx) error {
	client, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	f := transferForm{Account: c.FormValue("account"), Direction: c.FormValue("direction"), Amount: c.FormValue("amount")}
	in := TransferInput{Direction: TransferDirection(f.Direction), Amount: f.Amount}
	in.Account, _ = uuid.Parse(f.Account)
	ctx, t := c.UserContext(), tenants.Current(c)
	if accounts, err := p.s.ClientAccounts(ctx, t, client); err == nil {
		for _, a := range accounts {
			if a.ID == in.Account {
				in.Currency = a.Currency.Code // the form's amount is in the account's currency
			}
		}
	}
	x, err := p.s.RequestTransfer(ctx, t, client, in)
	if err != nil {
		lines, status, ok := problemLinesOf(transferError(err))
		if !ok {
			return err
		}
		if status == fiber.StatusNotFound {
			status, lines = fiber.StatusUnprocessableEntity, []string{"account: choose one of your trading accounts"}
		}
		return p.renderPortal(c, status, portalForms{transfer: f, transferProblems: lines, transferErr: "The money was not moved:"})
	}
	return c.Redirect(PortalAccountsPath+"?"+url.Values{"transfer": {x.ID.String()}}.Encode()+"#transfer", fiber.StatusSeeOther)
}

type transfersPage struct {
	Rows      []transferRow
	Filters   []addLink
	Status    string
	CSRF      string
	MayRetry  bool
	Unknown   int
	Pending   int
	Failed    int
	Selected  string
	StuckMins int
}

// transfers is finance's list: unknown outcomes by default, then pending, failed, done or all.
func (p *pages) transfers(c *fiber.Ctx) error {
	st := c.Query("status", "unknown")
	var f TransferFilter
	switch st {
	case "unknown":
		f.Status, f.Unknown = RequestPending, true
	case "all":
	case string(RequestPending), string(RequestDone), string(RequestFailed):
		f.Status = RequestStatus(st)
	default:
		return web.NotFound("No such status.")
	}
	list, err := p.s.visibleTransfers(c, f)
	if err != nil {
		return err
	}
	failed, pending, unknown, err := p.s.TransferCounts(c.UserContext(), tenants.Current(c), stuckAfter)
	if err != nil {
		return err
	}
	d := transfersPage{Rows: transferRows(list, true), Status: st, CSRF: p.shell.CSRF(c), MayRetry: p.may(c, identity.PermPaymentsApprove),
		Unknown: unknown, Pending: pending, Failed: failed, Selected: st, StuckMins: int(stuckAfter.Minutes())}
	for _, v := range []struct{ label, value string }{{"Outcome unknown", "unknown"}, {"Pending", "pending"}, {"Failed", "failed"}, {"Done", "done"}, {"All", "all"}} {
		d.Filters = append(d.Filters, addLink{Label: v.label, Href: transfersPath + "?status=" + v.value})
	}
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_transfers", "Transfers", d)
}

// retryTransfer is finance's retry button.
func (p *pages) retryTransfer(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such transfer.")
	}
	_, err = p.s.RetryTransfer(c.UserContext(), tenants.Current(c), identity.Actor(c), id)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No pending transfer with this id.")
	}
	if err != nil {
		return transferError(err)
	}
	return c.Redirect(transfersPath+"?status=pending", fiber.StatusSeeOther)
}
