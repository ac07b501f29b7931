package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/browsertest"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// The browser test: a staff user with two-factor sign-in enrolled signs in to the back office (email and
// password, then the code from the stored secret), sees the home page with their name, signs out and is back on
// the login page. Scripts are off: the pages work without JavaScript.
func TestBackOfficeSignInWithTwoFactorAndOutInABrowserWithoutJavaScript(t *testing.T) {
	t.Parallel()
	a, base, _ := startServerWith(t, map[string]string{"BD_PUBLIC_SCHEME": "http"}) // Chromium keeps Secure cookies off http pages
	ten, admin := demoTenant(t, a)
	secret := enrolTOTP(t, a, ten, identity.Staff, admin.ID)
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()

	ctx := browsertest.New(t)
	var heading, afterLogout, location string
	err := chromedp.Run(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(origin+"/backoffice"), // signed out: sent to the login page
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", admin.Email, chromedp.ByQuery),
		chromedp.SendKeys("#password", identity.DemoPassword, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
		chromedp.WaitVisible("#code", chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			code, err := auth.TOTPCode(secret, time.Now())
			if err != nil {
				return err
			}
			return chromedp.Run(ctx, chromedp.SendKeys("#code", code, chromedp.ByQuery), chromedp.Submit("#code", chromedp.ByQuery))
		}),
		chromedp.WaitVisible("header nav", chromedp.ByQuery),
		chromedp.Text("h1", &heading, chromedp.ByQuery),
		chromedp.Location(&location),
		chromedp.Click(`header form button`, chromedp.ByQuery),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.Text("h1", &afterLogout, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("browse %s: %v", origin, err)
	}
	if heading != "Welcome, "+admin.FullName || location != origin+"/backoffice" {
		t.Errorf("after sign-in: heading %q at %s", heading, location)
	}
	if afterLogout != "Back office sign-in" {
		t.Errorf("after sign-out: heading %q", afterLogout)
	}
	var rt string
	if err := chromedp.Run(ctx, chromedp.Navigate(origin+"/backoffice"), chromedp.WaitVisible("#email", chromedp.ByQuery), chromedp.Location(&rt)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rt, "/backoffice/login") {
		t.Errorf("the home page after sign-out is at %s, want the login page", rt)
	}
}

func TestPortalSignInAndOutInABrowser(t *testing.T) {
	t.Parallel()
	a, base, _ := startServerWith(t, map[string]string{"BD_PUBLIC_SCHEME": "http"})
	ten, _ := demoTenant(t, a)
	const email, password = "trader@portal.example", "Trader-Strong-Pass-2026"
	if _, err := a.identity.CreatePortalUser(context.Background(), ten, email, password, nil); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()

	ctx := browsertest.New(t)
	var shown, afterLogout string
	err := chromedp.Run(ctx,
		chromedp.Navigate(origin+"/"), // the landing page links to the portal's sign-in
		chromedp.Click(`a[href="/portal/login"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
		chromedp.WaitVisible("#account-email", chromedp.ByQuery),
		chromedp.Text("#account-email", &shown, chromedp.ByQuery),
		chromedp.Click(`header form button`, chromedp.ByQuery),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.Text("h1", &afterLogout, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("browse %s: %v", origin, err)
	}
	if shown != email || afterLogout != "Client portal sign-in" {
		t.Errorf("account page showed %q; after sign-out the heading is %q", shown, afterLogout)
	}
}
