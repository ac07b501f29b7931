// Package identitytest builds the identity service as other modules' tests need it: real sign-in, tokens and
// portal logins on the test's tenant gate, with argon2id at its lowest cost (so logins in tests are cheap), a fresh
// signing key and data key, and mail to the test run's Mailpit (or nowhere when none runs).
package identitytest

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Issuer is the iss of the fixture's tokens.
const Issuer = "https://brokerdesk.test"

// TenantURL is where the fixture's emails point: https://<slug>.brokerdesk.test<path>.
func TenantURL(t tenants.Tenant, path string) string {
	return "https://" + t.Slug + ".brokerdesk.test" + path
}

// CheapParams are argon2id's lowest-cost parameters: for tests only.
var CheapParams = auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Fixture is an identity service with the keys it signs with.
type Fixture struct {
	*identity.Service
	Keys   *auth.KeyRing
	Hasher *auth.Hasher
}

// New returns an identity service on gate, recording through trail. change, if given, adjusts the options first.
func New(tb testing.TB, gate *tenants.Gate, trail *audit.Service, change ...func(*identity.Options)) Fixture {
	tb.Helper()
	key, err := auth.GenerateKey("k1")
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := auth.NewKeyRing(key)
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := auth.NewHasher(CheapParams, 4)
	if err != nil {
		tb.Fatal(err)
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		tb.Fatal(err)
	}
	sealer, err := auth.ParseSealer("d1:" + base64.StdEncoding.EncodeToString(dataKey))
	if err != nil {
		tb.Fatal(err)
	}
	smtp := os.Getenv("BD_SMTP_ADDR")
	if smtp == "" {
		smtp = "127.0.0.1:9" // nothing listens: a test that sends mail starts Mailpit
	}
	sender, err := mail.NewSender(smtp, "BrokerDesk <no-reply@brokerdesk.test>", "", "")
	if err != nil {
		tb.Fatal(err)
	}
	o := identity.Options{Gate: gate, Audit: trail, Keys: keys, Issuer: Issuer, Hasher: hasher, Sealer: sealer, Mailer: sender,
		TenantURL: TenantURL}
	for _, c := range change {
		c(&o)
	}
	svc, err := identity.NewService(o)
	if err != nil {
		tb.Fatal(err)
	}
	return Fixture{Service: svc, Keys: keys, Hasher: hasher}
}
