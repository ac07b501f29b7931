package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/browsertest"
)

func TestLandingPageShowsTheTenantsBrandInABrowserWithoutJavaScript(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten := provisionForTest(t, a)
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE settings SET value = value || '{"name": "Harbour Markets", "primary_color": "#0a7d4f"}' WHERE key = 'branding'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	page := "http://" + ten.Slug + ".brokerdesk.test:" + u.Port() + "/"

	ctx := browsertest.New(t)
	var title, heading, headerColour string
	err = chromedp.Run(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(page),
		chromedp.Title(&title),
		chromedp.Text("h1", &heading, chromedp.ByQuery),
		chromedp.Evaluate(`getComputedStyle(document.querySelector("header")).backgroundColor`, &headerColour),
	)
	if err != nil {
		t.Fatalf("browse %s: %v", page, err)
	}
	if !strings.Contains(title, "Harbour Markets") || heading != "Welcome to Harbour Markets" {
		t.Errorf("title %q, heading %q", title, heading)
	}
	if headerColour != "rgb(10, 125, 79)" { // #0a7d4f through --brand-primary
		t.Errorf("header colour %q, want the brand's rgb(10, 125, 79)", headerColour)
	}
}
