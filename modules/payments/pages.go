package payments

import (
	"embed"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The module's pages (docs/payments.md, "Pages"): server-rendered, every form a plain POST with its CSRF token, so
// all of them work without JavaScript; one small script (infra/live's) refreshes the money pages when a deposit is
// credited.
//
//	portal       /portal/wallet                          balances, history, the deposit form; ?deposit= the return
//	             /portal/deposits/:id                    a deposit's receipt
//	back office  /backoffice/payments                    money today: the day's deposits, the queue, the 30-day chart
//	             /backoffice/deposits                    deposits, filtered; /new the manual deposit; /:id one deposit;
//	                                                     /:id/evidence its bank statement (303 to a signed link)
//	             /backoffice/payments/exceptions         the exceptions queue; /:id a case and its resolution
//	             /backoffice/payments/sandbox            the payment sandbox (make run only)
//	             /backoffice/settings/payments           the rules for money in and the gateways
//	             /backoffice/clients/:id/wallet          a client's wallets and ledger history (and the client page's Money tab)
//	             /backoffice/live/deposits               the live stream (Server-Sent Events)

// PageFiles are the module's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	walletPath         = "/portal/wallet"
	portalDepositsPath = "/portal/deposits"
	overviewPath       = "/backoffice/payments"
	depositsPath       = "/backoffice/deposits"
	newDepositPath     = "/backoffice/deposits/new"
	exceptionsPath     = "/backoffice/payments/exceptions"
	sandboxPath        = "/backoffice/payments/sandbox"
	settingsPath       = "/backoffice/settings/payments"
	gatewayFormPath    = "/backoffice/settings/payments/gateways"
	livePath           = "/backoffice/live/deposits"
	liveScriptPath     = "/backoffice/live/deposits.js"
	clientPagePath     = "/backoffice/clients/"
)

type pages struct {
	shell   *web.Shell
	s       *Service
	cursors *web.Cursors
}

// mountPages registers the portal's wallet and receipts, the back office's money pages, the role dashboard's tiles,
// the live stream, and the client page's Money tab and balances.
func (s *Service) mountPages(shell *web.Shell) {
	p := &pages{shell: shell, s: s, cursors: web.NewCursors([]byte("brokerdesk payments page cursor v1 (positions only)"))}
	shell.Nav(
		web.NavEntry{Group: web.GroupPortal, Label: "Wallet", Href: walletPath, Permission: identity.PermPortalAccount, Order: 25},
		web.NavEntry{Group: web.GroupMoney, Label: "Money today", Href: overviewPath, Permission: PermRead, Order: 10},
		web.NavEntry{Group: web.GroupMoney, Label: "Deposits", Href: depositsPath, Permission: PermRead, Order: 20},
		web.NavEntry{Group: web.GroupMoney, Label: "Payment exceptions", Href: exceptionsPath, Permission: PermRead, Order: 30},
		web.NavEntry{Group: web.GroupSettings, Label: "Payments", Href: settingsPath, Permission: identity.PermSettingsManage, Order: 40},
	)
	shell.Tiles(p.tiles()...)

	// The portal.
	shell.Page(fiber.MethodGet, walletPath, identity.PermPortalAccount, p.wallet)
	shell.Post(portalDepositsPath, identity.PermPortalAccount, p.startDeposit)
	shell.Page(fiber.MethodGet, portalDepositsPath+"/:id", identity.PermPortalAccount, p.receipt)

	// The back office. Static paths before the parameter ones they would otherwise match.
	shell.Page(fiber.MethodGet, overviewPath, PermRead, p.overview)
	shell.Page(fiber.MethodGet, depositsPath, PermRead, p.deposits)
	shell.Page(fiber.MethodGet, newDepositPath, PermApprove, p.manualForm)
	shell.Upload(newDepositPath, PermApprove, manualBodyLimit, p.recordManual) // a form with the bank statement
	shell.Page(fiber.MethodGet, depositsPath+"/:id", PermRead, p.deposit)
	shell.Page(fiber.MethodGet, depositsPath+"/:id/evidence", PermRead, p.evidence)
	shell.Post(depositsPath+"/:id/approve", PermApprove, p.approve)
	shell.Post(depositsPath+"/:id/reject", PermApprove, p.reject)
	shell.Page(fiber.MethodGet, exceptionsPath, PermRead, p.exceptions)
	shell.Page(fiber.MethodGet, exceptionsPath+"/:id", PermRead, p.exception)
	shell.Post(exceptionsPath+"/:id/resolve", PermApprove, p.resolve)
	shell.Page(fiber.MethodGet, settingsPath, identity.PermSettingsManage, p.settings)
	shell.Post(settingsPath, identity.PermSettingsManage, p.saveSettings)
	shell.Page(fiber.MethodGet, gatewayFormPath+"/new", identity.PermSettingsManage, p.gatewayForm)
	shell.Page(fiber.MethodGet, gatewayFormPath+"/:slug", identity.PermSettingsManage, p.gatewayForm)
	shell.Post(gatewayFormPath, identity.PermSettingsManage, p.saveGateway)
	shell.Page(fiber.MethodGet, clientPagePath+":id/wallet", PermRead, p.clientWallet)
	shell.Page(fiber.MethodGet, livePath, PermRead, p.live)
	shell.Page(fiber.MethodGet, liveScriptPath, PermRead, live.ServeScript) // the live pages' script (infra/live)
	if s.o.Sandbox != nil {
		shell.Nav(web.NavEntry{Group: web.GroupMoney, Label: "Payment sandbox", Href: sandboxPath, Permission: PermApprove, Order: 90})
		shell.Page(fiber.MethodGet, sandboxPath, PermApprove, p.sandbox)
		shell.Post(sandboxPath+"/:id", PermApprove, p.simulate)
	}
	p.mountHub()
}

// may reports whether the viewer holds perm.
func (p *pages) may(c *fiber.Ctx, perm web.Permission) bool {
	v, ok, err := p.shell.Viewer(c)
	return err == nil && ok && v.Can(perm)
}

// refusal is the problem a form's error is for the person who sent it, to show in place; ok is false for an
// internal error (the error page).
func refusal(err error) (pr *web.Problem, ok bool) {
	return web.ProblemOf(apiError(err))
}

// problemLines are a problem's field errors as sentences.
func problemLines(pr *web.Problem) []string {
	var out []string
	for _, fe := range pr.Errors {
		out = append(out, strings.ReplaceAll(fe.Field, "_", " ")+": "+fe.Message)
	}
	return out
}

// when is a time as the back office writes it (UTC).
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

func whenPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return when(*t)
}

// statusTone colours a deposit's status.
func statusTone(s Status) web.Tone {
	switch s {
	case StatusCompleted:
		return web.ToneGood
	case StatusFailed, StatusCancelled:
		return web.ToneBad
	case StatusAwaitingApproval, StatusProcessing:
		return web.ToneWarn
	}
	return web.ToneInfo
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

func options(current string, pairs ...string) []option {
	out := make([]option, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, option{Value: pairs[i], Label: pairs[i+1], Selected: pairs[i] == current})
	}
	return out
}

// statuses are the deposit statuses, for selects.
var statuses = []Status{StatusPending, StatusProcessing, StatusAwaitingApproval, StatusCompleted, StatusFailed, StatusCancelled}

// depositParamOf reads the :id of a deposit page and the deposit, 404 when absent or not the viewer's to see.
func (p *pages) depositOf(c *fiber.Ctx) (Deposit, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return Deposit{}, web.NotFound("No such deposit.")
	}
	d, err := p.s.Deposit(c.UserContext(), tenants.Current(c), id)
	if errors.Is(err, ErrNotFound) {
		return Deposit{}, web.NotFound("No such deposit.")
	}
	if err != nil {
		return Deposit{}, err
	}
	r, err := p.reachOf(c)
	if err != nil {
		return Deposit{}, err
	}
	if !r.sees(d.ClientID) {
		return Deposit{}, web.NotFound("No such deposit.")
	}
	return d, nil
}

// amounts writes several amounts as one line ("1,250.00 USD · 300.00 EUR"), or none.
func amounts(list []money.Amount, none string) string {
	if len(list) == 0 {
		return none
	}
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, " · ")
}
