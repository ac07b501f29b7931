package kyc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres) }

const (
	issuer   = "https://brokerdesk.test"
	password = "correct horse battery staple 42"
)

// world is one test's services on the shared platform; bundle is one tenant served by them.
type world struct {
	p        *tenanttest.Platform
	audit    *audit.Service
	clients  *clients.Service
	docs     *documents.Service
	kyc      *Service
	identity *identity.Service
	pages    *web.Pages
}

type bundle struct {
	*world
	ten tenants.Tenant
	app *fiber.App
}

var cheap = identitytest.CheapParams

func newWorld(tb testing.TB) *world {
	tb.Helper()
	p := tenanttest.Shared(tb)
	w := &world{p: p, audit: audit.NewService(p.Gate)}
	url := identitytest.TenantURL
	w.clients = clients.NewService(clients.Options{Gate: p.Gate, Audit: w.audit})
	mails, err := emails.NewService(emails.Options{Registry: p.Registry, Brands: branding.NewService(p.Gate), From: "BrokerDesk <no-reply@brokerdesk.test>",
		MailerFor: func(from string) (emails.Mailer, error) {
			return mail.NewSender(os.Getenv("BD_SMTP_ADDR"), from, "", "")
		},
		TenantURL: url, Queue: "kyc-test"})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := blob.NewDisk(blob.DiskOptions{Dir: tb.TempDir(), LinkKey: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		tb.Fatal(err)
	}
	hall := events.New(events.Options{Gate: p.Gate})
	if w.docs, err = documents.NewService(documents.Options{Gate: p.Gate, Audit: w.audit, Clients: w.clients, Store: store, Emails: mails,
		Events: hall, TenantURL: url}); err != nil {
		tb.Fatal(err)
	}
	if w.kyc, err = NewService(Options{Gate: p.Gate, Audit: w.audit, Clients: w.clients, Emails: mails, Documents: w.docs}); err != nil {
		tb.Fatal(err)
	}
	w.kyc.Subscribe(hall)
	if err := hall.Err(); err != nil {
		tb.Fatal(err)
	}
	w.identity = identitytest.New(tb, p.Gate, w.audit).Service
	if w.pages, err = web.NewPages(identity.PageFiles, PageFiles); err != nil {
		tb.Fatal(err)
	}
	return w
}

func setup(tb testing.TB) *bundle {
	tb.Helper()
	return newWorld(tb).tenant(tb)
}

// tenant provisions a fresh tenant served by w's services.
func (w *world) tenant(tb testing.TB) *bundle {
	tb.Helper()
	b := &bundle{world: w, ten: w.p.NewTenant(tb, "")}
	b.app = b.appFor(tb)
	return b
}

// appFor serves b's tenant (as the host middleware would have resolved it): the API and the pages.
func (b *bundle) appFor(tb testing.TB) *fiber.App {
	tb.Helper()
	app := web.New(web.Options{Log: slog.New(slog.DiscardHandler), Pages: b.pages})
	app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), b.ten))
		return c.Next()
	})
	api := web.NewAPI(app, b.identity.Authorize)
	api.SetIdempotency(tenants.NewIdempotencyStore(b.p.Gate), nil, nil)
	Routes(api, b.kyc)
	if err := api.Err(); err != nil {
		tb.Fatal(err)
	}
	brands := branding.NewService(b.p.Gate)
	sessions := identity.NewSessions(b.identity, false)
	shell := web.NewShell(app, web.ShellOptions{Pages: b.pages, Sessions: sessions,
		Brand: func(c *fiber.Ctx) (web.Brand, error) { return brands.Get(c.UserContext(), tenants.Current(c)) }})
	identity.MountPages(shell, sessions)
	MountPages(shell, b.kyc)
	if err := shell.Err(); err != nil {
		tb.Fatal(err)
	}
	return app
}

// officer is a signed-in staff user.
type officer struct {
	id    uuid.UUID
	token string
}

// addOfficer creates an active staff user with roles and signs in.
func (b *bundle) addOfficer(tb testing.TB, name string, roles ...string) officer {
	tb.Helper()
	ctx := context.Background()
	id := uuid.New()
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@" + b.ten.Slug + ".example"
	hash, err := b.identityHasher(tb).Hash(ctx, password)
	if err != nil {
		tb.Fatal(err)
	}
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, $3, $4, 'active')`, id, email, name, roles); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO staff_credentials (staff_user_id, password_hash) VALUES ($1, $2)`, id, hash)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := b.identity.Login(ctx, b.ten, identity.Staff, identity.Credentials{Email: email, Password: password})
	if err != nil {
		tb.Fatal(err)
	}
	return officer{id: id, token: tok.AccessToken}
}

func (b *bundle) identityHasher(tb testing.TB) *auth.Hasher {
	h, err := auth.NewHasher(cheap, 2)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// addClient inserts a client with the given status (and date of birth) and returns its id.
func (b *bundle) addClient(tb testing.TB, first, country string, status clients.Status) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status, date_of_birth)
			VALUES ($1, $2, $3, 'Tester', $4, $5, '1990-04-12')`, id, strings.ToLower(first)+"."+id.String()[:8]+"@traders.example", first, country, string(status))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// upload sends a real file through the documents module (which opens the case) and returns the case id.
func (b *bundle) upload(tb testing.TB, clientID uuid.UUID, typ documents.Type) uuid.UUID {
	tb.Helper()
	u := documents.Upload{Type: typ, FileName: string(typ) + ".png", Body: bytes.NewReader(DemoPNG(clientID.String()+string(typ)+uuid.NewString(), 0)),
		Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID.String()}}
	if typ == "proof_of_address" {
		u.FileName, u.Body = "bill.pdf", bytes.NewReader(DemoPDF("Utility bill", uuid.NewString(), "1 Main Street"))
	}
	if typ.HasExpiry() {
		u.ExpiresOn = time.Now().AddDate(3, 0, 0).Format(time.DateOnly)
	}
	d, err := b.docs.Upload(context.Background(), b.ten, clientID, u)
	if err != nil {
		tb.Fatalf("upload %s: %v", typ, err)
	}
	var id uuid.UUID
	err = b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM kyc_cases WHERE document_id = $1`, d.ID).Scan(&id)
	})
	if err != nil {
		tb.Fatalf("no case for document %s: %v", d.ID, err)
	}
	return id
}

func (b *bundle) clientStatus(tb testing.TB, id uuid.UUID) clients.Status {
	tb.Helper()
	c, err := b.clients.Get(context.Background(), b.ten, id)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Status
}

// outbox returns the templates of the emails queued to address.
func (b *bundle) emailsTo(tb testing.TB, address string) []string {
	tb.Helper()
	var out []string
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT payload->>'template' FROM outbox WHERE task_type = $2 AND payload->>'to' = $1 ORDER BY created_at, id`,
			address, emails.TaskSend)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func (b *bundle) settings(tb testing.TB, change func(*Settings)) {
	tb.Helper()
	st := DefaultSettings()
	change(&st)
	if _, err := b.kyc.SaveSettings(context.Background(), b.ten, audit.System("test"), st); err != nil {
		tb.Fatal(err)
	}
}

// reply is a response of the bundle's app, read whole.
type reply = webtest.Reply

func do(tb testing.TB, app *fiber.App, method, path, token string, body any) reply {
	tb.Helper()
	return webtest.Send(tb, app, webtest.JSON(method, path, body, "Authorization", webtest.Bearer(token)))
}

// page requests a back-office page as a signed-in officer (session and CSRF cookies); form makes it a POST.
func page(tb testing.TB, app *fiber.App, o officer, method, path string, form url.Values) reply {
	tb.Helper()
	var rd io.Reader
	const csrf = "0123456789abcdef0123456789abcdef0123456789"
	if form != nil {
		form.Set("csrf", csrf)
		rd = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: "bd_backoffice", Value: o.token})
	req.AddCookie(&http.Cookie{Name: "bd_csrf", Value: csrf})
	return webtest.Send(tb, app, req)
}
