package tradingdesk

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The credit operations' page: what the desk booked on trading accounts for the bonus engine (credit in at a
// grant, credit out when a bonus ends), those whose outcome is unknown first, with finance's retry button; and the
// dashboard's tile of those that need finance (docs/trading/desk.md, "Credit operations").
//
//	/backoffice/trading/credits             credit operations, unknown outcomes by default (?status=all)
//	/backoffice/trading/credits/:id/retry   POST: ask the platform again (payments.approve)

const creditsPath = "/backoffice/trading/credits"

func (p *pages) mountCreditPages(shell *web.Shell) {
	shell.Nav(web.NavEntry{Group: web.GroupTrading, Label: "Credit operations", Href: creditsPath, Permission: PermRead, Order: 37})
	shell.Tiles(web.Tile{Group: web.GroupTrading, Label: "Bonus credits for finance", Href: creditsPath, Permission: PermRead, Order: 16,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			unknown, failed, err := p.s.CreditCounts(c.UserContext(), tenants.Current(c))
			if err != nil {
				return web.TileCount{}, err
			}
			out := web.TileCount{Value: unknown, Alert: unknown > 0}
			if failed > 0 {
				out.Detail, out.DetailHref = strconv.Itoa(failed)+" refused this week", creditsPath+"?status=all"
			}
			return out, nil
		}})
	shell.Page(fiber.MethodGet, creditsPath, PermRead, p.credits)
	shell.Post(creditsPath+"/:id/retry", identity.PermPaymentsApprove, p.retryCredit)
}

type creditRow struct {
	ID, Client, ClientHref, Account, Kind, Amount, Moved, What, Status, Failure, Ticket, Created, Finished string
	Tone                                                                                                   web.Tone
	Retry                                                                                                  bool
}

// creditStatusWords are a credit operation's status in words with its tone.
func creditStatusWords(x Credit) (string, web.Tone) {
	switch {
	case x.Status == RequestDone:
		return "Done", web.ToneGood
	case x.Status == RequestFailed:
		return "Refused", web.ToneBad
	case x.OutcomeUnknown:
		return "Outcome unknown", web.ToneWarn
	}
	return "Booking", web.ToneInfo
}

var creditKindWords = map[string]string{"credit_in": "Credit in", "credit_out": "Credit out"}

type creditsPage struct {
	Rows            []creditRow
	Unknown, Failed int
	All             bool
	CSRF            string
	MayRetry        bool
}

// credits is finance's list: unknown outcomes by default, or every operation (the newest 200).
func (p *pages) credits(c *fiber.Ctx) error {
	var all bool
	switch c.Query("status", "unknown") {
	case "unknown":
	case "all":
		all = true
	default:
		return web.NotFound("No such status.")
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	list, err := p.s.Credits(ctx, t, uuid.Nil, !all)
	if err != nil {
		return err
	}
	if list, err = visibleTo(c, p.s, list, func(x Credit) uuid.UUID { return x.ClientID }); err != nil {
		return err
	}
	d := creditsPage{All: all, CSRF: p.shell.CSRF(c), MayRetry: p.may(c, identity.PermPaymentsApprove)}
	if d.Unknown, d.Failed, err = p.s.CreditCounts(ctx, t); err != nil {
		return err
	}
	for _, x := range list {
		words, tone := creditStatusWords(x)
		row := creditRow{ID: x.ID.String(), Client: x.ClientName, ClientHref: clientPagePath + x.ClientID.String(), Account: x.Login + " (" + x.ServerName + ")",
			Kind: creditKindWords[string(x.Kind)], Amount: x.Amount.String(), What: x.Comment, Status: words, Tone: tone, Failure: x.Failure,
			Ticket: x.Ticket, Created: when(&x.CreatedAt), Finished: when(x.FinishedAt), Retry: x.Status == RequestPending}
		if x.Moved != nil && x.Status == RequestDone {
			row.Moved = money.Amount{Minor: *x.Moved, Currency: x.Amount.Currency}.String()
		}
		d.Rows = append(d.Rows, row)
	}
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_credits", "Credit operations", d)
}

// retryCredit is finance's retry button: the same operation id, so a credit that was booked is found, not booked
// twice.
func (p *pages) retryCredit(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such credit operation.")
	}
	_, err = p.s.RetryCredit(c.UserContext(), tenants.Current(c), identity.Actor(c), id)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No pending credit operation with this id.")
	}
	if err != nil {
		return creditError(err)
	}
	return c.Redirect(creditsPath+"?status=all", fiber.StatusSeeOther)
}
