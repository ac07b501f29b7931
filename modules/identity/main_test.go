package identity_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/logging/logtest"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Redis, localsvc.Mailpit) }

// worker is this package's job worker, as `brokerdesk worker` runs it: an Asynq server on the test Redis with
// identity's task handlers registered through jobs.ForTenant. Each tenant's tasks go to the service of the bundle
// that made the tenant (its clock, its logs). Tests feed it with deliver, which relays a tenant's outbox.
var worker struct {
	once     sync.Once
	err      error
	client   *asynq.Client
	mu       sync.Mutex
	services map[uuid.UUID]*identity.Service
}

func startWorker(tb testing.TB, p *tenanttest.Platform) {
	tb.Helper()
	worker.once.Do(func() {
		opt, err := jobs.RedisOpt(os.Getenv("BD_REDIS_URL"))
		if err != nil {
			worker.err = err
			return
		}
		worker.client = asynq.NewClient(opt)
		worker.services = map[uuid.UUID]*identity.Service{}
		mux := asynq.NewServeMux()
		for task, handle := range map[string]func(*identity.Service, context.Context, tenants.Tenant, jobs.Envelope) error{
			identity.TaskPasswordReset:        (*identity.Service).HandlePasswordReset,
			identity.TaskTwoFactorResetNotice: (*identity.Service).HandleTwoFactorResetNotice,
		} {
			mux.Handle(task, jobs.ForTenant(p.Registry, func(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
				worker.mu.Lock()
				svc := worker.services[t.ID]
				worker.mu.Unlock()
				if svc == nil {
					return fmt.Errorf("%w: no test service for tenant %s", asynq.SkipRetry, t.Slug)
				}
				return handle(svc, ctx, t, e)
			}))
		}
		worker.err = jobs.NewServer(opt, 4, 5*time.Second, nil).Start(mux) // runs until the test binary exits
	})
	if worker.err != nil {
		tb.Fatal(worker.err)
	}
}

// deliver relays the bundle's tenant's outbox to the worker (the relay's own loop is jobs' to test).
func (b *bundle) deliver(tb testing.TB) {
	tb.Helper()
	relay := jobs.NewRelay(b.p.Registry, b.p.Gate, b.p.Clusters, worker.client, jobs.RelayOptions{})
	if _, err := relay.RelayTenant(context.Background(), b.ten); err != nil {
		tb.Fatal(err)
	}
}

const issuer = "https://brokerdesk.test"

// bundle is one test's world: a tenant on the shared platform, the services and an HTTP app serving that tenant.
type bundle struct {
	p      *tenanttest.Platform
	ten    tenants.Tenant
	keys   *auth.KeyRing
	hasher *auth.Hasher
	sealer *auth.Sealer
	// dataKeys is sealer's BD_DATA_KEYS spec, for a rotation's second ring.
	dataKeys string
	mailer   identity.Mailer
	url      func(tenants.Tenant, string) string
	log      *slog.Logger
	svc      *identity.Service
	staff    *staff.Service
	audit    *audit.Service
	app      *fiber.App
	logs     *logtest.Buffer // everything the service and the HTTP layer logged, at debug level
}

// testHasher is argon2id at its minimum cost: the tests exercise the flows, not the cost (BenchmarkLogin measures
// the real parameters).
func testHasher(tb testing.TB, p auth.Params) *auth.Hasher {
	tb.Helper()
	h, err := auth.NewHasher(p, 4)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

var cheap = auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func setup(tb testing.TB) *bundle { return setupWith(tb, cheap, nil) }

// setupWith is setup with other hashing parameters and, when clock is not nil, a clock shared by the service and the
// key ring.
func setupWith(tb testing.TB, params auth.Params, clock func() time.Time) *bundle {
	tb.Helper()
	p := tenanttest.Shared(tb)
	key, err := auth.GenerateKey("k1")
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := auth.NewKeyRing(key)
	if err != nil {
		tb.Fatal(err)
	}
	if clock != nil {
		keys = keys.WithClock(clock)
	}
	sender, err := mail.NewSender(os.Getenv("BD_SMTP_ADDR"), "BrokerDesk <no-reply@brokerdesk.test>", "", "")
	if err != nil {
		tb.Fatal(err)
	}
	url := func(t tenants.Tenant, path string) string { return "https://" + t.Slug + ".brokerdesk.test" + path }
	b := &bundle{p: p, ten: p.NewTenant(tb, ""), keys: keys, hasher: testHasher(tb, params), audit: audit.NewService(p.Gate), logs: &logtest.Buffer{},
		mailer: sender, url: url}
	b.sealer, b.dataKeys = newSealer(tb, "d1")
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.log = log
	b.staff = staff.NewService(staff.Options{Gate: p.Gate, Audit: b.audit, Mailer: sender, TenantURL: url, Log: log})
	b.svc = b.service(tb, b.sealer, clock)
	startWorker(tb, p)
	worker.mu.Lock()
	worker.services[b.ten.ID] = b.svc
	worker.mu.Unlock()
	b.app = b.appFor(b.ten)
	return b
}

// newSealer is a data-key ring of fresh random keys with the given ids, the first sealing, and its spec.
func newSealer(tb testing.TB, ids ...string) (*auth.Sealer, string) {
	tb.Helper()
	var spec []string
	for _, id := range ids {
		spec = append(spec, id+":"+base64.StdEncoding.EncodeToString(randomBytes(tb, 32)))
	}
	s, err := auth.ParseSealer(strings.Join(spec, ","))
	if err != nil {
		tb.Fatal(err)
	}
	return s, strings.Join(spec, ",")
}

func randomBytes(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// service is an identity service over this bundle's platform with the given data keys (a rotation is a second
// service with another ring).
func (b *bundle) service(tb testing.TB, sealer *auth.Sealer, clock func() time.Time) *identity.Service {
	tb.Helper()
	svc, err := identity.NewService(identity.Options{Gate: b.p.Gate, Audit: b.audit, Keys: b.keys, Issuer: issuer, Hasher: b.hasher, Sealer: sealer,
		Mailer: b.mailer, TenantURL: b.url, Log: b.log, Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// appFor serves ten (as the host middleware would have resolved it) with this bundle's services.
func (b *bundle) appFor(ten tenants.Tenant) *fiber.App {
	app := web.New(web.Options{Log: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), ten))
		return c.Next()
	})
	api := web.NewAPI(app, b.svc.Authorize)
	api.SetIdempotency(tenants.NewIdempotencyStore(b.p.Gate), func(c *fiber.Ctx) string {
		p, _ := identity.PrincipalOf(c)
		return p.UserID.String()
	}, nil)
	identity.Routes(api, b.svc)
	staff.Routes(api, b.staff, identity.Actor)
	if err := api.Err(); err != nil {
		panic(err)
	}
	return app
}

// addStaff creates an active staff user with a password and returns its id.
func (b *bundle) addStaff(tb testing.TB, email, password string, roles ...string) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	hash, err := b.hasher.Hash(context.Background(), password)
	if err != nil {
		tb.Fatal(err)
	}
	err = b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, 'Test User', $3, 'active')`, id, email, roles); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO staff_credentials (staff_user_id, password_hash) VALUES ($1, $2)`, id, hash)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// reply is a response of the bundle's app, read whole.
type reply = webtest.Reply

func do(tb testing.TB, app *fiber.App, method, path, token string, body any) reply {
	tb.Helper()
	return doKey(tb, app, method, path, token, "", body)
}

// doKey is do with an Idempotency-Key header (when key is not empty).
func doKey(tb testing.TB, app *fiber.App, method, path, token, key string, body any) reply {
	tb.Helper()
	return webtest.Send(tb, app, webtest.JSON(method, path, body, "Authorization", webtest.Bearer(token), "Idempotency-Key", key))
}

func (b *bundle) login(tb testing.TB, email, password string, extra ...string) (identity.TokenResponse, reply) {
	tb.Helper()
	req := identity.LoginRequest{Email: email, Password: password}
	if len(extra) == 2 {
		switch extra[0] {
		case "totp":
			req.TOTPCode = extra[1]
		case "recovery":
			req.RecoveryCode = extra[1]
		}
	}
	r := do(tb, b.app, "POST", "/api/v1/auth/staff/login", "", req)
	var tr identity.TokenResponse
	if r.Status == 200 {
		r.Decode(tb, &tr)
	}
	return tr, r
}

// actions returns the audit actions recorded for the tenant, oldest first.
func (b *bundle) actions(tb testing.TB) []string {
	tb.Helper()
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: "identity."}, "", 500)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, r := range page.Rows {
		out = append(out, r.Action)
	}
	slices.Reverse(out)
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// mailTo waits for a message to addr and returns the newest.
func mailTo(tb testing.TB, addr string) localsvc.MailpitMessage {
	tb.Helper()
	return localsvc.AwaitMail(tb, addr, 1, 10*time.Second)[0]
}
