package tradingdesk

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The changes' pages: on the portal's "Trading accounts", each account's changes (leverage, swap-free, passwords,
// and "open an account in EUR" instead of a currency change); in the back office, approve and reject on the
// requests list, disable and enable on the client page's Trading tab, and the desk's rules.
//
//	/portal/trading/accounts/:id/leverage, /swap-free, /password   POST: ask; back to the page, the request shown
//	/backoffice/trading/requests/:id/approve, /reject               POST (trading.approve)
//	/backoffice/trading/accounts/:id/access                         POST (trading.manage): disable or enable by hand
//	/backoffice/trading/settings                                    the desk's rules; POST saves (trading.manage)

const (
	settingsPath       = "/backoffice/trading/settings"
	portalAccountsBase = "/portal/trading/accounts/"
)

func (p *pages) mountChangePages(shell *web.Shell) {
	shell.Nav(web.NavEntry{Group: web.GroupTrading, Label: "Desk rules", Href: settingsPath, Permission: PermRead, Order: 25})
	shell.Tiles(web.Tile{Group: web.GroupTrading, Label: "Requests awaiting approval", Href: requestsPath + "?status=" + string(RequestAwaitingApproval),
		Permission: PermRead, Order: 5,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			n, err := p.s.RequestCounts(c.UserContext(), tenants.Current(c))
			if err != nil {
				return web.TileCount{}, err
			}
			return web.TileCount{Value: n[RequestAwaitingApproval], Alert: n[RequestAwaitingApproval] > 0}, nil
		}})
	shell.Post(portalAccountsBase+":id/leverage", identity.PermPortalAccount, p.portalLeverage)
	shell.Post(portalAccountsBase+":id/swap-free", identity.PermPortalAccount, p.portalSwapFree)
	shell.Post(portalAccountsBase+":id/password", identity.PermPortalAccount, p.portalPassword)
	shell.Post(requestsPath+"/:id/approve", PermApprove, p.decide(true))
	shell.Post(requestsPath+"/:id/reject", PermApprove, p.decide(false))
	shell.Post("/backoffice/trading/accounts/:id/access", PermManage, p.access)
	shell.Page(fiber.MethodGet, settingsPath, PermRead, p.settings)
	shell.Post(settingsPath, PermManage, p.saveSettings)
}

// accountChange is one account's change forms on the portal.
type accountChange struct {
	ID, Login                string
	Leverage                 string
	Leverages                []offerOption
	SwapFree, SwapFreeOffer  bool
	SwapFreeApproval         bool
	LeverageApprovalAbove    int
	OtherCurrencies          []addLink
	Active, LoginEnabled     bool
	LeverageBusy, SwapBusy   bool
	CurrencyFixedExplanation string
}

// changeOptions are the forms of the client's accounts: the leverages each may change to (its type's, within the
// client's tier's cap), whether swap-free can be asked, and which currencies a new account could be opened in.
func (p *pages) changeOptions(ctx context.Context, t tenants.Tenant, client uuid.UUID, accounts []Account, requests []Request, offers []AccountOffer) ([]accountChange, error) {
	var out []accountChange
	err := p.s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		c, err := p.s.o.Clients.GetTx(ctx, tx, client)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if a.Status == "closed" {
				continue
			}
			typ, err := accountTypeTx(ctx, tx, `a.id = $1`, a.TypeID)
			if err != nil {
				return err
			}
			srv, _, err := serverTx(ctx, tx, `id = $1`, a.ServerID)
			if err != nil {
				return err
			}
			ch := accountChange{ID: a.ID.String(), Login: a.Login, Leverage: "1:" + strconv.Itoa(a.Leverage), SwapFree: a.SwapFree,
				SwapFreeApproval: st.SwapFreeApproval, LeverageApprovalAbove: st.LeverageApprovalAbove, Active: a.Status == "active",
				LoginEnabled: a.LoginEnabled}
			for _, l := range withinTier(typ.Leverages, st.TierMaxLeverage[c.Tier]) {
				if l != a.Leverage {
					v := strconv.Itoa(l)
					label := "1:" + v
					if st.LeverageApprovalAbove > 0 && l > st.LeverageApprovalAbove {
						label += " (needs approval)"
					}
					ch.Leverages = append(ch.Leverages, offerOption{Value: v, Label: label})
				}
			}
			_, err = swapFreeGroup(typ, srv, a, !a.SwapFree)
			ch.SwapFreeOffer = err == nil
			for _, r := range requests {
				if r.AccountID != nil && *r.AccountID == a.ID && (r.Status == RequestPending || r.Status == RequestAwaitingApproval) {
					ch.LeverageBusy = ch.LeverageBusy || r.Kind == KindSetLeverage
					ch.SwapBusy = ch.SwapBusy || r.Kind == KindSetSwapFree
				}
			}
			seen := map[string]bool{a.Currency.Code: true}
			for _, o := range offers {
				for _, cur := range o.Currencies {
					if !seen[cur] && (o.Type.ID == a.TypeID || !slices.ContainsFunc(ch.OtherCurrencies, func(l addLink) bool { return strings.HasSuffix(l.Label, cur) })) {
						seen[cur] = true
						ch.OtherCurrencies = append(ch.OtherCurrencies, addLink{Label: "Open a " + o.Type.Name + " account in " + cur,
							Href: PortalAccountsPath + "?" + url.Values{"open": {o.Type.Slug + "|" + cur}}.Encode() + "#open"})
					}
				}
			}
			ch.CurrencyFixedExplanation = "An account keeps the currency it was opened in: the trading server fixes it."
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// portalChangeForm handles a portal change form: back to the page with the request shown, or the refusal.
func (p *pages) portalChangeForm(c *fiber.Ctx, fn func(client, account uuid.UUID) (Request, error)) error {
	client, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such trading account.")
	}
	r, err := fn(client, id)
	if err != nil {
		lines, status, ok := problemLinesOf(changeError(err))
		if !ok {
			return err
		}
		if status == fiber.StatusNotFound {
			return changeError(err)
		}
		return p.renderPortal(c, status, portalForms{changeProblems: lines, changeErr: "The change was not asked for:"})
	}
	return c.Redirect(PortalAccountsPath+"?"+url.Values{"changed": {r.ID.String()}}.Encode()+"#requests", fiber.StatusSeeOther)
}

func (p *pages) portalLeverage(c *fiber.Ctx) error {
	lev, _ := strconv.Atoi(c.FormValue("leverage"))
	return p.portalChangeForm(c, func(client, account uuid.UUID) (Request, error) {
		return p.s.ChangeLeverage(c.UserContext(), tenants.Current(c), client, account, lev)
	})
}

func (p *pages) portalSwapFree(c *fiber.Ctx) error {
	on := c.FormValue("swap_free") == "on"
	return p.portalChangeForm(c, func(client, account uuid.UUID) (Request, error) {
		return p.s.ChangeSwapFree(c.UserContext(), tenants.Current(c), client, account, on)
	})
}

func (p *pages) portalPassword(c *fiber.Ctx) error {
	kind := trading.PasswordKind(c.FormValue("kind"))
	return p.portalChangeForm(c, func(client, account uuid.UUID) (Request, error) {
		return p.s.ResetPassword(c.UserContext(), tenants.Current(c), client, account, kind)
	})
}

// decide approves or rejects a request from the requests list, for a staff user who may see its client.
func (p *pages) decide(approve bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r, err := p.s.staffRequest(c)
		if err != nil {
			return err
		}
		if _, err := p.s.Decide(c.UserContext(), tenants.Current(c), identity.Actor(c), r.ID, approve, c.FormValue("reason")); err != nil {
			lines, status, ok := problemLinesOf(changeError(err))
			if !ok {
				return err
			}
			return p.renderRequests(c, status, string(RequestAwaitingApproval), "The request was not decided:", lines)
		}
		word := "approved"
		if !approve {
			word = "rejected"
		}
		return c.Redirect(requestsPath+"?"+url.Values{"status": {string(RequestAwaitingApproval)}, word: {r.ID.String()}}.Encode(), fiber.StatusSeeOther)
	}
}

// access disables or enables an account by hand from the client page's Trading tab.
func (p *pages) access(c *fiber.Ctx) error {
	a, _, err := p.s.staffAccount(c)
	if err != nil {
		return err
	}
	back := clientPagePath + a.ClientID.String() + "?tab=trading"
	if _, err := p.s.SetAccountAccess(c.UserContext(), tenants.Current(c), identity.Actor(c), a.ID, c.FormValue("enable") == "true", c.FormValue("reason")); err != nil {
		lines, _, ok := problemLinesOf(changeError(err))
		if !ok {
			return err
		}
		return c.Redirect(back+"&"+url.Values{"access_error": {strings.Join(lines, " ")}}.Encode(), fiber.StatusSeeOther)
	}
	return c.Redirect(back, fiber.StatusSeeOther)
}

type settingsPage struct {
	CSRF                  string
	MayManage             bool
	LeverageApprovalAbove string
	SwapFreeApproval      bool
	HealSettings          bool
	TierCaps              string
	Tiers                 string
	Notice, Error         string
	Problems              []string
}

func (p *pages) settings(c *fiber.Ctx) error {
	d, err := p.s.DeskSettings(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	f := settingsPage{SwapFreeApproval: d.SwapFreeApproval, HealSettings: d.HealSettings, TierCaps: tierCaps(d.TierMaxLeverage)}
	if d.LeverageApprovalAbove > 0 {
		f.LeverageApprovalAbove = strconv.Itoa(d.LeverageApprovalAbove)
	}
	if c.Query("saved") != "" {
		f.Notice = "The desk's rules are saved; they apply to the next requests."
	}
	return p.renderSettings(c, fiber.StatusOK, f)
}

func (p *pages) renderSettings(c *fiber.Ctx, status int, f settingsPage) error {
	f.CSRF, f.MayManage = p.shell.CSRF(c), p.may(c, PermManage)
	cs, err := p.s.o.Clients.Settings(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	var tiers []string
	for _, t := range cs.Tiers {
		tiers = append(tiers, t.Name)
	}
	f.Tiers = strings.Join(tiers, ", ")
	return p.shell.Render(c, status, "tradingdesk_settings", "Desk rules", f)
}

// tierCaps is "standard 200" a line per tier.
func tierCaps(m map[string]int) string {
	var lines []string
	for tier, lev := range m {
		lines = append(lines, tier+" "+strconv.Itoa(lev))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (p *pages) saveSettings(c *fiber.Ctx) error {
	f := settingsPage{LeverageApprovalAbove: strings.TrimSpace(c.FormValue("leverage_approval_above")), SwapFreeApproval: c.FormValue("swap_free_approval") == "on",
		HealSettings: c.FormValue("heal_settings") == "on", TierCaps: c.FormValue("tier_max_leverage")}
	in := DeskSettings{SwapFreeApproval: f.SwapFreeApproval, HealSettings: f.HealSettings, TierMaxLeverage: map[string]int{}}
	var problems []string
	if f.LeverageApprovalAbove != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(f.LeverageApprovalAbove, "1:"))
		if err != nil {
			problems = append(problems, "leverage approval above: a leverage such as 200, or empty for none")
		}
		in.LeverageApprovalAbove = v
	}
	for _, line := range strings.Split(f.TierCaps, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		v, err := 0, error(nil)
		if len(fields) == 2 {
			v, err = strconv.Atoi(strings.TrimPrefix(fields[1], "1:"))
		}
		if len(fields) != 2 || err != nil {
			problems = append(problems, "tier max leverage: one tier and its leverage a line, such as \"standard 200\"")
			continue
		}
		in.TierMaxLeverage[fields[0]] = v
	}
	if len(problems) == 0 {
		_, err := p.s.SaveDeskSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), in)
		if err == nil {
			return c.Redirect(settingsPath+"?saved=1", fiber.StatusSeeOther)
		}
		lines, _, ok := problemLines(err)
		if !ok {
			return err
		}
		problems = lines
	}
	f.Error, f.Problems = "The rules were not saved:", problems
	return p.renderSettings(c, fiber.StatusUnprocessableEntity, f)
}
