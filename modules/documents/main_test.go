package documents_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.MinIO, localsvc.Mailpit)
}

const issuer = identitytest.Issuer

// reviews subscribes to document.uploaded in the upload's transaction, as the KYC review does, and records what it
// was told; fail makes it fail (a rolled-back upload).
type reviews struct {
	mu     sync.Mutex
	opened []documents.Uploaded
	fail   bool
}

func (r *reviews) open(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, d documents.Uploaded) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return fmt.Errorf("review side unavailable")
	}
	r.opened = append(r.opened, d)
	return nil
}

// hall is the event hall of a test's services, with r listening for uploads.
func (r *reviews) hall(p *tenanttest.Platform) *events.Hall {
	h := events.New(events.Options{Gate: p.Gate})
	events.OnTx(h, "test.reviews", r.open)
	return h
}

// bundle is one test's world: a platform tenant (two for cross-tenant tests), a bucket of its own on MinIO, the
// services, and the HTTP server (the production server type, so bodies stream) in front of them.
type bundle struct {
	p       *tenanttest.Platform
	ten     tenants.Tenant
	keys    *auth.KeyRing
	store   *blob.S3
	s3      *s3.Client
	bucket  string
	audit   *audit.Service
	clients *clients.Service
	ident   *identity.Service
	docs    *documents.Service
	reviews *reviews
	hosts   map[string]tenants.Tenant
	base    string
	clock   *tenanttest.Clock // the services' clock
}

const testMax = 256 << 10 // the upload limit in tests

func setup(t testing.TB) *bundle {
	t.Helper()
	return setupWith(t, testMax)
}

// setupWith is setup with another upload limit.
func setupWith(t testing.TB, maxBytes int64) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	b := &bundle{p: p, ten: p.NewTenant(t, ""), audit: audit.NewService(p.Gate), reviews: &reviews{}, hosts: map[string]tenants.Tenant{},
		clock: tenanttest.NewClock(time.Now())}
	o := blobtest.Options(t)
	store, err := blob.NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b.store, b.s3, b.bucket = store, blobtest.Client(t, o), o.Bucket
	ids := identitytest.New(t, p.Gate, b.audit)
	b.ident, b.keys = ids.Service, ids.Keys
	b.clients = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.audit})
	b.docs, err = documents.NewService(documents.Options{Gate: p.Gate, Audit: b.audit, Clients: b.clients, Store: store,
		Events: b.reviews.hall(p), MaxBytes: maxBytes, Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.hosts[hostOf(b.ten)] = b.ten
	b.serve(t)
	return b
}

func hostOf(t tenants.Tenant) string { return t.Slug + ".brokerdesk.test" }

// serve runs the documents API and pages behind web.NewServer with the documents' stream routes; the host picks
// the tenant, as tenants.HostMiddleware does.
func (b *bundle) serve(t testing.TB) {
	pages, err := web.NewPages(identity.PageFiles, documents.PageFiles)
	if err != nil {
		t.Fatal(err)
	}
	o := web.Options{Pages: pages, StreamRoutes: documents.StreamRoutes()}
	app := web.New(o)
	app.Use(func(c *fiber.Ctx) error {
		ten, ok := b.hosts[web.Host(c)]
		if !ok {
			return web.NotFound("No such brokerage.")
		}
		c.SetUserContext(tenants.WithTenant(c.UserContext(), ten))
		return c.Next()
	})
	api := web.NewAPI(app, b.ident.Authorize)
	documents.Routes(api, b.docs, b.ident)
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	sessions := identity.NewSessions(b.ident, false)
	shell := web.NewShell(app, web.ShellOptions{Pages: pages, Sessions: sessions})
	identity.MountPages(shell, sessions)
	documents.MountPages(shell, b.docs, b.ident)
	if err := shell.Err(); err != nil {
		t.Fatal(err)
	}
	srv := web.NewServer([]*fiber.App{app}, func(string) *fiber.App { return app }, o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	b.base = "http://" + l.Addr().String()
}

// trader is a client with a portal login and an access token.
type trader struct {
	clientID, loginID uuid.UUID
	email, token      string
	ten               tenants.Tenant
}

// newTrader adds a client in status st with a portal login to ten.
func (b *bundle) newTrader(t testing.TB, ten tenants.Tenant, st clients.Status) trader {
	t.Helper()
	tr := trader{clientID: uuid.New(), ten: ten}
	tr.email = "t" + strings.ReplaceAll(tr.clientID.String()[:8], "-", "") + "@example.com"
	err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', $3)`, tr.clientID, tr.email, string(st)); err != nil {
			return err
		}
		var err error
		tr.loginID, err = b.ident.CreatePortalUserTx(ctx, tx, tr.email, "a long enough password 1", tr.clientID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.token = b.token(t, ten, auth.AudiencePortal, tr.loginID, nil)
	return tr
}

// token issues an access token for ten's host.
func (b *bundle) token(t testing.TB, ten tenants.Tenant, aud auth.Audience, sub uuid.UUID, roles []string) string {
	t.Helper()
	tok, _, err := b.keys.Issue(auth.Claims{Issuer: issuer, Audience: aud, Subject: sub.String(), TenantID: ten.ID.String(),
		Roles: roles, Type: "access"}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type result struct {
	status int
	body   string
	header http.Header
}

func (b *bundle) do(t *testing.T, method, host, path, token string, body io.Reader, header map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return result{status: res.StatusCode, body: string(out), header: res.Header}
}

// upload sends a file through the API as tr.
func (b *bundle) upload(t *testing.T, tr trader, typ, expires, name string, file []byte) result {
	t.Helper()
	q := "?type=" + typ + "&filename=" + name
	if expires != "" {
		q += "&expires_on=" + expires
	}
	return b.do(t, "POST", hostOf(tr.ten), documents.UploadAPIPath+q, tr.token, bytes.NewReader(file),
		map[string]string{"Content-Type": "application/octet-stream"})
}

// objects lists every key in the test's bucket.
func (b *bundle) objects(t *testing.T) []string {
	t.Helper()
	out, err := b.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b.bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// rows counts ten's document rows.
func (b *bundle) rows(t *testing.T, ten tenants.Tenant) int {
	t.Helper()
	var n int
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// auditActions lists ten's audit actions on target id, oldest first.
func (b *bundle) auditActions(t *testing.T, ten tenants.Tenant, id string) []string {
	t.Helper()
	var out []string
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Real files, made by the standard encoders.

func testImage(w, h int, seed byte) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{byte(x*7) + seed, byte(y*5) ^ seed, byte(x * y), 255})
		}
	}
	return img
}

func jpegFile(t testing.TB, seed byte) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(96, 64, seed), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngFile(t testing.TB, seed byte) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(64, 48, seed)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pdfFile is a minimal valid one-page PDF (catalog, pages, page, content stream; a correct xref table), with
// padding bytes inside a comment to reach at least size bytes.
func pdfFile(text string, size int) []byte {
	var buf bytes.Buffer
	var offsets []int
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	if pad := size - 400 - len(text); pad > 0 {
		for pad > 0 {
			n := min(pad, 100)
			buf.WriteString("%" + strings.Repeat("x", n) + "\n")
			pad -= n + 2
		}
	}
	stream := "BT /F1 12 Tf 72 720 Td (" + text + ") Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
	}
	for i, o := range objs {
		offsets = append(offsets, buf.Len())
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return buf.Bytes()
}

// exeFile starts like a Windows executable (MZ header, PE signature), whatever it is named.
func exeFile() []byte {
	b := make([]byte, 4096)
	copy(b, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff")
	copy(b[0x40:], "This program cannot be run in DOS mode.\r\r\n$")
	copy(b[0x80:], "PE\x00\x00")
	return b
}
