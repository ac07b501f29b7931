package tradingdesk

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The drift page (docs/trading/desk.md#drift-report): each server's last check in one line with "Check now", the
// items in one dense table with filters, finance's resolution of money items, the desk's healing setting, and under
// `make run` the simulator's fault switch that makes drift on demand.
//
//	/backoffice/trading/drift                   the report (?server=&kind=&status=; open items by default)
//	/backoffice/trading/drift/check (POST)      ask the worker for a check of a server now (trading.manage)
//	/backoffice/trading/drift/:id/resolve (POST) resolve a balance item with a note (payments.approve)
//	/backoffice/trading/drift/faults (POST)     make run only: change an account on the simulator behind the CRM's back

const driftPath = "/backoffice/trading/drift"

func (p *pages) mountDriftPages(shell *web.Shell) {
	shell.Nav(web.NavEntry{Group: web.GroupTrading, Label: "Drift", Href: driftPath, Permission: PermRead, Order: 45})
	shell.Tiles(web.Tile{Group: web.GroupTrading, Label: "Drift items open", Href: driftPath, Permission: PermRead, Order: 20,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			n, err := p.s.DriftCounts(c.UserContext(), tenants.Current(c))
			if err != nil {
				return web.TileCount{}, err
			}
			out := web.TileCount{Value: n[OwnerDealing] + n[OwnerFinance], Alert: n[OwnerFinance] > 0}
			if money := n[OwnerFinance]; money > 0 {
				out.Detail, out.DetailHref = strconv.Itoa(money)+" balance for finance", driftPath+"?kind=balance"
			}
			return out, nil
		}})
	shell.Page(fiber.MethodGet, driftPath, PermRead, p.drift)
	shell.Post(driftPath+"/check", PermManage, p.driftCheck)
	shell.Post(driftPath+"/:id/resolve", identity.PermPaymentsApprove, p.resolveDrift)
	if p.s.o.Faults != nil {
		shell.Post(driftPath+"/faults", PermManage, p.driftFault)
	}
}

type driftCheckRow struct {
	Server, Slug, Summary, Finished string
	Tone                            web.Tone
}

type driftRow struct {
	ID, Login, AccountHref, Client, ClientHref, Server, ServerSlug, Kind, CRM, Platform, Difference, Owner, Status, Healing, Note string
	FirstSeen, LastSeen, Closed                                                                                                   string
	Tone                                                                                                                          web.Tone
	Resolvable                                                                                                                    bool
}

type driftPage struct {
	CSRF                            string
	Checks                          []driftCheckRow
	Rows                            []driftRow
	Servers, Kinds, Statuses        []offerOption
	MayManage, MayResolve           bool
	HealSettings                    bool
	Faults                          bool
	FaultLogins                     []offerOption
	Notice, Error                   string
	OpenDealing, OpenFinance, Shown int
}

// driftWords are an item's status in words with its tone.
func driftWords(d DriftItem) (string, web.Tone) {
	switch d.Status {
	case DriftHealed:
		return "Healed", web.ToneGood
	case DriftResolved:
		return "Resolved", web.ToneGood
	case DriftGone:
		return "Gone", web.ToneNeutral
	}
	if d.Kind.Money() {
		return "Open · finance", web.ToneBad
	}
	return "Open · dealing", web.ToneWarn
}

func ownerWords(owner string) string {
	if owner == OwnerFinance {
		return "Finance"
	}
	return "Dealing"
}

func (p *pages) drift(c *fiber.Ctx) error {
	return p.renderDrift(c, fiber.StatusOK, "", "")
}

func (p *pages) renderDrift(c *fiber.Ctx, status int, notice, errText string) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	f := DriftFilter{Server: c.Query("server"), Kind: DriftKind(c.Query("kind")), Status: DriftStatus(c.Query("status", string(DriftOpen)))}
	if f.Status == "all" {
		f.Status = ""
	}
	switch f.Kind {
	case "", DriftGroup, DriftLeverage, DriftAccess, DriftSwapFree, DriftBalance, DriftCredit:
	default:
		return web.NotFound("No such kind of drift.")
	}
	switch f.Status {
	case "", DriftOpen, DriftHealed, DriftResolved, DriftGone:
	default:
		return web.NotFound("No such status.")
	}
	checks, err := p.s.DriftChecks(ctx, t)
	if err != nil {
		return err
	}
	list, err := p.s.visibleDrift(c, f)
	if err != nil {
		return err
	}
	st, err := p.s.DeskSettings(ctx, t)
	if err != nil {
		return err
	}
	n, err := p.s.DriftCounts(ctx, t)
	if err != nil {
		return err
	}
	d := driftPage{CSRF: p.shell.CSRF(c), MayManage: p.may(c, PermManage), MayResolve: p.may(c, identity.PermPaymentsApprove),
		HealSettings: st.HealSettings, Notice: notice, Error: errText, OpenDealing: n[OwnerDealing], OpenFinance: n[OwnerFinance], Shown: len(list)}
	if d.Notice == "" {
		d.Notice = driftNotices[c.Query("notice")]
	}
	d.Servers = append(d.Servers, offerOption{Value: "", Label: "All servers", Selected: f.Server == ""})
	for _, ch := range checks {
		tone := web.ToneGood
		switch {
		case ch.FinishedAt == nil:
			tone = web.ToneInfo
		case ch.Unread > 0:
			tone = web.ToneBad
		case len(ch.Outcomes) > 0:
			tone = web.ToneWarn
		}
		d.Checks = append(d.Checks, driftCheckRow{Server: ch.ServerName, Slug: ch.ServerSlug, Summary: ch.Summary(), Finished: when(ch.FinishedAt), Tone: tone})
		d.Servers = append(d.Servers, offerOption{Value: ch.ServerSlug, Label: ch.ServerName, Selected: f.Server == ch.ServerSlug})
	}
	d.Kinds = append(d.Kinds, offerOption{Value: "", Label: "All kinds", Selected: f.Kind == ""})
	for _, k := range DriftKinds {
		d.Kinds = append(d.Kinds, offerOption{Value: string(k), Label: strings.ToUpper(k.Label()[:1]) + k.Label()[1:], Selected: f.Kind == k})
	}
	for _, s := range []struct{ value, label string }{{"open", "Open"}, {"healed", "Healed"}, {"resolved", "Resolved"}, {"gone", "Gone"}, {"all", "All"}} {
		sel := string(f.Status) == s.value || f.Status == "" && s.value == "all"
		d.Statuses = append(d.Statuses, offerOption{Value: s.value, Label: s.label, Selected: sel})
	}
	for _, it := range list {
		words, tone := driftWords(it)
		row := driftRow{ID: it.ID.String(), Login: it.Login, AccountHref: accountDealsPath(it.AccountID), Client: it.ClientName,
			ClientHref: clientPagePath + it.ClientID.String(), Server: it.ServerName, ServerSlug: it.ServerSlug, Kind: it.Kind.Label(), CRM: it.CRMValue,
			Platform: it.PlatformValue, Owner: ownerWords(it.Owner), Status: words, Tone: tone, Healing: it.Healing, Note: it.Note,
			FirstSeen: minutes(it.FirstSeen), LastSeen: minutes(it.LastSeen), Closed: when(it.ClosedAt), Resolvable: it.Kind.Money() && it.Status == DriftOpen}
		if it.Difference != nil {
			row.Difference = it.Difference.String()
		}
		if it.Status == DriftOpen && !it.Kind.Money() && it.Healing == "" {
			row.Healing = "Not healed: automatic healing is switched off"
		}
		d.Rows = append(d.Rows, row)
	}
	if p.s.o.Faults != nil && d.MayManage {
		d.Faults = true
		logins, err := p.s.simulatorLogins(c)
		if err != nil {
			return err
		}
		for _, l := range logins {
			d.FaultLogins = append(d.FaultLogins, offerOption{Value: l, Label: l})
		}
	}
	return p.shell.Render(c, status, "tradingdesk_drift", "Drift", d)
}

// minutes is a time as the drift table writes it (UTC, to the minute: the table is wide).
func minutes(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// accountDealsPath is the page of an account's deals.
func accountDealsPath(id uuid.UUID) string {
	return "/backoffice/trading/accounts/" + id.String() + "/deals"
}

var driftNotices = map[string]string{
	"checking": "The worker is checking the server's accounts now; reload this page in a few seconds for its summary.",
	"resolved": "The item is resolved: later checks count its difference as explained.",
	"healing":  "Saved.",
	"fault": "Done on the simulator, behind the CRM's back. Press \"Check now\" to find it: a leverage at once, a balance operation " +
		"once deal sync has read it (within a minute).",
}

func (p *pages) driftCheck(c *fiber.Ctx) error {
	err := p.s.RequestDriftCheck(c.UserContext(), tenants.Current(c), identity.Actor(c), c.FormValue("server"))
	if errors.Is(err, ErrNotFound) {
		return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "server: choose one of the servers above")
	}
	if err != nil {
		return err
	}
	return c.Redirect(driftPath+"?notice=checking", fiber.StatusSeeOther)
}

func (p *pages) resolveDrift(c *fiber.Ctx) error {
	d, err := p.s.driftItemFor(c)
	if err != nil {
		return err
	}
	if _, err := p.s.ResolveDrift(c.UserContext(), tenants.Current(c), identity.Actor(c), d.ID, c.FormValue("note")); err != nil {
		lines, status, ok := problemLinesOf(driftError(err))
		if !ok {
			return err
		}
		if status == fiber.StatusNotFound {
			return driftError(err)
		}
		return p.renderDrift(c, status, "", "The item was not resolved: "+strings.Join(lines, "; "))
	}
	return c.Redirect(driftPath+"?"+url.Values{"notice": {"resolved"}, "status": {"all"}}.Encode(), fiber.StatusSeeOther)
}

// simulatorLogins are the logins of the tenant's accounts on simulator servers (what the fault switch may touch:
// the process's simulator is shared by every tenant's simulator servers, and a tenant reaches only its own).
func (s *Service) simulatorLogins(c *fiber.Ctx) ([]string, error) {
	var out []string
	err := s.readOnly(c.UserContext(), tenants.Current(c), func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.login FROM trading_accounts t JOIN trading_servers s ON s.id = t.server_id
			WHERE s.platform = 'simulator' AND t.status <> 'closed' ORDER BY length(t.login), t.login LIMIT 500`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// driftFault is `make run`'s fault switch: a leverage change or a balance operation by hand on the simulator, on
// one of the tenant's simulator accounts.
func (p *pages) driftFault(c *fiber.Ctx) error {
	login := strings.TrimSpace(c.FormValue("login"))
	logins, err := p.s.simulatorLogins(c)
	if err != nil {
		return err
	}
	known := false
	for _, l := range logins {
		known = known || l == login
	}
	if !known {
		return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "login: choose one of this brokerage's accounts on the simulator")
	}
	switch c.FormValue("fault") {
	case "leverage":
		lev, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(c.FormValue("leverage")), "1:"))
		if err != nil || lev < 1 || lev > MaxLeverage {
			return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "leverage: a leverage such as 500 (for 1:500)")
		}
		err = p.s.o.Faults.LeverageByHand(login, lev)
		if err != nil {
			return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "The simulator refused: "+failureText(err))
		}
	case "balance", "credit":
		amt, err := decimal.NewFromString(strings.TrimSpace(c.FormValue("amount")))
		if err != nil || amt.IsZero() || amt.Exponent() < -2 || amt.Abs().GreaterThan(decimal.NewFromInt(1_000_000)) {
			return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "amount: an amount such as 250.00 (or -250.00 to take it out), at most 1,000,000")
		}
		byHand := p.s.o.Faults.BalanceByHand
		if c.FormValue("fault") == "credit" {
			byHand = p.s.o.Faults.CreditByHand
		}
		if err := byHand(login, amt, "by hand on the platform"); err != nil {
			return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "The simulator refused: "+failureText(err))
		}
	default:
		return p.renderDrift(c, fiber.StatusUnprocessableEntity, "", "fault: leverage, balance or credit")
	}
	return c.Redirect(driftPath+"?notice=fault", fiber.StatusSeeOther)
}
