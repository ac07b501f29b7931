package documents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

func uploaded(t *testing.T, r result) uuid.UUID {
	t.Helper()
	var d documents.PortalDocument
	if err := json.Unmarshal([]byte(r.body), &d); err != nil || r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return uuid.MustParse(d.ID)
}

func fetch(t *testing.T, link string) (int, []byte, http.Header) {
	t.Helper()
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// A compliance officer gets a signed link of at most 5 minutes that serves the file; each link is audited with
// the officer, the document and its client. Roles without kyc.review get 403, and the trader reaches only their
// own documents.
func TestViewLinksServeTheFileForAtMostFiveMinutesAndEveryViewIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	file := jpegFile(t, 7)
	id := uploaded(t, b.upload(t, tr, "selfie", "", "me.jpg", file))
	officer := uuid.New()
	tok := b.token(t, b.ten, auth.AudienceBackoffice, officer, []string{"compliance"})
	r := b.do(t, "GET", hostOf(b.ten), "/api/v1/documents/"+id.String()+"/link", tok, nil, nil)
	var l documents.LinkResponse
	if err := json.Unmarshal([]byte(r.body), &l); err != nil || r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	if d := l.ExpiresAt.Sub(b.clock.Now()); d <= 0 || d > 5*time.Minute {
		t.Errorf("link lives %s", d)
	}
	u, _ := url.Parse(l.URL)
	if exp, err := strconv.Atoi(u.Query().Get("X-Amz-Expires")); err != nil || exp <= 0 || exp > 300 {
		t.Errorf("presigned lifetime %q", u.Query().Get("X-Amz-Expires"))
	}
	status, got, h := fetch(t, l.URL)
	if status != 200 || !bytes.Equal(got, file) || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") {
		t.Errorf("fetching the link: %d, %d bytes, %v", status, len(got), h)
	}
	// The trader's own link, through the API and through the page (303 to the file).
	own := b.do(t, "GET", hostOf(b.ten), documents.UploadAPIPath+"/"+id.String()+"/link", tr.token, nil, nil)
	if own.status != 200 {
		t.Errorf("trader's own link: %d %s", own.status, own.body)
	}
	page := b.do(t, "GET", hostOf(b.ten), "/portal/documents/"+id.String()+"/view", "", nil,
		map[string]string{"Cookie": "bd_portal=" + tr.token, "Accept": "text/html"})
	if page.status != 303 || !strings.Contains(page.header.Get("Location"), "X-Amz-Signature") {
		t.Errorf("portal viewer: %d %v", page.status, page.header)
	}
	staffPage := b.do(t, "GET", hostOf(b.ten), "/backoffice/documents/"+id.String()+"/view", "", nil,
		map[string]string{"Cookie": "bd_backoffice=" + tok, "Accept": "text/html"})
	if staffPage.status != 303 || !strings.Contains(staffPage.header.Get("Location"), "X-Amz-Signature") {
		t.Errorf("back-office viewer: %d %v", staffPage.status, staffPage.header)
	}
	acts := b.auditActions(t, b.ten, id.String())
	if !slices.Equal(acts, []string{documents.ActionUploaded, documents.ActionViewed, documents.ActionViewed, documents.ActionViewed, documents.ActionViewed}) {
		t.Errorf("audit: %v", acts)
	}
	views, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: documents.ActionViewed,
		ActorKind: audit.ActorStaff, ActorID: officer.String()}, "", 10)
	if err != nil || len(views.Rows) != 2 || views.Rows[0].Target.ID != id.String() || !strings.Contains(string(views.Rows[0].Diff), tr.clientID.String()) {
		t.Errorf("the officer's views in the audit trail: %v %+v", err, views.Rows)
	}
	for _, role := range []string{"sales", "support", "finance", "readonly"} {
		if r := b.do(t, "GET", hostOf(b.ten), "/api/v1/documents/"+id.String()+"/link", b.token(t, b.ten, auth.AudienceBackoffice, uuid.New(), []string{role}), nil, nil); r.status != 403 {
			t.Errorf("%s: %d", role, r.status)
		}
	}
	other := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	if r := b.do(t, "GET", hostOf(b.ten), documents.UploadAPIPath+"/"+id.String()+"/link", other.token, nil, nil); r.status != 404 {
		t.Errorf("another trader's link to it: %d %s", r.status, r.body)
	}
	if r := b.do(t, "GET", hostOf(b.ten), "/portal/documents/"+id.String()+"/view", "", nil,
		map[string]string{"Cookie": "bd_portal=" + other.token, "Accept": "text/html"}); r.status != 404 {
		t.Errorf("another trader's viewer: %d", r.status)
	}
	if n := len(b.auditActions(t, b.ten, id.String())); n != 5 {
		t.Errorf("refused views were audited: %d rows", n)
	}
}

// A link stops working when its lifetime is over (a service with 1-second links, polled with a deadline).
func TestViewLinksExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	id := uploaded(t, b.upload(t, tr, "selfie", "", "me.png", pngFile(t, 8)))
	short, err := documents.NewService(documents.Options{Gate: b.p.Gate, Audit: b.audit, Clients: b.clients, Store: b.store, Events: b.reviews.hall(b.p),
		LinkTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	minted := time.Now()
	link, err := short.ViewURL(context.Background(), b.ten, id, audit.Actor{Kind: audit.ActorStaff, ID: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	// The link works while it lives: checked when the fetch really happens within its second (a loaded machine can
	// take longer; the other tests check fresh links).
	if status, _, _ := fetch(t, link); status != 200 && time.Since(minted) < 800*time.Millisecond {
		t.Fatalf("fresh link: %d", status)
	}
	testkit.Eventually(t, 15*time.Second, "the 1-second link to answer 403", func() bool {
		status, _, _ := fetch(t, link)
		return status == 403
	})
}

// Tenant B's staff and traders, with B's own credentials, cannot read, link or view tenant A's documents by id
// (404 on B's host, 401 with B's token on A's host), through the API or the pages.
func TestTenantBCannotReachTenantADocuments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenB := b.p.NewTenant(t, "")
	b.hosts[hostOf(tenB)] = tenB
	trA := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	idA := uploaded(t, b.upload(t, trA, "selfie", "", "me.jpg", jpegFile(t, 10)))
	trB := b.newTrader(t, tenB, clients.StatusEmailVerified)
	staffB := b.token(t, tenB, auth.AudienceBackoffice, uuid.New(), []string{"admin"})
	for _, c := range []struct {
		path, token, cookie string
	}{
		{"/api/v1/documents/" + idA.String(), staffB, ""},
		{"/api/v1/documents/" + idA.String() + "/link", staffB, ""},
		{documents.UploadAPIPath + "/" + idA.String() + "/link", trB.token, ""},
		{"/backoffice/documents/" + idA.String() + "/view", "", "bd_backoffice=" + staffB},
		{"/portal/documents/" + idA.String() + "/view", "", "bd_portal=" + trB.token},
	} {
		h := map[string]string{"Accept": "text/html"}
		if c.cookie != "" {
			h["Cookie"] = c.cookie
		}
		if r := b.do(t, "GET", hostOf(tenB), c.path, c.token, nil, h); r.status != 404 || strings.Contains(r.body, trA.email) || strings.Contains(r.body, "X-Amz") {
			t.Errorf("%s on B's host: %d %.200s", c.path, r.status, r.body)
		}
		if c.token != "" {
			if r := b.do(t, "GET", hostOf(b.ten), c.path, c.token, nil, nil); r.status != 401 {
				t.Errorf("%s on A's host with B's token: %d", c.path, r.status)
			}
		}
	}
	// B's trader lists B's documents only.
	if r := b.do(t, "GET", hostOf(tenB), documents.UploadAPIPath, trB.token, nil, nil); r.status != 200 || strings.Contains(r.body, idA.String()) {
		t.Errorf("B's list: %d %s", r.status, r.body)
	}
	if acts := b.auditActions(t, b.ten, idA.String()); len(acts) != 1 {
		t.Errorf("A's document audit after B's attempts: %v", acts)
	}
}

// portalSession opens the documents page as tr and returns the cookies and the CSRF token of its form.
func portalSession(t *testing.T, b *bundle, tr trader) (cookies, csrf string) {
	t.Helper()
	r := b.do(t, "GET", hostOf(tr.ten), documents.UploadPagePath, "", nil, map[string]string{"Cookie": "bd_portal=" + tr.token, "Accept": "text/html"})
	if r.status != 200 {
		t.Fatalf("documents page: %d %s", r.status, r.body)
	}
	i := strings.Index(r.body, `name="csrf" value="`)
	if i < 0 {
		t.Fatalf("no csrf field: %s", r.body)
	}
	csrf = r.body[i+len(`name="csrf" value="`):]
	csrf = csrf[:strings.Index(csrf, `"`)]
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "bd_csrf=") {
			cookies = "bd_portal=" + tr.token + "; " + strings.Split(c, ";")[0]
		}
	}
	if cookies == "" {
		t.Fatalf("no csrf cookie: %v", r.header)
	}
	return cookies, csrf
}

// form builds the upload form's multipart body, fields in the page's order.
func form(csrf, typ, expires, name string, file []byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("csrf", csrf)
	_ = w.WriteField("type", typ)
	_ = w.WriteField("expires_on", expires)
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(file)
	_ = w.Close()
	return w.FormDataContentType(), &buf
}

// The portal page's form (no JavaScript): an upload redirects to the list, which shows it with its status; a
// refused file is shown with its reason and the right status; a wrong CSRF token stores nothing.
func TestThePortalPageUploadsThroughAPlainFormAndShowsRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	cookies, csrf := portalSession(t, b, tr)
	post := func(ctype string, body io.Reader) result {
		return b.do(t, "POST", hostOf(b.ten), documents.UploadPagePath, "", body, map[string]string{"Cookie": cookies, "Content-Type": ctype, "Accept": "text/html"})
	}
	ctype, body := form(csrf, "passport", future(b, 500), "my passport.pdf", pdfFile("passport", 0))
	if r := post(ctype, struct{ io.Reader }{body}); r.status != 303 || r.header.Get("Location") != "/portal/documents?notice=uploaded" {
		t.Fatalf("upload through the page: %d %s", r.status, r.body)
	}
	list := b.do(t, "GET", hostOf(b.ten), "/portal/documents?notice=uploaded", "", nil, map[string]string{"Cookie": cookies, "Accept": "text/html"})
	if !strings.Contains(list.body, `<a href="/portal/documents" aria-current="page">Documents</a>`) {
		t.Errorf("the portal navigation has no current Documents link: %s", list.body)
	}
	if !strings.Contains(list.body, "my passport.pdf") || !strings.Contains(list.body, `data-status="pending_review"`) || !strings.Contains(list.body, "Waiting for review") {
		t.Errorf("list after upload: %s", list.body)
	}
	ctype, body = form(csrf, "passport", future(b, 500), "passport.pdf", exeFile())
	if r := post(ctype, body); r.status != 415 || !strings.Contains(r.body, "Only JPEG, PNG and PDF") || !strings.Contains(r.body, "my passport.pdf") {
		t.Errorf("exe through the page: %d %s", r.status, r.body)
	}
	ctype, body = form(csrf, "proof_of_address", "", "big.pdf", pdfFile("big", testMax+10))
	if r := post(ctype, struct{ io.Reader }{body}); r.status != 413 || !strings.Contains(r.body, "larger than the") {
		t.Errorf("oversized through the page: %d %.300s", r.status, r.body)
	}
	ctype, body = form("not-the-token", "selfie", "", "me.jpg", jpegFile(t, 11))
	if r := post(ctype, body); r.status != 403 {
		t.Errorf("wrong csrf: %d", r.status)
	}
	if n, objs := b.rows(t, b.ten), b.objects(t); n != 1 || len(objs) != 1 {
		t.Errorf("after the refusals: %d rows, objects %v", n, objs)
	}
}
