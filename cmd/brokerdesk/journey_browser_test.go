package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/browsertest"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// The onboarding journey of issue 4, as a trader and a compliance officer live it, in two headless Chromium
// browsers with scripts off, against the real server and worker (Postgres, Redis, Mailpit, the disk blob store):
// a trader follows a referral link, registers, opens the verification email from Mailpit's API and confirms the
// address with the button the link shows, signs in, uploads a real JPEG (passport) and a real PDF (proof of
// address); an officer signs in to the back office, claims each case from the KYC queue, ticks its checklist and
// approves it; the trader's profile then shows the account approved and the policy gate allowing a deposit.
func TestOnboardingJourneyFromReferralLinkToApprovedInTwoBrowsers(t *testing.T) {
	t.Parallel()
	// A Redis database of its own, so this worker takes only this test's tasks.
	a, base, _ := startServerWith(t, map[string]string{"BD_PUBLIC_SCHEME": "http", "BD_REDIS_URL": localsvc.RedisDB(t)})
	ten, _ := demoTenant(t, a)
	ctx := context.Background()
	w, err := a.startWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	u, _ := url.Parse(base)
	origin := "http://" + hostOf(ten) + ":" + u.Port()

	dir := t.TempDir()
	passport, bill := filepath.Join(dir, "passport.jpg"), filepath.Join(dir, "utility-bill.pdf")
	if err := os.WriteFile(passport, journeyJPEG(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bill, journeyPDF(), 0o600); err != nil {
		t.Fatal(err)
	}
	email := "journey." + tenanttest.RandomLabel(8) + "@example.com"
	const password = "Correct-Horse-Battery-9"
	const referral = "IBJOURNEY7"

	// The trader: referral link, registration, verification email, sign-in, two uploads.
	trader := browsertest.NewFor(t, 5*time.Minute)
	var registered string
	browsertest.Step(t, trader, "register",
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(origin+"/?ref="+referral), // the landing page keeps the code in a cookie
		chromedp.Navigate(origin+"/portal/register"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.SendKeys("#confirm", password, chromedp.ByQuery),
		chromedp.SendKeys("#first_name", "Mary", chromedp.ByQuery),
		chromedp.SendKeys("#last_name", "Jackson", chromedp.ByQuery),
		chromedp.SetValue("#country", "GB", chromedp.ByQuery),
		chromedp.SendKeys("#phone", "+44 20 7946 0123", chromedp.ByQuery),
		chromedp.SetValue("#date_of_birth", "1991-04-09", chromedp.ByQuery),
		loads(chromedp.Submit("#email", chromedp.ByQuery)),
		chromedp.Text("main", &registered, chromedp.ByQuery),
	)
	if !strings.Contains(registered, "Check your email") {
		t.Fatalf("the page after registering says: %.800s", registered)
	}
	if code, source := referralOfClient(t, a, ten, email); code != referral || source != "link" {
		t.Fatalf("after registering (page said %.600q) the referral is %q from %q, want %s from the link", registered, code, source, referral)
	}
	link := journeyMail(t, email, verifyPath)
	var verified, documentsPage string
	browsertest.Step(t, trader, "verify, sign in and upload",
		chromedp.Navigate(origin+link), // the link only shows a button: a mail scanner's fetch spends nothing
		chromedp.WaitVisible("#confirm-email", chromedp.ByQuery),
		loads(chromedp.Click("#confirm-email", chromedp.ByQuery)),
		chromedp.WaitVisible("h1", chromedp.ByQuery),
		chromedp.Text("main", &verified, chromedp.ByQuery),
		chromedp.Navigate(origin+"/portal/login"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		loads(chromedp.Submit("#password", chromedp.ByQuery)),
		chromedp.WaitVisible("header nav", chromedp.ByQuery),
		chromedp.Navigate(origin+"/portal/documents"),
		chromedp.WaitVisible(`input[name="file"]`, chromedp.ByQuery),
		chromedp.SetValue(`select[name="type"]`, "passport", chromedp.ByQuery),
		chromedp.SetValue(`input[name="expires_on"]`, time.Now().AddDate(4, 0, 0).Format(time.DateOnly), chromedp.ByQuery),
		chromedp.SetUploadFiles(`input[name="file"]`, []string{passport}, chromedp.ByQuery),
		loads(chromedp.Submit(`input[name="file"]`, chromedp.ByQuery)),
		chromedp.WaitVisible("#documents-notice", chromedp.ByQuery),
		chromedp.SetValue(`select[name="type"]`, "proof_of_address", chromedp.ByQuery),
		chromedp.SetUploadFiles(`input[name="file"]`, []string{bill}, chromedp.ByQuery),
		loads(chromedp.Submit(`input[name="file"]`, chromedp.ByQuery)),
		chromedp.WaitVisible("#documents-notice", chromedp.ByQuery),
		chromedp.Text("#documents", &documentsPage, chromedp.ByQuery),
	)
	if !strings.Contains(verified, "verified") || strings.Count(documentsPage, "passport.jpg")+strings.Count(documentsPage, "utility-bill.pdf") != 2 {
		t.Fatalf("verification page %q; documents %q", verified, documentsPage)
	}
	c, err := a.clients.Get(ctx, ten, clientIDByEmail(t, a, ten, email))
	if err != nil || c.Status != clients.StatusKYCSubmitted {
		t.Fatalf("after the uploads the client is %q (%v), want kyc_submitted", c.Status, err)
	}

	// The officer: sign in, then for each case of this client: open it from the queue, claim, tick, approve.
	officer := browsertest.NewFor(t, 5*time.Minute)
	browsertest.Step(t, officer, "officer sign-in",
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(origin+"/backoffice/login"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", demoEmail(ten, "compliance"), chromedp.ByQuery),
		chromedp.SendKeys("#password", identity.DemoPassword, chromedp.ByQuery),
		loads(chromedp.Submit("#password", chromedp.ByQuery)),
		chromedp.WaitVisible("header nav", chromedp.ByQuery),
	)
	for i := range 2 {
		var review string
		var boxes []*cdp.Node
		browsertest.Step(t, officer, fmt.Sprintf("case %d: open and claim", i+1),
			chromedp.Navigate(origin+"/backoffice/kyc"),
			chromedp.WaitVisible("table", chromedp.ByQuery),
			loads(chromedp.Click(`//tr[contains(., "Mary Jackson")]//a[contains(., "Review")]`, chromedp.BySearch)),
			loads(chromedp.Click(`form[action$="/claim"] button`, chromedp.ByQuery)),
			chromedp.WaitVisible(`form[action$="/checklist"]`, chromedp.ByQuery),
			chromedp.Nodes(`input[name="ticked"]`, &boxes, chromedp.ByQueryAll),
		)
		for _, box := range boxes {
			if err := chromedp.Run(officer, chromedp.MouseClickNode(box)); err != nil {
				t.Fatalf("case %d: tick: %v", i+1, err)
			}
		}
		browsertest.Step(t, officer, fmt.Sprintf("case %d: tick and approve", i+1),
			loads(chromedp.Click(`form[action$="/checklist"] button`, chromedp.ByQuery)),
			loads(chromedp.Submit(`form[action$="/decision"] input[value="approve"]`, chromedp.ByQuery)),
			chromedp.Text("main", &review, chromedp.ByQuery),
		)
		if !strings.Contains(review, "Decided") && !strings.Contains(strings.ToLower(review), "approved") {
			t.Fatalf("case %d: after approving, the page says %q", i+1, review)
		}
	}

	// The trader sees the account approved, and the policy gate now allows a deposit.
	var profile, deposit string
	browsertest.Step(t, trader, "profile",
		chromedp.Navigate(origin+"/portal/profile"),
		chromedp.WaitVisible("#policy", chromedp.ByQuery),
		chromedp.Text("#profile", &profile, chromedp.ByQuery),
		chromedp.Text(`//table[@id="policy"]//tr[td[1][contains(., "Deposit")]]/td[2]`, &deposit, chromedp.BySearch),
	)
	if !strings.Contains(profile, clients.StatusKYCApproved.Label()) || strings.TrimSpace(deposit) != "Yes" {
		t.Errorf("profile %q, deposit %q: want the account approved and a deposit allowed", profile, deposit)
	}
	d, err := a.clients.May(ctx, ten, c.ID, clients.ActionDeposit)
	if err != nil || !d.Allowed {
		t.Errorf("the policy gate answers %+v (%v) for a deposit, want allowed", d, err)
	}
	if approved := journeyMail(t, email, kycApprovedSubject); approved == "" {
		t.Error("no approval email")
	}
}

// loads runs an action that navigates (a form submission, a link) and waits until the next page has replaced the
// current one: the old document is marked first, so a selector on the old page never passes for the new one.
func loads(action chromedp.Action) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.documentElement.setAttribute("data-leaving", "1")`, nil),
		action,
		chromedp.WaitNotPresent(`html[data-leaving]`, chromedp.ByQuery),
		chromedp.WaitReady("main", chromedp.ByQuery),
	}
}

var kycApprovedSubject = regexp.MustCompile(`(?i)approved`)

func clientIDByEmail(t *testing.T, a *app, ten tenants.Tenant, email string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, email).Scan(&id)
	}); err != nil {
		t.Fatalf("client %s: %v", email, err)
	}
	return id
}

// journeyMail polls Mailpit until an email to addr matches re, and returns the first match.
func journeyMail(t *testing.T, addr string, re interface{ FindString(string) string }) string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		msgs, err := localsvc.MailpitMessages(context.Background(), os.Getenv("BD_MAILPIT_URL"), addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if s := re.FindString(m.Subject + "\n" + m.Text); s != "" {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching email to %s within 45s (%d emails)", addr, len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// journeyJPEG is a real baseline JPEG of a passport-sized picture.
func journeyJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 220))
	for y := range 220 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 160, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// journeyPDF is a real one-page PDF with a correct cross-reference table.
func journeyPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"", // the content stream, below
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	content := "BT /F1 18 Tf 72 760 Td (Harbour Energy - bill for Mary Jackson) Tj ET"
	objs[3] = fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
