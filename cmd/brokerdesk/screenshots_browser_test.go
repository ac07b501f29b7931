package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/browsertest"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// screenshotDir is where the browser tests leave pictures of the main pages (docs/screenshots, which README.md
// names), so a reviewer sees the pages without running anything: `make screenshots` sets BD_SCREENSHOTS_DIR and
// writes them again. `make test` takes the same pictures and checks them, but leaves the tree alone.
func screenshotDir() string { return os.Getenv("BD_SCREENSHOTS_DIR") }

// The two screens every page is looked at on: a phone and a laptop.
var screens = []struct {
	name          string
	width, height int64
	mobile        bool
}{{"phone", 390, 844, true}, {"desktop", 1366, 900, false}}

// storyTenant provisions a brokerage filled as `make run` fills the demo brokerage: every module's demo seeders in
// one transaction, then every module's Demo through its own services (the KYC stories: uploads, reviews,
// decisions, status changes), so each client's documents, history and timeline agree.
func storyTenant(t *testing.T, a *app) tenants.Tenant {
	t.Helper()
	ctx := context.Background()
	ten, err := a.provisioner.Create(ctx, tenants.Request{Slug: "s" + tenanttest.RandomLabel(10), DisplayName: "Harbour Markets",
		AdminEmail: "owner@story.example"})
	if err != nil {
		t.Fatal(err)
	}
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		for _, d := range a.doors {
			for _, s := range d.DemoSeeders {
				if err := s.Seed(ctx, tx, ten); err != nil {
					return fmt.Errorf("%s demo seeder: %w", d.Name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.runDemos(ctx, ten); err != nil {
		t.Fatal(err)
	}
	return ten
}

// clientIDNamed is the id of the story's client with that last name.
func clientIDNamed(t *testing.T, a *app, ten tenants.Tenant, last string) string {
	t.Helper()
	var id string
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text FROM clients WHERE last_name = $1`, last).Scan(&id)
	}); err != nil {
		t.Fatalf("client %s: %v", last, err)
	}
	return id
}

// shot is one page to look at: where, what must be on it, and the picture's name.
type shot struct {
	name, path, wait string
}

// look opens each page on both screens with scripts off, checks that nothing but a table's own box scrolls
// sideways, and saves a full-page picture of it as <name>-<screen>.png.
func look(t *testing.T, browser context.Context, origin string, shots []shot) {
	t.Helper()
	dir := screenshotDir()
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sc := range screens {
		for _, s := range shots {
			var png []byte
			var overflow bool
			browsertest.Step(t, browser, s.name+" on a "+sc.name,
				emulation.SetDeviceMetricsOverride(sc.width, sc.height, 1, sc.mobile),
				chromedp.Navigate(origin+s.path),
				chromedp.WaitVisible(s.wait, chromedp.ByQuery),
				chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow),
				chromedp.FullScreenshot(&png, 100),
			)
			if overflow {
				t.Errorf("%s on a %s (%d px): the page is wider than the screen", s.name, sc.name, sc.width)
			}
			if len(png) == 0 {
				t.Errorf("%s on a %s: no picture", s.name, sc.name)
			}
			if dir == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, s.name+"-"+sc.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	browsertest.Step(t, browser, "back to the browser's own screen", emulation.ClearDeviceMetricsOverride())
}

// signIn signs a demo user in through a sign-in page.
func signIn(t *testing.T, browser context.Context, origin, area, email string) {
	t.Helper()
	browsertest.Step(t, browser, "sign in as "+email,
		chromedp.Navigate(origin+area+"/login"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", identity.DemoPassword, chromedp.ByQuery),
		loads(chromedp.Submit("#password", chromedp.ByQuery)),
	)
}

// The main pages of the back office and the portal, filled with the demo brokerage's story, as a compliance officer
// and a trader see them on a phone and a laptop: each is pictured (saved in docs/screenshots by `make screenshots`), and none makes the
// page scroll sideways (a wide table scrolls inside its own box).
func TestBrowserScreenshotsOfTheMainPagesOnAPhoneAndADesktop(t *testing.T) {
	t.Parallel()
	a, base, _ := startMoneyServer(t, map[string]string{"BD_PUBLIC_SCHEME": "http"}) // the demo's money, as make run seeds it
	ten := storyTenant(t, a)
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()
	hannah := "/backoffice/clients/" + clientIDNamed(t, a, ten, "Schmidt")
	open := true
	cases, err := a.payments.Cases(context.Background(), ten, payments.CaseFilter{Open: &open}, 1)
	if err != nil || len(cases) == 0 {
		t.Fatalf("the demo leaves no exception case open: %v", err)
	}
	waiting, _, err := a.kyc.List(context.Background(), ten, kyc.Filter{}, nil, 1)
	if err != nil || len(waiting) == 0 {
		t.Fatalf("the story leaves no case waiting: %v", err)
	}

	browser := browsertest.NewFor(t, 6*time.Minute)
	browsertest.Step(t, browser, "scripts off", emulation.SetScriptExecutionDisabled(true))
	signIn(t, browser, origin, "/backoffice", demoEmail(ten, "compliance"))
	look(t, browser, origin, []shot{
		{"backoffice-home", "/backoffice", "#dashboard"},
		{"clients-list", "/backoffice/clients", "table"},
		{"client-profile", hannah, "#profile"},
		{"client-documents", hannah + "?tab=documents", "#documents"},
		{"client-kyc", hannah + "?tab=kyc", "#kyc-cases"},
		{"client-activity", hannah + "?tab=activity", "#timeline"},
		{"kyc-queue", "/backoffice/kyc", "table"},
		{"kyc-case", "/backoffice/kyc/cases/" + waiting[0].ID.String(), "h1"},
		{"audit-trail", "/backoffice/audit", "#trail"},
	})

	finance := browsertest.NewFor(t, 4*time.Minute)
	browsertest.Step(t, finance, "scripts off", emulation.SetScriptExecutionDisabled(true))
	signIn(t, finance, origin, "/backoffice", demoEmail(ten, "finance"))
	look(t, finance, origin, []shot{
		{"finance-home", "/backoffice", "#dashboard"},
		{"deposits-list", "/backoffice/deposits", "table"},
		{"exceptions-queue", "/backoffice/payments/exceptions", "table"},
		{"exception-case", "/backoffice/payments/exceptions/" + cases[0].ID.String(), "h1"},
		{"client-money", hannah + "?tab=money", "#wallets-title"},
	})

	trader := browsertest.NewFor(t, 4*time.Minute)
	browsertest.Step(t, trader, "scripts off", emulation.SetScriptExecutionDisabled(true))
	signIn(t, trader, origin, "/portal", identity.DemoTraderEmail(ten))
	look(t, trader, origin, []shot{
		{"portal-home", "/portal", "main"},
		{"portal-documents", "/portal/documents", "main"},
		{"portal-wallet", "/portal/wallet", "main"},
	})
}

// The client page as a compliance officer uses it at 390 and 1366 px with scripts off: the header names the client
// with their coloured status, manager and IB, and the policy answers as badges whose reason is in their title and,
// in text, for screen readers; the tabs are links that open their section; the activity tab tells the story in
// sentences with names (the officer, the client, the documents) and keeps the raw row one click away.
func TestBrowserClientPageHeaderTabsAndTimelineInSentences(t *testing.T) {
	t.Parallel()
	a, base, _ := startServerWith(t, map[string]string{"BD_PUBLIC_SCHEME": "http"})
	ten := storyTenant(t, a)
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()
	hannah := "/backoffice/clients/" + clientIDNamed(t, a, ten, "Schmidt")

	browser := browsertest.NewFor(t, 5*time.Minute)
	browsertest.Step(t, browser, "scripts off", emulation.SetScriptExecutionDisabled(true))
	signIn(t, browser, origin, "/backoffice", demoEmail(ten, "compliance"))
	for _, sc := range screens {
		var h1, facts, srText, title, current, sections, timeline, raw string
		var tabs []string
		var overflow, rawOpen bool
		browsertest.Step(t, browser, "client page on a "+sc.name,
			emulation.SetDeviceMetricsOverride(sc.width, sc.height, 1, sc.mobile),
			chromedp.Navigate(origin+hannah),
			chromedp.WaitVisible("#profile", chromedp.ByQuery),
			chromedp.Text(".hub-head h1", &h1, chromedp.ByQuery),
			chromedp.Text("#facts", &facts, chromedp.ByQuery),
			chromedp.Evaluate(`[...document.querySelectorAll("#policy li .visually-hidden")].map(e => e.textContent).join("|")`, &srText),
			chromedp.Evaluate(`document.querySelector("#policy li").getAttribute("title")`, &title),
			chromedp.Evaluate(`[...document.querySelectorAll("nav.tabs a")].map(a => a.textContent + " " + a.getAttribute("href"))`, &tabs),
			chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow),
			// A tab is a link: following it opens the section, and the header stays.
			loads(chromedp.Click(`nav.tabs a[href$="?tab=activity"]`, chromedp.ByQuery)),
			chromedp.WaitVisible("#timeline", chromedp.ByQuery),
			chromedp.Text(`nav.tabs a[aria-current="page"]`, &current, chromedp.ByQuery),
			chromedp.Evaluate(`[...document.querySelectorAll(".hub-section")].map(s => s.id).join(",") + " " + (document.querySelector("#facts") ? "header" : "")`, &sections),
			chromedp.Text("#timeline", &timeline, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector("#timeline details").open`, &rawOpen),
			chromedp.Click("#timeline details summary", chromedp.ByQuery),
			chromedp.Text("#timeline details dl", &raw, chromedp.ByQuery),
		)
		if h1 != "Hannah Schmidt" {
			t.Errorf("%s: heading %q", sc.name, h1)
		}
		for _, want := range []string{"KYC approved", "Professional", "Sara Sales", "IB-ATLAS", "Germany"} {
			if !strings.Contains(facts, want) {
				t.Errorf("%s: the header's facts %q lack %q", sc.name, facts, want)
			}
		}
		if !strings.Contains(srText, "allowed") || !strings.Contains(title, "KYC is approved") || !strings.Contains(srText, title) {
			t.Errorf("%s: policy badges: screen-reader text %q, title %q", sc.name, srText, title)
		}
		var want = []string{"Profile and status " + hannah, "Documents " + hannah + "?tab=documents", "KYC review " + hannah + "?tab=kyc",
			"Trading " + hannah + "?tab=trading", "Data protection " + hannah + "/privacy", "Activity " + hannah + "?tab=activity"}
		if strings.Join(tabs, "|") != strings.Join(want, "|") {
			t.Errorf("%s: tabs %q, want %q", sc.name, tabs, want)
		}
		if overflow {
			t.Errorf("%s: the client page is wider than the screen", sc.name)
		}
		if current != "Activity" || sections != "activity header" {
			t.Errorf("%s: after following the Activity tab: current %q, sections %q", sc.name, current, sections)
		}
		for _, sentence := range []string{"Colin Compliance approved the passport", "Hannah Schmidt uploaded a proof of address",
			"Status of Hannah Schmidt changed from KYC submitted to KYC approved by Colin Compliance: every required document approved",
			"Colin Compliance claimed the passport review", "Hannah Schmidt registered on the portal"} {
			if !strings.Contains(timeline, sentence) {
				t.Errorf("%s: the timeline lacks %q:\n%s", sc.name, sentence, timeline)
			}
		}
		if strings.Contains(timeline, "client:") || rawOpen || !strings.Contains(raw, "Action") {
			t.Errorf("%s: the raw row should be one click away, not in the sentences (open before the click: %v): %q", sc.name, rawOpen, raw)
		}
	}
	browsertest.Step(t, browser, "kind filter",
		emulation.ClearDeviceMetricsOverride(),
		loads(chromedp.Click(`nav.chips a[href*="kind=Documents"]`, chromedp.ByQuery)),
		chromedp.WaitVisible("#timeline", chromedp.ByQuery),
	)
	var kinds []string
	browsertest.Step(t, browser, "kinds shown",
		chromedp.Evaluate(`[...new Set([...document.querySelectorAll("#timeline .kind")].map(e => e.textContent))]`, &kinds))
	if strings.Join(kinds, ",") != "Documents" {
		t.Errorf("the Documents filter shows kinds %v", kinds)
	}
}
