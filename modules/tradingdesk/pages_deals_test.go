package tradingdesk_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const staffPassword = "correct horse battery staple 42"

// desk serves the bundle's tenant t (as the host middleware would have resolved it): the desk's API and pages,
// signed in through identity.
type desk struct {
	app *fiber.App
	id  identitytest.Fixture
	ten tenants.Tenant
}

func (b *bundle) desk(t testing.TB, ten tenants.Tenant) *desk {
	t.Helper()
	d := &desk{id: identitytest.New(t, b.p.Gate, b.trail), ten: ten}
	pages, err := web.NewPages(identity.PageFiles, tradingdesk.PageFiles)
	if err != nil {
		t.Fatal(err)
	}
	d.app = web.New(web.Options{Log: slog.New(slog.DiscardHandler), Pages: pages})
	d.app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), ten))
		return c.Next()
	})
	api := web.NewAPI(d.app, d.id.Authorize)
	api.SetIdempotency(tenants.NewIdempotencyStore(b.p.Gate), nil, nil)
	tradingdesk.Routes(api, b.svc)
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	sessions := identity.NewSessions(d.id.Service, false)
	shell := web.NewShell(d.app, web.ShellOptions{Pages: pages, Sessions: sessions,
		Brand: func(*fiber.Ctx) (web.Brand, error) { return web.Brand{Name: "Test"}, nil }})
	identity.MountPages(shell, sessions)
	b.svc.Door().Pages(shell)
	if err := shell.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// staff adds an active staff user with roles to the desk's tenant and answers their id and access token.
func (d *desk) staff(t testing.TB, b *bundle, roles ...string) (uuid.UUID, string) {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	email := "staff." + id.String()[:8] + "@" + d.ten.Slug + ".example"
	hash, err := d.id.Hasher.Hash(ctx, staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.p.Gate.Scope(ctx, d.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, $3, $4, 'active')`,
			id, email, "Staff "+roles[0], roles); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO staff_credentials (staff_user_id, password_hash) VALUES ($1, $2)`, id, hash)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := d.id.Login(ctx, d.ten, identity.Staff, identity.Credentials{Email: email, Password: staffPassword})
	if err != nil {
		t.Fatal(err)
	}
	return id, tok.AccessToken
}

func (d *desk) api(t testing.TB, token, path string) webtest.Reply {
	t.Helper()
	return webtest.Send(t, d.app, webtest.JSON("GET", path, nil, "Authorization", webtest.Bearer(token)))
}

func (d *desk) page(t testing.TB, token, path string) webtest.Reply {
	t.Helper()
	req := httptest.NewRequest("GET", path, io.Reader(nil))
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: "bd_backoffice", Value: token})
	return webtest.Send(t, d.app, req)
}

// deals reads every page of an account's deals through the API with query, limit a page.
func (d *desk) deals(t testing.TB, token string, account uuid.UUID, query url.Values, limit int) []tradingdesk.DealResponse {
	t.Helper()
	var out []tradingdesk.DealResponse
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	for pages := 0; ; pages++ {
		r := d.api(t, token, "/api/v1/trading/accounts/"+account.String()+"/deals?"+q.Encode())
		if r.Status != 200 {
			t.Fatalf("deals: %d %s", r.Status, r.Body)
		}
		var page tradingdesk.AccountDealsResponse
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == nil {
			return out
		}
		if pages > 1000 {
			t.Fatal("deals: no end of pages")
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// syncedAccount is an account of a new client on the simulator server deals-sim that traded for ticks, synced
// once: its login, its id and its client's.
func (b *bundle) syncedAccount(t testing.TB, ticks int) (login string, account, client uuid.UUID) {
	t.Helper()
	srv := b.simServer(t, "deals-sim")
	login = b.trader(t, ticks)
	account, client = b.linked(t, b.ten, srv.ID, login, "active", time.Now().Add(-time.Hour))
	if _, err := b.svc.SyncAccount(context.Background(), b.ten, srv.ID, login); err != nil {
		t.Fatal(err)
	}
	return login, account, client
}

func TestAnAccountsDealsAreSyncedThenListedPagedAndFiltered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	login, account, client := b.syncedAccount(t, 40)
	platform := b.platformDeals(t, login)
	if len(platform) < 10 {
		t.Fatalf("the simulator traded %d deals: too few to page", len(platform))
	}
	d := b.desk(t, b.ten)
	_, admin := d.staff(t, b, "admin")

	// Every deal once, newest first, through pages of 3: no gap, no repeat.
	all := d.deals(t, admin, account, nil, 3)
	if len(all) != len(platform) {
		t.Fatalf("listed %d deals, the platform has %d", len(all), len(platform))
	}
	seen := map[string]bool{}
	for i, x := range all {
		if seen[x.Ticket] {
			t.Fatalf("deal %s listed twice", x.Ticket)
		}
		seen[x.Ticket] = true
		if i > 0 && x.Time.After(all[i-1].Time) {
			t.Fatalf("deal %s (%s) after a newer one (%s)", x.Ticket, x.Time, all[i-1].Time)
		}
		if x.Currency != "USD" {
			t.Fatalf("deal %s in %q", x.Ticket, x.Currency)
		}
	}
	byTicket := map[string]tradingdesk.DealResponse{}
	for _, x := range all {
		byTicket[x.Ticket] = x
	}
	trades, money := 0, 0
	for _, p := range platform {
		x, ok := byTicket[p.Ticket]
		if !ok {
			t.Fatalf("deal %s not listed", p.Ticket)
		}
		// Exact decimals, as the platform sent them.
		if x.Profit != p.Profit.String() || x.Volume != p.Volume.String() || x.Price != p.Price.String() || x.Swap != p.Swap.String() ||
			x.Commission != p.Commission.String() || x.Action != string(p.Action) {
			t.Fatalf("deal %s listed as %+v, the platform has %+v", p.Ticket, x, p)
		}
		if p.Action == "buy" || p.Action == "sell" {
			trades++
		} else {
			money++
		}
	}

	// Kind, symbol and period filter.
	if got := d.deals(t, admin, account, url.Values{"kind": {"trades"}}, 50); len(got) != trades {
		t.Fatalf("trades: %d, want %d", len(got), trades)
	}
	if got := d.deals(t, admin, account, url.Values{"kind": {"money"}}, 50); len(got) != money || money == 0 {
		t.Fatalf("money movements: %d, want %d (> 0)", len(got), money)
	}
	sym := ""
	want := 0
	for _, p := range platform {
		if p.Symbol != "" && (sym == "" || p.Symbol == sym) {
			sym = p.Symbol
			want++
		}
	}
	if got := d.deals(t, admin, account, url.Values{"symbol": {strings.ToLower(sym)}}, 50); len(got) != want {
		t.Fatalf("symbol %s: %d deals, want %d", sym, len(got), want)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if got := d.deals(t, admin, account, url.Values{"from": {today}, "to": {today}}, 50); len(got) != countOn(platform, today) {
		t.Fatalf("today: %d deals, want %d", len(got), countOn(platform, today))
	}
	if got := d.deals(t, admin, account, url.Values{"to": {"2001-01-01"}}, 50); len(got) != 0 {
		t.Fatalf("before 2001: %d deals", len(got))
	}
	for _, bad := range []string{"kind=gold", "from=yesterday", "cancelled=maybe", "from=2026-02-02&to=2026-02-01"} {
		if r := d.api(t, admin, "/api/v1/trading/accounts/"+account.String()+"/deals?"+bad); r.Status != 422 {
			t.Fatalf("%s: %d %s", bad, r.Status, r.Body)
		}
	}

	// A cancelled deal is hidden unless asked for, and then struck through on the page.
	gone := all[0]
	b.exec(t, `UPDATE trading_deals SET cancelled_at = now(), changed_at = now() WHERE ticket = $1`, gone.Ticket)
	changed := all[1]
	b.exec(t, `UPDATE trading_deals SET changed_at = now(), previous = jsonb_build_object('ticket', ticket, 'action', action,
		'volume', volume, 'price', price, 'profit', 12.5, 'commission', commission, 'swap', swap, 'time', time, 'comment', 'before')
		WHERE ticket = $1`, changed.Ticket)
	if got := d.deals(t, admin, account, nil, 50); len(got) != len(all)-1 {
		t.Fatalf("without the cancelled: %d deals, want %d", len(got), len(all)-1)
	}
	got := d.deals(t, admin, account, url.Values{"cancelled": {"true"}}, 50)
	if len(got) != len(all) || got[0].CancelledAt == nil || got[1].Previous == nil || got[1].Previous.Profit != "12.5" {
		t.Fatalf("with the cancelled: %d deals, first %+v, second %+v", len(got), got[0], got[1])
	}

	// The page: the account's line, the client named and linked, the deals in words, the cancelled struck through.
	r := d.page(t, admin, "/backoffice/trading/accounts/"+account.String()+"/deals?cancelled=on")
	if r.Status != 200 {
		t.Fatalf("page: %d %s", r.Status, r.Body)
	}
	for _, s := range []string{"Ada Lovelace", "/backoffice/clients/" + client.String(), login, "deals-sim", `data-ticket="` + gone.Ticket + `" class="deal-cancelled"`,
		"cancelled on ", "changed on ", "Before: ", " USD</td>"} {
		if !strings.Contains(string(r.Body), s) {
			t.Fatalf("the page lacks %q:\n%s", s, r.Body)
		}
	}
	if r := d.page(t, admin, "/backoffice/trading/accounts/"+account.String()+"/deals?kind=gold"); r.Status != 422 {
		t.Fatalf("a bad filter on the page: %d", r.Status)
	}
	// The page's next link reads on.
	r = d.page(t, admin, "/backoffice/trading/accounts/"+account.String()+"/deals?limit=2")
	if !strings.Contains(string(r.Body), `rel="next"`) || strings.Count(string(r.Body), "data-ticket=") != 2 {
		t.Fatalf("a page of 2 deals with a next link:\n%s", r.Body)
	}
}

func countOn(list []trading.Deal, day string) int {
	n := 0
	for _, p := range list {
		if p.Time.UTC().Format(time.DateOnly) == day {
			n++
		}
	}
	return n
}

func TestAnAccountsDealsAreRefusedToAnotherTenantAndToASalesUserNotOwningTheClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	login, account, client := b.syncedAccount(t, 5)
	path := "/api/v1/trading/accounts/" + account.String() + "/deals"
	page := "/backoffice/trading/accounts/" + account.String() + "/deals"

	// Another tenant's admin: 404, as for no account.
	other := b.p.NewTenant(t, "")
	d2 := b.desk(t, other)
	_, admin2 := d2.staff(t, b, "admin")
	if r := d2.api(t, admin2, path); r.Status != 404 || strings.Contains(string(r.Body), login) {
		t.Fatalf("tenant B's admin: %d %s", r.Status, r.Body)
	}
	if r := d2.page(t, admin2, page); r.Status != 404 || strings.Contains(string(r.Body), login) {
		t.Fatalf("tenant B's admin on the page: %d", r.Status)
	}

	// Under managers_see_own_clients_only a sales user sees their own clients' deals only.
	d := b.desk(t, b.ten)
	owner, ownerTok := d.staff(t, b, "sales")
	_, otherTok := d.staff(t, b, "sales")
	st, err := b.cl.Settings(ctx, b.ten)
	if err != nil {
		t.Fatal(err)
	}
	st.ManagersSeeOwnClientsOnly = true
	if _, err := b.cl.SaveSettings(ctx, b.ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	b.exec(t, `UPDATE clients SET manager_id = $1 WHERE id = $2`, owner, client)
	if r := d.api(t, otherTok, path); r.Status != 404 {
		t.Fatalf("a sales user not owning the client: %d %s", r.Status, r.Body)
	}
	if r := d.page(t, otherTok, page); r.Status != 404 {
		t.Fatalf("a sales user not owning the client, on the page: %d", r.Status)
	}
	if r := d.api(t, ownerTok, path); r.Status != 200 {
		t.Fatalf("the client's own manager: %d %s", r.Status, r.Body)
	}
	if r := d.page(t, ownerTok, page); r.Status != 200 {
		t.Fatalf("the client's own manager, on the page: %d", r.Status)
	}
	// No such account.
	if r := d.api(t, ownerTok, "/api/v1/trading/accounts/"+uuid.NewString()+"/deals"); r.Status != 404 {
		t.Fatalf("no such account: %d", r.Status)
	}
}
