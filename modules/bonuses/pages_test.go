package bonuses

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// pageApp serves the module's pages on the world's tenant behind the real sign-in guard, with the client page's
// Bonuses tab drawn on a page of its own (the clients module owns the client page).
func (a *api) pageApp(t testing.TB) *fiber.App {
	t.Helper()
	files, err := web.NewPages(identity.PageFiles, PageFiles)
	if err != nil {
		t.Fatal(err)
	}
	app := web.New(web.Options{Log: slog.New(slog.DiscardHandler), Pages: files})
	app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), a.w.ten))
		return c.Next()
	})
	sessions := identity.NewSessions(a.ids.Service, false)
	shell := web.NewShell(app, web.ShellOptions{Pages: files, Sessions: sessions})
	identity.MountPages(shell, sessions)
	a.w.svc.o.Portal = a.ids.Service
	a.w.svc.mountPages(shell)
	p := &pages{shell: shell, s: a.w.svc}
	shell.Page(fiber.MethodGet, "/backoffice/test-hub/:id", PermManage, func(c *fiber.Ctx) error {
		h, err := p.hubTab(c, uuid.MustParse(c.Params("id")))
		if err != nil {
			return err
		}
		return c.Type("html").SendString(string(h))
	})
	if err := shell.Err(); err != nil {
		t.Fatal(err)
	}
	return app
}

// page requests a page with a session cookie (bd_backoffice or bd_portal); form makes it a POST with its CSRF token.
func page(t testing.TB, app *fiber.App, cookie, token, method, path string, form url.Values) (int, string) {
	t.Helper()
	const csrf = "0123456789abcdef0123456789abcdef0123456789"
	var rd io.Reader
	if form != nil {
		form.Set("csrf", csrf)
		rd = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: cookie, Value: token})
	req.AddCookie(&http.Cookie{Name: "bd_csrf", Value: csrf})
	r := webtest.Send(t, app, req)
	return r.Status, string(r.Body)
}

// With a bonus a fifth traded: finance's list shows it with its bar and cancels it only with a reason; the client
// page's tab says why the first deposit earned nothing; the trader's portal page shows the bar; sales is refused.
func TestThePagesShowProgressWhyAndCancelWithAReason(t *testing.T) {
	t.Parallel()
	w := setup(t)
	a := w.api(t)
	app := a.pageApp(t)
	fin := a.staff(t, "finance")
	w.rule(t, "2nd deposit 50% up to $500", secondDeposit())
	w.advance(time.Second)
	ann := w.client(t, "Ann", "GB", "standard")
	w.deposit(t, ann, 1, 100000)
	w.deposit(t, ann, 2, 40000)
	w.closed(t, w.account(ann), w.closingDeal("7001", "20", w.clock().Add(time.Minute), time.Hour))

	status, body := page(t, app, "bd_backoffice", fin, "GET", "/backoffice/bonuses?status=open", nil)
	if status != 200 || !strings.Contains(body, "Ann Trader") || !strings.Contains(body, `<progress max="100" value="20"`) ||
		!strings.Contains(body, "20.00 of 100.00 lots") {
		t.Fatalf("the list: %d %.1500s", status, body)
	}
	id := w.bonuses(t, ann)[0].ID.String()
	if status, body := page(t, app, "bd_backoffice", fin, "POST", "/backoffice/bonuses/"+id+"/cancel", url.Values{"reason": {" "}}); status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "reason: is required") {
		t.Fatalf("a cancel without a reason: %d %.800s", status, body)
	}
	if status, _ := page(t, app, "bd_backoffice", fin, "POST", "/backoffice/bonuses/"+id+"/cancel",
		url.Values{"reason": {"Opposite positions on two accounts."}, "back": {"/backoffice/bonuses?status=open"}}); status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", status)
	}
	if _, body := page(t, app, "bd_backoffice", fin, "GET", "/backoffice/bonuses", nil); !strings.Contains(body, "Cancelled by staff: Opposite positions on two accounts.") {
		t.Errorf("the cancelled bonus: %.1500s", body)
	}
	_, body = page(t, app, "bd_backoffice", fin, "GET", "/backoffice/test-hub/"+ann.String(), nil)
	if !strings.Contains(body, `id="client-bonuses"`) || !strings.Contains(body, "it was the client&#39;s 1st deposit; the rule takes the 2nd") ||
		!strings.Contains(body, "Bonus of 200.00 USD") {
		t.Errorf("the client's tab: %.1500s", body)
	}

	// The trader sees their bonus (cancelled now) with its bar and the reason.
	email := "ann." + uuid.NewString()[:8] + "@traders.example"
	if _, err := a.ids.CreatePortalUser(context.Background(), w.ten, email, "Correct-Horse-Battery-9", &ann); err != nil {
		t.Fatal(err)
	}
	tok, err := a.ids.Login(context.Background(), w.ten, identity.Portal, identity.Credentials{Email: email, Password: "Correct-Horse-Battery-9"})
	if err != nil {
		t.Fatal(err)
	}
	status, body = page(t, app, "bd_portal", tok.AccessToken, "GET", "/portal/bonuses", nil)
	if status != 200 || !strings.Contains(body, "200.00 USD") || !strings.Contains(body, `<progress max="100" value="20"`) ||
		!strings.Contains(body, "Cancelled by the brokerage: Opposite positions on two accounts.") {
		t.Errorf("the portal: %d %.1500s", status, body)
	}

	var mine BonusesResponse
	a.do(t, "GET", "/api/v1/portal/bonuses", tok.AccessToken, nil).Decode(t, &mine)
	if len(mine.Bonuses) != 1 || mine.Bonuses[0].LotsDone != "20.00" || mine.Bonuses[0].Status != "cancelled" {
		t.Errorf("the portal's API: %+v", mine)
	}

	sales := a.staff(t, "sales")
	for _, path := range []string{"/backoffice/bonuses", "/backoffice/bonuses/rules", "/backoffice/test-hub/" + ann.String()} {
		if status, _ := page(t, app, "bd_backoffice", sales, "GET", path, nil); status != http.StatusForbidden {
			t.Errorf("sales on %s: %d", path, status)
		}
	}
}
