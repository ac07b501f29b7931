// Package config reads BrokerDesk's configuration from environment variables, once, in main. Every variable is
// listed in Vars (which the README's table mirrors, and a test keeps them in step); Load checks them all and
// reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/web"
)

// Config is the whole configuration.
type Config struct {
	HTTPAddr           string
	InternalAddr       string
	BaseDomain         string
	PublicScheme       string
	DatabaseURL        string
	DatabaseClusters   []database.Cluster
	DatabaseMaxConns   int32
	RedisURL           string
	SMTPAddr           string
	SMTPFrom           string
	SMTPUsername       string
	SMTPPassword       string
	ExportDir          string
	LogLevel           string
	MigrateConcurrency int
	WorkerConcurrency  int
	ShutdownTimeout    time.Duration
	// JWTKeys signs and verifies access tokens. It prints as its key ids only, so %+v of a Config is safe to log.
	JWTKeys *auth.KeyRing
	// RateLimitIP and RateLimitToken are the API's request budgets per client address and per credential;
	// RateLimitWebhooks is the payment processors' budget per address for their callbacks.
	RateLimitIP, RateLimitToken, RateLimitWebhooks web.Rate
	// TrustedProxies are the load balancers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// DataKeys encrypts secrets kept in the database (TOTP seeds). It prints as its key ids only.
	DataKeys *auth.Sealer
	// Blob storage of KYC documents: BlobStore is "disk" (BlobDir) or "s3" (the S3* fields).
	BlobStore, BlobDir                         string
	S3Bucket, S3Region, S3Endpoint, S3KMSKeyID string
	// UploadMaxBytes caps one uploaded document.
	UploadMaxBytes int64
}

// Var documents one environment variable.
type Var struct {
	Name     string
	Default  string // "" with Required false: optional, off when empty
	Required bool
	Doc      string
}

// Vars lists every variable BrokerDesk reads. `brokerdesk dev` fills the required ones from the local services.
var Vars = []Var{
	{Name: "BD_HTTP_ADDR", Default: ":8080", Doc: "address the public HTTP server listens on"},
	{Name: "BD_INTERNAL_ADDR", Default: "127.0.0.1:9090", Doc: "address of the internal listener: /metrics, /healthz, /readyz (keep it off the internet)"},
	{Name: "BD_BASE_DOMAIN", Default: "localhost", Doc: "tenants live at <slug>.<base domain>; the operator console at console.<base domain>"},
	{Name: "BD_PUBLIC_SCHEME", Default: "https", Doc: "scheme of links in emails (http only for local development)"},
	{Name: "BD_DATABASE_URL", Required: true, Doc: "Postgres URL of the platform cluster (cluster \"main\"), e.g. postgres://brokerdesk@db:5432/brokerdesk"},
	{Name: "BD_DATABASE_CLUSTERS", Doc: "further tenant clusters: name=postgres://...;name=postgres://..."},
	{Name: "BD_DATABASE_MAX_CONNS", Default: "20", Doc: "connections per cluster pool"},
	{Name: "BD_REDIS_URL", Required: true, Doc: "Redis URL for the job queue; the server must run with maxmemory-policy noeviction"},
	{Name: "BD_SMTP_ADDR", Required: true, Doc: "SMTP server host:port for outgoing email"},
	{Name: "BD_SMTP_FROM", Default: "BrokerDesk <no-reply@brokerdesk.localhost>", Doc: "From address of outgoing email"},
	{Name: "BD_SMTP_USERNAME", Doc: "SMTP username (optional)"},
	{Name: "BD_SMTP_PASSWORD", Doc: "SMTP password (optional; from a secret store, never in the repository)"},
	{Name: "BD_EXPORT_DIR", Default: ".data/exports", Doc: "where `tenants delete` writes a tenant's export before dropping it"},
	{Name: "BD_LOG_LEVEL", Default: "info", Doc: "debug, info, warn or error"},
	{Name: "BD_MIGRATE_CONCURRENCY", Default: "4", Doc: "tenants `migrate` works on at once"},
	{Name: "BD_WORKER_CONCURRENCY", Default: "10", Doc: "jobs a worker runs at once"},
	{Name: "BD_SHUTDOWN_TIMEOUT", Default: "20s", Doc: "how long shutdown waits for requests and jobs in flight"},
	{Name: "BD_JWT_KEYS", Required: true, Doc: "access-token signing keys: kid:base64-ed25519-seed,kid:...; the first signs, all verify (rotation: docs/security.md; from a secret store, never in the repository)"},
	{Name: "BD_RATE_LIMIT_IP", Default: "300/m", Doc: "requests each client address may make (n/s, n/m, n/h; off to disable); see docs/api.md"},
	{Name: "BD_RATE_LIMIT_WEBHOOKS", Default: "3000/m", Doc: "callbacks each payment processor address may send, in place of BD_RATE_LIMIT_IP (n/s, n/m, n/h; off to disable); see docs/payments.md"},
	{Name: "BD_RATE_LIMIT_TOKEN", Default: "600/m", Doc: "requests each access token or API key may make, from any address (n/s, n/m, n/h; off to disable)"},
	{Name: "BD_DATA_KEYS", Required: true, Doc: "keys that encrypt secrets kept in the database (TOTP seeds): kid:base64-32-byte-key,...; the first encrypts, all decrypt (rotation: docs/security.md; from a secret store, never in the repository)"},
	{Name: "BD_BLOB_STORE", Default: "disk", Doc: "where KYC documents are kept: disk (BD_BLOB_DIR, one server only) or s3 (BD_S3_*); see docs/documents.md"},
	{Name: "BD_BLOB_DIR", Default: ".data/blobs", Doc: "directory of the disk blob store"},
	{Name: "BD_S3_BUCKET", Doc: "S3 bucket of the s3 blob store (credentials from the AWS default chain: task role or AWS_* variables)"},
	{Name: "BD_S3_REGION", Default: "us-east-1", Doc: "region of BD_S3_BUCKET"},
	{Name: "BD_S3_ENDPOINT", Doc: "S3-compatible endpoint URL (MinIO, path-style); empty: AWS"},
	{Name: "BD_S3_KMS_KEY_ID", Doc: "KMS key for SSE-KMS on every object; empty: SSE-S3 (AES256)"},
	{Name: "BD_UPLOAD_MAX_MB", Default: "15", Doc: "largest document a client may upload, in MiB"},
	{Name: "BD_TRUSTED_PROXIES", Doc: "load balancers whose X-Forwarded-For is believed: comma-separated CIDRs, e.g. 10.0.0.0/16 (empty: the TCP peer is the client)"},
}

// Load reads and validates the configuration through getenv.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, v := range Vars {
			if v.Name == name {
				return v.Default
			}
		}
		panic("config: undeclared variable " + name)
	}
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	for _, v := range Vars {
		if v.Required && get(v.Name) == "" {
			bad(v.Name, "required (%s)", v.Doc)
		}
	}
	c := Config{
		HTTPAddr: get("BD_HTTP_ADDR"), InternalAddr: get("BD_INTERNAL_ADDR"),
		BaseDomain: strings.ToLower(get("BD_BASE_DOMAIN")), PublicScheme: get("BD_PUBLIC_SCHEME"),
		DatabaseURL: get("BD_DATABASE_URL"), RedisURL: get("BD_REDIS_URL"),
		SMTPAddr: get("BD_SMTP_ADDR"), SMTPFrom: get("BD_SMTP_FROM"),
		SMTPUsername: get("BD_SMTP_USERNAME"), SMTPPassword: get("BD_SMTP_PASSWORD"),
		ExportDir: get("BD_EXPORT_DIR"), LogLevel: get("BD_LOG_LEVEL"),
		BlobStore: get("BD_BLOB_STORE"), BlobDir: get("BD_BLOB_DIR"),
		S3Bucket: get("BD_S3_BUCKET"), S3Region: get("BD_S3_REGION"), S3Endpoint: get("BD_S3_ENDPOINT"),
		S3KMSKeyID: get("BD_S3_KMS_KEY_ID"),
	}
	for _, name := range []string{"BD_HTTP_ADDR", "BD_INTERNAL_ADDR"} {
		if _, _, err := net.SplitHostPort(get(name)); err != nil {
			bad(name, "want host:port, got %q", get(name))
		}
	}
	if c.BaseDomain == "" || strings.ContainsAny(c.BaseDomain, ":/ ") {
		bad("BD_BASE_DOMAIN", "want a domain like brokerdesk.app, got %q", c.BaseDomain)
	}
	if c.PublicScheme != "http" && c.PublicScheme != "https" {
		bad("BD_PUBLIC_SCHEME", "want http or https, got %q", c.PublicScheme)
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("BD_DATABASE_URL", "want postgres://user@host:port/db")
		}
	}
	var err error
	if c.DatabaseClusters, err = database.ParseClusters(get("BD_DATABASE_CLUSTERS")); err != nil {
		bad("BD_DATABASE_CLUSTERS", "%v", err)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("BD_REDIS_URL", "want redis://host:port/db")
		}
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			bad("BD_SMTP_ADDR", "want host:port, got %q", c.SMTPAddr)
		}
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		bad("BD_SMTP_FROM", "want an address like \"Broker <no-reply@broker.com>\": %v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("BD_LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	positive := func(name string, max int) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < 1 || n > max {
			bad(name, "want a whole number from 1 to %d, got %q", max, get(name))
		}
		return n
	}
	c.DatabaseMaxConns = int32(positive("BD_DATABASE_MAX_CONNS", 1000))
	c.MigrateConcurrency = positive("BD_MIGRATE_CONCURRENCY", 64)
	c.WorkerConcurrency = positive("BD_WORKER_CONCURRENCY", 1000)
	if c.ShutdownTimeout, err = time.ParseDuration(get("BD_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		bad("BD_SHUTDOWN_TIMEOUT", "want a duration like 20s, got %q", get("BD_SHUTDOWN_TIMEOUT"))
	}
	if keys := get("BD_JWT_KEYS"); keys != "" {
		// auth's errors name key ids and positions, never key material, so they are safe to print here.
		if c.JWTKeys, err = auth.ParseKeyRing(keys); err != nil {
			bad("BD_JWT_KEYS", "%v", err)
		}
	}
	if keys := get("BD_DATA_KEYS"); keys != "" {
		if c.DataKeys, err = auth.ParseSealer(keys); err != nil {
			bad("BD_DATA_KEYS", "%v", err)
		}
	}
	if c.RateLimitIP, err = web.ParseRate(get("BD_RATE_LIMIT_IP")); err != nil {
		bad("BD_RATE_LIMIT_IP", "%v", err)
	}
	if c.RateLimitWebhooks, err = web.ParseRate(get("BD_RATE_LIMIT_WEBHOOKS")); err != nil {
		bad("BD_RATE_LIMIT_WEBHOOKS", "%v", err)
	}
	if c.RateLimitToken, err = web.ParseRate(get("BD_RATE_LIMIT_TOKEN")); err != nil {
		bad("BD_RATE_LIMIT_TOKEN", "%v", err)
	}
	if c.TrustedProxies, err = web.ParseTrustedProxies(get("BD_TRUSTED_PROXIES")); err != nil {
		bad("BD_TRUSTED_PROXIES", "%v", err)
	}
	switch c.BlobStore {
	case "disk":
	case "s3":
		if c.S3Bucket == "" {
			bad("BD_S3_BUCKET", "required when BD_BLOB_STORE is s3")
		}
	default:
		bad("BD_BLOB_STORE", "want disk or s3, got %q", c.BlobStore)
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("BD_S3_ENDPOINT", "want http(s)://host:port, got %q", c.S3Endpoint)
		}
	}
	c.UploadMaxBytes = int64(positive("BD_UPLOAD_MAX_MB", 1024)) << 20
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration is not valid:\n  %w", joinLines(errs))
	}
	return c, nil
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
