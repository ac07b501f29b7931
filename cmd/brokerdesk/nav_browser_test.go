package main

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/brokerdesk/brokerdesk/infra/browsertest"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// menuGroups are the side menu's headings this test knows, with the permissions of their entries (identity's
// settings, staff, audit, clients, onboarding, KYC, payments, trading desk and partners pages), in the menu's order.
var menuGroups = []struct {
	name  string
	perms []web.Permission
}{
	{"Home", []web.Permission{identity.PermAccountRead}},
	{"Clients", []web.Permission{identity.PermClientsRead}},
	{"Compliance", []web.Permission{identity.PermKYCReview}},
	{"Money", []web.Permission{identity.PermPaymentsRead}},
	{"Trading", []web.Permission{identity.PermTradingRead}},
	{"Partners", []web.Permission{identity.PermIBManage}},
	{"Settings", []web.Permission{identity.PermStaffRead, identity.PermAuditRead, identity.PermSettingsManage}},
}

// expectedMenu is the side menu a role should see, from identity's role table.
func expectedMenu(role string) []string {
	held := identity.RolePermissions(role)
	var out []string
	for _, g := range menuGroups {
		if slices.ContainsFunc(g.perms, func(p web.Permission) bool { return slices.Contains(held, p) }) {
			out = append(out, g.name)
		}
	}
	return out
}

// Demo staff of three roles sign in to the back office in one browser with scripts off: each sees the side menu's
// groups their roles open and no other, the dashboard's tiles for their permissions, each number a link to the list
// it counts (which the menu then marks as the current page); on a phone's screen the menu folds behind "Menu" and
// opens without JavaScript, and the page does not overflow sideways.
func TestBackOfficeSideMenuAndDashboardFollowTheRoleInABrowserWithoutJavaScript(t *testing.T) {
	t.Parallel()
	a, base, _ := startServerWith(t, map[string]string{"BD_PUBLIC_SCHEME": "http"}) // Chromium keeps Secure cookies off http pages
	ten, _ := demoTenant(t, a)
	uploadForMatrix(t, a, ten) // a KYC case waiting, for the compliance tile
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()

	browser := browsertest.NewFor(t, 4*time.Minute)
	browsertest.Step(t, browser, "scripts off", emulation.SetScriptExecutionDisabled(true))
	for _, role := range []string{"compliance", "admin", "support"} {
		held := identity.RolePermissions(role)
		var groups, tiles []string
		browsertest.Step(t, browser, role+": sign in",
			chromedp.Navigate(origin+"/backoffice/login"),
			chromedp.WaitVisible("#email", chromedp.ByQuery),
			chromedp.SendKeys("#email", demoEmail(ten, role), chromedp.ByQuery),
			chromedp.SendKeys("#password", identity.DemoPassword, chromedp.ByQuery),
			loads(chromedp.Submit("#password", chromedp.ByQuery)),
			chromedp.WaitVisible("nav.side", chromedp.ByQuery),
			chromedp.Evaluate(`[...document.querySelectorAll("nav.side h2")].map(h => h.textContent)`, &groups),
			chromedp.Evaluate(`[...document.querySelectorAll("#dashboard a.count")].map(a => a.querySelector(".label").textContent + " " + a.getAttribute("href"))`, &tiles),
		)
		if want := expectedMenu(role); !slices.Equal(groups, want) {
			t.Errorf("%s: side menu %v, want %v", role, groups, want)
		}
		switch role { // the brief's cases, spelled out
		case "admin":
			if !slices.Contains(groups, "Settings") {
				t.Errorf("admin: no Settings in %v", groups)
			}
		case "compliance":
			if !slices.Contains(groups, "Compliance") {
				t.Errorf("compliance: no Compliance in %v", groups)
			}
		case "support":
			if slices.Contains(groups, "Compliance") || slices.Contains(groups, "Settings") {
				t.Errorf("support: %v shows Compliance or Settings", groups)
			}
		}
		kycTile := slices.Contains(tiles, "KYC cases waiting /backoffice/kyc")
		clientTile := slices.Contains(tiles, "Waiting for email verification /backoffice/clients?status=registered")
		if kycTile != slices.Contains(held, identity.PermKYCReview) || clientTile != slices.Contains(held, identity.PermClientsRead) {
			t.Errorf("%s: dashboard tiles %v", role, tiles)
		}

		// A number opens its list, and the menu marks that list.
		link, heading := `#dashboard a.count[href="/backoffice/clients?status=registered"]`, "Clients"
		if kycTile {
			link, heading = `#dashboard a.count[href="/backoffice/kyc"]`, "KYC queue"
		}
		var h1, current string
		browsertest.Step(t, browser, role+": open a tile",
			loads(chromedp.Click(link, chromedp.ByQuery)),
			chromedp.Text("h1", &h1, chromedp.ByQuery),
			chromedp.Text(`nav.side a[aria-current="page"]`, &current, chromedp.ByQuery),
		)
		if h1 != heading || current != heading {
			t.Errorf("%s: the tile opened %q with %q current, want %q", role, h1, current, heading)
		}

		if role == "admin" {
			var folded, opened string
			var overflow bool
			browsertest.Step(t, browser, "admin: a phone's screen",
				emulation.SetDeviceMetricsOverride(390, 844, 2, true),
				chromedp.Navigate(origin+"/backoffice/clients"),
				chromedp.WaitVisible("label.menu-button", chromedp.ByQuery),
				chromedp.Evaluate(`getComputedStyle(document.querySelector("nav.side")).display`, &folded),
				chromedp.Evaluate(`document.documentElement.scrollWidth > 390`, &overflow),
				chromedp.Click("label.menu-button", chromedp.ByQuery),
				chromedp.WaitVisible("nav.side", chromedp.ByQuery),
				chromedp.Evaluate(`getComputedStyle(document.querySelector("nav.side")).display`, &opened),
				emulation.ClearDeviceMetricsOverride(),
			)
			if folded != "none" || opened == "none" || overflow {
				t.Errorf("phone: menu display %q before the toggle, %q after; page wider than the screen: %v", folded, opened, overflow)
			}
		}

		var after string
		browsertest.Step(t, browser, role+": sign out",
			loads(chromedp.Click("header form button", chromedp.ByQuery)),
			chromedp.WaitVisible("#email", chromedp.ByQuery),
			chromedp.Text("h1", &after, chromedp.ByQuery),
		)
		if !strings.Contains(after, "sign-in") {
			t.Errorf("%s: after signing out the page says %q", role, after)
		}
	}
}
