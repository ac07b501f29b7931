package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/brokerdesk/brokerdesk/infra/browsertest"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// The browser test of money in, with scripts off (the portal works without JavaScript): the demo trader,
// KYC approved, signs in to the portal and deposits by card through the Stripe gateway on stripe-mock (the browser
// is sent to Stripe's Checkout page, which the browser's request interception stands in for: stripe-mock serves
// no page) and by crypto through a generic gateway on the local processor (whose payment instructions the receipt
// shows). Each processor confirms through SimulateCallback, the signed callback played through the real flow, and
// the wallet the processor returns the client to shows the deposit credited and the balance.
func TestTraderDepositsByCardAndByCryptoInABrowserAndTheWalletShowsTheBalance(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, map[string]string{"BD_PUBLIC_SCHEME": "http"}) // Chromium keeps Secure cookies off http pages
	ctx := context.Background()
	u, _ := url.Parse(w.base)
	origin := "http://" + hostOf(w.ten) + ":" + u.Port()

	browser := browsertest.NewFor(t, 3*time.Minute)
	// Every https request (only Stripe's Checkout page here: the test server is http) is answered by a stand-in.
	checkout := []byte(`<!doctype html><title>Checkout</title><h1 id="stripe-checkout">Stripe Checkout (test stand-in)</h1>`)
	chromedp.ListenTarget(browser, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			go func() {
				_ = chromedp.Run(browser, fetch.FulfillRequest(e.RequestID, 200).
					WithResponseHeaders([]*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}).
					WithBody(base64.StdEncoding.EncodeToString(checkout)))
			}()
		}
	})
	browsertest.Step(t, browser, "scripts off, Stripe's page stood in for",
		emulation.SetScriptExecutionDisabled(true),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "https://*"}}))

	var wallet string
	browsertest.Step(t, browser, "sign in to the portal and open the wallet",
		chromedp.Navigate(origin+"/portal/login"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", identity.DemoTraderEmail(w.ten), chromedp.ByQuery),
		chromedp.SendKeys("#password", identity.DemoPassword, chromedp.ByQuery),
		loads(chromedp.Submit("#password", chromedp.ByQuery)),
		chromedp.Navigate(origin+"/portal/wallet"),
		chromedp.WaitVisible("#method", chromedp.ByQuery),
		chromedp.Text("main", &wallet, chromedp.ByQuery),
	)
	if !strings.Contains(wallet, "Your wallet is empty") {
		t.Errorf("the wallet before any deposit: %q", wallet)
	}

	// By card: to Stripe's page.
	var stripePage, location string
	browsertest.Step(t, browser, "deposit by card",
		chromedp.SetValue("#method", "card|USD", chromedp.ByQuery),
		chromedp.SendKeys("#amount", "250.00", chromedp.ByQuery),
		chromedp.Submit("#amount", chromedp.ByQuery),
		chromedp.WaitVisible("#stripe-checkout", chromedp.ByQuery),
		chromedp.Text("#stripe-checkout", &stripePage, chromedp.ByQuery),
		chromedp.Location(&location),
	)
	if !strings.HasPrefix(location, "https://") {
		t.Errorf("the card deposit went to %s, want Stripe's Checkout page", location)
	}
	card := w.latestDeposit(t)
	if card.GatewayName != "Card (Stripe)" || card.Amount != usdOf(25000) || card.RedirectURL != location {
		t.Fatalf("the card deposit: %+v (the browser is at %s)", card, location)
	}
	// Stripe confirms (its signed webhook, played), and sends the client back to the wallet.
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, card.ID, payments.NotifiedPaid, nil); err != nil {
		t.Fatal(err)
	}
	var status, balances string
	browsertest.Step(t, browser, "back on the wallet from Stripe",
		chromedp.Navigate(origin+"/portal/wallet?deposit="+card.ID.String()),
		chromedp.WaitVisible("#returned-status", chromedp.ByQuery),
		chromedp.Text("#returned-status", &status, chromedp.ByQuery),
		chromedp.Text("#balances", &balances, chromedp.ByQuery),
	)
	if status != "Credited" || !strings.Contains(balances, "250.00") {
		t.Errorf("after the card payment: status %q, balances %q", status, balances)
	}

	// By crypto: the processor's instructions on the receipt.
	var instructions string
	browsertest.Step(t, browser, "deposit by crypto",
		chromedp.SetValue("#method", "crypto|USD", chromedp.ByQuery),
		chromedp.SendKeys("#amount", "100.00", chromedp.ByQuery),
		loads(chromedp.Submit("#amount", chromedp.ByQuery)),
		chromedp.WaitVisible("#instructions", chromedp.ByQuery),
		chromedp.Text("#instructions", &instructions, chromedp.ByQuery),
		chromedp.Text("#receipt-status", &status, chromedp.ByQuery),
	)
	crypto := w.latestDeposit(t)
	if !strings.Contains(instructions, "TSandboxDemoAddr") || !strings.Contains(instructions, crypto.ID.String()) || status != "Waiting for payment" {
		t.Errorf("the crypto receipt: %q, %q", status, instructions)
	}
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, crypto.ID, payments.NotifiedPaid, nil); err != nil {
		t.Fatal(err)
	}
	var history string
	browsertest.Step(t, browser, "the wallet after both",
		loads(chromedp.Click(`a[href="/portal/wallet"]`, chromedp.ByQuery)),
		chromedp.WaitVisible("#balances", chromedp.ByQuery),
		chromedp.Text("#balances", &balances, chromedp.ByQuery),
		chromedp.Text("#history", &history, chromedp.ByQuery),
	)
	if !strings.Contains(balances, "350.00") || !strings.Contains(history, "+250.00") || !strings.Contains(history, "+100.00") {
		t.Errorf("the wallet after both deposits: balances %q, history %q", balances, history)
	}
}

// latestDeposit is the trader's newest deposit.
func (w *moneyWorld) latestDeposit(t testing.TB) payments.Deposit {
	t.Helper()
	list, err := w.a.payments.Deposits(context.Background(), w.ten, payments.DepositFilter{ClientID: w.trader}, nil, 1)
	if err != nil || len(list) == 0 {
		t.Fatalf("the trader's deposits: %v %v", list, err)
	}
	return list[0]
}
