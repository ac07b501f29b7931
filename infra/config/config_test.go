package config_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func valid() map[string]string {
	return map[string]string{
		"BD_DATABASE_URL": "postgres://bd@127.0.0.1:5432/brokerdesk",
		"BD_REDIS_URL":    "redis://127.0.0.1:6379/0",
		"BD_SMTP_ADDR":    "127.0.0.1:1025",
		"BD_JWT_KEYS":     testKeys,
		"BD_DATA_KEYS":    "d1:" + newSeed,
	}
}

// testKeys is two throwaway keys: new (signs) and old (verifies). The seeds are test data, not secrets.
const testKeys = "new:" + newSeed + ", old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

const newSeed = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

func TestLoadAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.BaseDomain != "localhost" || c.MigrateConcurrency != 4 || c.DatabaseMaxConns != 20 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	m := map[string]string{
		"BD_REDIS_URL":           "http://wrong",
		"BD_LOG_LEVEL":           "loud",
		"BD_DATABASE_CLUSTERS":   "eu=postgres://x;eu=postgres://y",
		"BD_MIGRATE_CONCURRENCY": "0",
		"BD_SHUTDOWN_TIMEOUT":    "soon",
		"BD_PUBLIC_SCHEME":       "ftp",
	}
	_, err := config.Load(env(m))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, name := range []string{"BD_DATABASE_URL", "BD_SMTP_ADDR", "BD_REDIS_URL", "BD_LOG_LEVEL", "BD_DATABASE_CLUSTERS",
		"BD_MIGRATE_CONCURRENCY", "BD_SHUTDOWN_TIMEOUT", "BD_PUBLIC_SCHEME", "BD_JWT_KEYS", "BD_DATA_KEYS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestLoadReadsClusters(t *testing.T) {
	t.Parallel()
	m := valid()
	m["BD_DATABASE_CLUSTERS"] = "eu-2=postgres://a@h/db; us=postgres://b@h/db"
	c, err := config.Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DatabaseClusters) != 2 || c.DatabaseClusters[0].Name != "eu-2" || c.DatabaseClusters[1].URL != "postgres://b@h/db" {
		t.Fatalf("clusters: %+v", c.DatabaseClusters)
	}
}

func TestLoadReadsJWTKeysFirstSigns(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTKeys == nil || c.JWTKeys.SignerID() != "new" || strings.Join(c.JWTKeys.KeyIDs(), ",") != "new,old" {
		t.Fatalf("keys: %v", c.JWTKeys)
	}
}

// Configuration gets printed (start-up errors, debugging with %+v); key material must never be part of it.
func TestJWTKeysNeverPrinted(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if out := fmt.Sprintf(verb, c); strings.Contains(out, newSeed) || !strings.Contains(out, "new") {
			t.Errorf("%s of Config leaks the key or hides its id: %s", verb, out)
		}
	}
}

func TestLoadRefusesBadJWTKeysWithoutQuotingThem(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"short seed":   "k1:" + newSeed[:20] + "=",
		"not base64":   "k1:" + newSeed[:40] + "!!!=",
		"no kid":       ":" + newSeed,
		"duplicate id": "k1:" + newSeed + ",k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"same key":     "k1:" + newSeed + ",k2:" + newSeed,
	}
	for name, v := range cases {
		m := valid()
		m["BD_JWT_KEYS"] = v
		_, err := config.Load(env(m))
		if err == nil || !strings.Contains(err.Error(), "BD_JWT_KEYS") {
			t.Errorf("%s: want a BD_JWT_KEYS error, got %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), newSeed[:16]) {
			t.Errorf("%s: error quotes the key: %v", name, err)
		}
	}
}

// The README's configuration table is the operator's reference: every variable must be in it.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(string(readme), "`"+v.Name+"`") {
			t.Errorf("README.md does not document %s", v.Name)
		}
	}
}

func TestLoadReadsRateLimitsAndTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitIP.Limit != 300 || c.RateLimitIP.Period.Minutes() != 1 || c.RateLimitToken.Limit != 600 || len(c.TrustedProxies) != 0 {
		t.Fatalf("defaults: ip %v token %v proxies %v", c.RateLimitIP, c.RateLimitToken, c.TrustedProxies)
	}
	m := valid()
	m["BD_RATE_LIMIT_IP"], m["BD_RATE_LIMIT_TOKEN"], m["BD_TRUSTED_PROXIES"] = "20/s", "off", "10.0.0.0/16, 192.168.1.7"
	if c, err = config.Load(env(m)); err != nil {
		t.Fatal(err)
	}
	if c.RateLimitIP.Limit != 20 || c.RateLimitIP.Period.Seconds() != 1 || !c.RateLimitToken.Off() ||
		fmt.Sprint(c.TrustedProxies) != "[10.0.0.0/16 192.168.1.7/32]" {
		t.Fatalf("got ip %v token %v proxies %v", c.RateLimitIP, c.RateLimitToken, c.TrustedProxies)
	}
	m["BD_RATE_LIMIT_IP"], m["BD_RATE_LIMIT_TOKEN"], m["BD_TRUSTED_PROXIES"] = "lots", "5/fortnight", "10.0.0.0/99"
	_, err = config.Load(env(m))
	for _, name := range []string{"BD_RATE_LIMIT_IP", "BD_RATE_LIMIT_TOKEN", "BD_TRUSTED_PROXIES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
