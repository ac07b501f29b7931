package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// bankStatementPDF is a small PDF, as a bank's statement export starts and ends.
func bankStatementPDF(line string) []byte {
	return []byte("%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n% " +
		line + "\ntrailer <</Root 1 0 R>>\n%%EOF\n")
}

// formFields is a multipart form's text fields, in order.
type formFields [][2]string

// multipartOf writes fields and, when name is not empty, the file part "evidence".
func multipartOf(t *testing.T, fields formFields, name string, file []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if name != "" {
		w, err := mw.CreateFormFile("evidence", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

// postMultipart sends a form to the API as token, with a fresh Idempotency-Key.
func postMultipart(t *testing.T, base, host, path, token, ctype string, body []byte) call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	req.Host = host
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", uuid.NewString())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return call{status: res.StatusCode, body: string(b)}
}

// deposits and storedFiles count what a refused upload must not leave: the tenant's deposits, the disk store's files.
func (w *moneyWorld) deposits(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM deposits`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *moneyWorld) storedFiles(t *testing.T) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(filepath.Join(w.a.cfg.BlobDir, "data"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func (w *moneyWorld) audited(t *testing.T, action, target string) int {
	t.Helper()
	var n int
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2`, action, target).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// The back office's bank deposit form takes the bank statement (a multipart form, no script), and the deposit's
// page shows it to the second approver, who opens it (a fresh signed link, audited) before approving: the bytes
// that were sent. A file that is not a PDF, PNG or JPEG by its content is refused with the form shown again, and
// leaves neither a deposit nor a file. Neither the link nor the deposit's evidence route works from another
// brokerage's host, and a role without payments.read cannot open it.
func TestTheSecondApproverOpensTheBankStatementRecordedWithAManualDeposit(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	finance := w.staff(t, "finance")
	form := finance.get("/backoffice/deposits/new")
	if !strings.Contains(form.body, `enctype="multipart/form-data"`) || !strings.Contains(form.body, `name="evidence"`) ||
		!strings.Contains(pageText(form.body), "Bank statement or advice") || !strings.Contains(form.body, "10 MiB") {
		t.Fatalf("the form has no file field: %.3000s", form.body)
	}
	fields := func(ref string) formFields {
		return formFields{{"csrf", csrfOf(t, form.body)}, {"client_id", w.trader.String()}, {"gateway", "bank"}, {"currency", "USD"},
			{"amount", "20000.00"}, {"bank_reference", ref}}
	}
	deposits, files := w.deposits(t), w.storedFiles(t)

	// Refused: a web page named .pdf; the form comes back with the reason, nothing is kept.
	ctype, body := multipartOf(t, fields("WIRE-E0"), "statement.pdf", []byte("<!doctype html><html><script>alert(1)</script></html>"))
	r := finance.send(http.MethodPost, "/backoffice/deposits/new", ctype, bytes.NewReader(body), "text/html")
	if text := pageText(r.body); r.status != http.StatusUnsupportedMediaType || !strings.Contains(text, "must be a PDF, PNG or JPEG file") ||
		!strings.Contains(text, "choose the bank statement again") || !strings.Contains(r.body, `value="WIRE-E0"`) {
		t.Errorf("a web page as the statement: %d %.3000s", r.status, text)
	}
	if w.deposits(t) != deposits || w.storedFiles(t) != files {
		t.Errorf("a refused statement left %d deposits and %d files, had %d and %d", w.deposits(t), w.storedFiles(t), deposits, files)
	}

	statement := bankStatementPDF("Wire from the demo trader, 20,000.00 USD")
	ctype, body = multipartOf(t, fields("WIRE-E1"), "statement-march.pdf", statement)
	r = finance.send(http.MethodPost, "/backoffice/deposits/new", ctype, bytes.NewReader(body), "text/html")
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasSuffix(loc, "?notice=waiting") {
		t.Fatalf("a manual deposit with its statement: %d %q %.1500s", r.status, loc, pageText(r.body))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/backoffice/deposits/"), "?notice=waiting")
	evidencePath := "/backoffice/deposits/" + id + "/evidence"
	admin := w.staff(t, "admin")
	page := admin.get("/backoffice/deposits/" + id)
	if text := pageText(page.body); !strings.Contains(page.body, `href="`+evidencePath+`"`) || !strings.Contains(text, "Bank statement") ||
		!strings.Contains(text, "statement-march.pdf") || !strings.Contains(text, "PDF document") || !strings.Contains(text, "Read the bank statement before approving") {
		t.Errorf("the deposit's page for the second approver: %.4000s", text)
	}

	r = admin.get(evidencePath)
	link := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(link, "/blobs/"+w.ten.ID.String()+"/clients/") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("opening the statement: %d %q %q", r.status, link, r.header.Get("Cache-Control"))
	}
	file := admin.get(link)
	if file.status != http.StatusOK || file.body != string(statement) || file.header.Get("Content-Type") != "application/pdf" {
		t.Errorf("the statement through its link: %d %s %d bytes", file.status, file.header.Get("Content-Type"), len(file.body))
	}
	if n := w.audited(t, payments.ActionEvidenceViewed, id); n != 1 {
		t.Errorf("%d views audited, want 1", n)
	}
	if r := w.staff(t, "readonly").get(evidencePath); r.status != http.StatusSeeOther { // payments.read
		t.Errorf("a read-only user opening the statement: %d", r.status)
	}
	if r := w.staff(t, "support").get(evidencePath); r.status != http.StatusForbidden {
		t.Errorf("support (no payments.read) opening the statement: %d", r.status)
	}

	// Another brokerage: its host serves neither the link nor the deposit, whoever asks.
	other, _ := demoTenantNamed(t, w.a, "Other FX")
	if r := get(t, w.base, hostOf(other), link, ""); r.status != http.StatusNotFound || strings.Contains(r.body, "%PDF") {
		t.Errorf("the link on another brokerage's host: %d %.100s", r.status, r.body)
	}
	theirs := newPageClient(t, w.base, other)
	theirs.login("/backoffice", demoEmail(other, "admin"), identity.DemoPassword)
	if r := theirs.get(evidencePath); r.status != http.StatusNotFound {
		t.Errorf("the statement's page on another brokerage's host: %d", r.status)
	}
	tok := staffLogin(t, w.base, other, "admin").AccessToken
	if r := request(t, w.base, hostOf(other), http.MethodGet, "/api/v1/deposits/"+id+"/evidence", tok, nil); r.status != http.StatusNotFound || strings.Contains(r.body, "blobs") {
		t.Errorf("the statement's API route on another brokerage's host: %d %.200s", r.status, r.body)
	}
	if n := w.audited(t, payments.ActionEvidenceViewed, id); n != 2 {
		t.Errorf("%d views audited after the refusals, want 2 (the admin's and the read-only user's)", n)
	}

	if r := admin.postWithCSRF("/backoffice/deposits/"+id, "/backoffice/deposits/"+id+"/approve", nil); r.status != http.StatusSeeOther {
		t.Errorf("the second approval: %d %.500s", r.status, r.body)
	}
}

// The API records a manual deposit from a multipart form as from JSON, with the statement as the file part
// evidence, and hands out a signed link to it (audited); a file that is not what it says, an empty one or a field the
// request does not have is a problem naming the field, and leaves nothing.
func TestTheAPIRecordsAManualDepositWithItsBankStatement(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	host := hostOf(w.ten)
	finance := staffLogin(t, w.base, w.ten, "finance").AccessToken
	path := "/api/v1/clients/" + w.trader.String() + "/deposits"
	fields := formFields{{"gateway", "bank"}, {"amount", "750.00"}, {"currency", "USD"}, {"bank_reference", "SEPA-2026-0042"}}
	deposits, files := w.deposits(t), w.storedFiles(t)
	for _, c := range []struct {
		what, name string
		file       []byte
		extra      formFields
		status     int
		typ, field string
	}{
		{"an executable named .pdf", "advice.pdf", append([]byte("MZ\x90\x00\x03"), make([]byte, 100)...), nil, 415, "/problems/file-type", "evidence"},
		{"an empty file", "advice.pdf", []byte{}, nil, 422, "/problems/validation", "evidence"},
		{"a PDF cut short", "advice.pdf", bankStatementPDF("x")[:40], nil, 422, "/problems/validation", "evidence"},
		{"a field the request does not have", "advice.pdf", bankStatementPDF("x"), formFields{{"note", "x"}}, 422, "/problems/validation", "note"},
		{"a bad amount beside a good file", "advice.pdf", bankStatementPDF("x"), formFields{{"amount", "7.505"}}, 422, "/problems/validation", "amount"},
	} {
		ctype, body := multipartOf(t, append(append(formFields{}, fields...), c.extra...), c.name, c.file)
		r := postMultipart(t, w.base, host, path, finance, ctype, body)
		var p struct {
			Type   string `json:"type"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		_ = json.Unmarshal([]byte(r.body), &p)
		if r.status != c.status || p.Type != c.typ || len(p.Errors) == 0 || !hasField(p.Errors, c.field) {
			t.Errorf("%s: %d %.300s", c.what, r.status, r.body)
		}
	}
	if w.deposits(t) != deposits || w.storedFiles(t) != files {
		t.Errorf("refused requests left %d deposits and %d files, had %d and %d", w.deposits(t), w.storedFiles(t), deposits, files)
	}

	statement := bankStatementPDF("SEPA credit 750.00 USD")
	ctype, body := multipartOf(t, fields, "advice.pdf", statement)
	r := postMultipart(t, w.base, host, path, finance, ctype, body)
	var d payments.DepositResponse
	if err := json.Unmarshal([]byte(r.body), &d); err != nil || r.status != http.StatusCreated || d.Status != payments.StatusCompleted ||
		d.Evidence == nil || d.Evidence.FileName != "advice.pdf" || d.Evidence.ContentType != "application/pdf" || d.Evidence.Size != int64(len(statement)) {
		t.Fatalf("a manual deposit with its statement: %d %s", r.status, r.body)
	}
	admin := staffLogin(t, w.base, w.ten, "admin").AccessToken
	lr := request(t, w.base, host, http.MethodGet, "/api/v1/deposits/"+d.ID+"/evidence", admin, nil)
	var link payments.EvidenceLinkResponse
	if err := json.Unmarshal([]byte(lr.body), &link); err != nil || lr.status != http.StatusOK || link.URL == "" || link.ExpiresAt.IsZero() {
		t.Fatalf("the statement's link: %d %s", lr.status, lr.body)
	}
	if f := get(t, w.base, host, link.URL, ""); f.status != http.StatusOK || f.body != string(statement) {
		t.Errorf("the statement through the API's link: %d %d bytes", f.status, len(f.body))
	}
	if n := w.audited(t, payments.ActionEvidenceViewed, d.ID); n != 1 {
		t.Errorf("%d views audited, want 1", n)
	}
	if g := request(t, w.base, host, http.MethodGet, "/api/v1/deposits/"+d.ID, admin, nil); !strings.Contains(g.body, `"evidence":{"file_name":"advice.pdf"`) {
		t.Errorf("the deposit does not describe its statement: %s", g.body)
	}
	if p := request(t, w.base, host, http.MethodGet, "/api/v1/portal/deposits/"+d.ID, w.traderToken(t), nil); p.status != http.StatusOK || strings.Contains(p.body, "evidence") {
		t.Errorf("the trader's receipt shows the back office's evidence: %d %s", p.status, p.body)
	}

	// JSON still records one, without evidence; its evidence route is a 404.
	j := request(t, w.base, host, http.MethodPost, path, finance, payments.ManualDepositBody{Gateway: "bank", Amount: "80.00", Currency: "USD",
		BankReference: "SEPA-2026-0043"}, "Idempotency-Key", uuid.NewString())
	var plain payments.DepositResponse
	if err := json.Unmarshal([]byte(j.body), &plain); err != nil || j.status != http.StatusCreated || plain.Evidence != nil {
		t.Fatalf("a JSON manual deposit: %d %s", j.status, j.body)
	}
	if r := request(t, w.base, host, http.MethodGet, "/api/v1/deposits/"+plain.ID+"/evidence", admin, nil); r.status != http.StatusNotFound {
		t.Errorf("the evidence of a deposit without: %d %s", r.status, r.body)
	}
}

func hasField(list []struct {
	Field string `json:"field"`
}, field string) bool {
	for _, e := range list {
		if e.Field == field {
			return true
		}
	}
	return false
}

// traderToken signs the demo trader in to the portal's API.
func (w *moneyWorld) traderToken(t *testing.T) string {
	t.Helper()
	r := request(t, w.base, hostOf(w.ten), http.MethodPost, "/api/v1/auth/portal/login", "",
		identity.LoginRequest{Email: identity.DemoTraderEmail(w.ten), Password: identity.DemoPassword})
	var tr identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tr); err != nil || r.status != http.StatusOK {
		t.Fatalf("trader login: %d %s", r.status, r.body)
	}
	return tr.AccessToken
}
