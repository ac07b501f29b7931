package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

const issuer = "https://brokerdesk.test"

var (
	// A fixed instant keeps every exp/nbf case exact; whole seconds, as the wire format has.
	now = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

	tenantA = auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: issuer, TenantID: "tenant-a"}
	tenantB = auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: issuer, TenantID: "tenant-b"}
	console = auth.Expectation{Audience: auth.AudienceConsole, Issuer: issuer}
)

func clock() time.Time { return now }

// seed makes a deterministic Ed25519 seed, so a test can hold the private key to craft tokens by hand.
func seed(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func mustKey(t testing.TB, id string, b byte) auth.Key {
	t.Helper()
	k, err := auth.NewKey(id, seed(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t testing.TB, keys ...auth.Key) *auth.KeyRing {
	t.Helper()
	r, err := auth.NewKeyRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r.WithClock(clock)
}

func staffClaims(tenant string) auth.Claims {
	return auth.Claims{Issuer: issuer, Audience: auth.AudienceBackoffice, Subject: "user-1", TenantID: tenant, Roles: []string{"admin"}}
}

func operatorClaims() auth.Claims {
	return auth.Claims{Issuer: issuer, Audience: auth.AudienceConsole, Subject: "operator-1", Roles: []string{"operator"}}
}

func mustIssue(t testing.TB, r *auth.KeyRing, c auth.Claims) string {
	t.Helper()
	tok, _, err := r.Issue(c, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// validMap is a hand-made equivalent of an issued tenant-a backoffice token; each crafted case changes one thing.
func validMap() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": issuer, "aud": []string{"backoffice"}, "sub": "user-1", "tid": "tenant-a", "roles": []string{"admin"},
		"typ": "access", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "jti-1",
	}
}

// craft signs claims by hand with any method and key, setting kid unless it is nil.
func craft(t testing.TB, m jwt.SigningMethod, key any, kid *string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != nil {
		tok.Header["kid"] = *kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr(s string) *string { return &s }

func with(m jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// The crafted tokens below are only meaningful if an untouched crafted token passes; otherwise every rejection
// could be for the wrong reason.
func TestVerifyAcceptsHandCraftedControlToken(t *testing.T) {
	t.Parallel()
	r := mustRing(t, mustKey(t, "k1", 1))
	tok := craft(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(seed(1)), ptr("k1"), validMap())
	c, err := r.Verify(tok, tenantA)
	if err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	if c.Subject != "user-1" || c.TenantID != "tenant-a" || c.Audience != auth.AudienceBackoffice || c.ID != "jti-1" {
		t.Fatalf("claims: %+v", c)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k1 := mustKey(t, "k1", 1)
	priv := ed25519.NewKeyFromSeed(seed(1))
	pub := priv.Public().(ed25519.PublicKey)
	ring := mustRing(t, k1)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noneTok := craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ptr("k1"), validMap())

	cases := []struct {
		name  string
		token func(t *testing.T) string
		want  auth.Expectation
		ring  *auth.KeyRing // nil: ring
		why   error         // the specific reason, besides ErrInvalidToken
	}{
		{name: "alg none", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string { return noneTok }},
		{name: "alg none with empty signature and lowercase alg", want: tenantA, why: jwt.ErrTokenUnverifiable,
			token: func(t *testing.T) string {
				h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","kid":"k1","typ":"JWT"}`))
				return h + "." + strings.Split(noneTok, ".")[1] + "."
			}},
		{name: "HS256 signed with the Ed25519 public key as HMAC secret", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodHS256, []byte(pub), ptr("k1"), validMap()) }},
		{name: "HS256 signed with the base64 public key as HMAC secret", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodHS256, []byte(base64.StdEncoding.EncodeToString(pub)), ptr("k1"), validMap())
			}},
		{name: "RS256 token", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodRS256, rsaKey, ptr("k1"), validMap()) }},
		{name: "ES256 token", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodES256, ecKey, ptr("k1"), validMap()) }},
		{name: "unknown kid", want: tenantA, why: auth.ErrUnknownKey,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k9"), validMap()) }},
		{name: "missing kid", want: tenantA, why: auth.ErrUnknownKey,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodEdDSA, priv, nil, validMap()) }},
		{name: "empty kid", want: tenantA, why: auth.ErrUnknownKey,
			token: func(t *testing.T) string { return craft(t, jwt.SigningMethodEdDSA, priv, ptr(""), validMap()) }},
		{name: "kid not a string", want: tenantA, why: auth.ErrUnknownKey,
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validMap())
				tok.Header["kid"] = 1
				s, err := tok.SignedString(priv)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}},
		{name: "expired", want: tenantA, why: jwt.ErrTokenExpired,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(),
					"iat", now.Add(-11*time.Minute).Unix(), "nbf", now.Add(-11*time.Minute).Unix(), "exp", now.Add(-time.Minute).Unix()))
			}},
		{name: "expired by 31 seconds, beyond the leeway", want: tenantA, why: jwt.ErrTokenExpired,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(),
					"iat", now.Add(-10*time.Minute).Unix(), "nbf", now.Add(-10*time.Minute).Unix(), "exp", now.Add(-31*time.Second).Unix()))
			}},
		{name: "no exp", want: tenantA, why: jwt.ErrTokenRequiredClaimMissing,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "exp", nil))
			}},
		{name: "not yet valid", want: tenantA, why: jwt.ErrTokenNotValidYet,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "nbf", now.Add(5*time.Minute).Unix()))
			}},
		{name: "no nbf", want: tenantA, why: jwt.ErrTokenRequiredClaimMissing,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "nbf", nil))
			}},
		{name: "issued in the future", want: tenantA, why: jwt.ErrTokenUsedBeforeIssued,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "iat", now.Add(5*time.Minute).Unix()))
			}},
		{name: "lifetime longer than the maximum", want: tenantA, why: auth.ErrBadClaims,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "exp", now.Add(auth.MaxAccessTTL+time.Minute).Unix()))
			}},
		{name: "wrong aud", want: tenantA, why: auth.ErrWrongAudience,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "aud", []string{"portal"}))
			}},
		{name: "two audiences including the right one", want: tenantA, why: auth.ErrWrongAudience,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "aud", []string{"backoffice", "portal"}))
			}},
		{name: "no aud", want: tenantA, why: auth.ErrWrongAudience,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "aud", nil))
			}},
		{name: "wrong iss", want: tenantA, why: auth.ErrWrongIssuer,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "iss", "https://evil.test"))
			}},
		{name: "tenant claim different from the expected tenant", want: tenantB, why: auth.ErrWrongTenant,
			token: func(t *testing.T) string { return mustIssue(t, ring, staffClaims("tenant-a")) }},
		{name: "tenant token without tid claim", want: tenantA, why: auth.ErrBadClaims,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "tid", nil))
			}},
		{name: "operator console token on a tenant expectation", want: tenantA, why: auth.ErrWrongAudience,
			token: func(t *testing.T) string { return mustIssue(t, ring, operatorClaims()) }},
		{name: "operator token with backoffice aud and empty tid on a tenant expectation", want: tenantA, why: auth.ErrWrongTenant,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "tid", ""))
			}},
		{name: "tenant token on the console expectation", want: console, why: auth.ErrWrongAudience,
			token: func(t *testing.T) string { return mustIssue(t, ring, staffClaims("tenant-a")) }},
		{name: "console aud carrying a tenant on the console expectation", want: console, why: auth.ErrWrongTenant,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "aud", []string{"console"}))
			}},
		{name: "typ not access", want: tenantA, why: auth.ErrWrongType,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "typ", "refresh"))
			}},
		{name: "typ missing", want: tenantA, why: auth.ErrWrongType,
			token: func(t *testing.T) string {
				return craft(t, jwt.SigningMethodEdDSA, priv, ptr("k1"), with(validMap(), "typ", nil))
			}},
		{name: "tampered payload", want: tenantB, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string {
				return tamper(t, mustIssue(t, ring, staffClaims("tenant-a")), "tid", "tenant-b")
			}},
		{name: "tampered roles", want: tenantA, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string {
				return tamper(t, mustIssue(t, ring, auth.Claims{Issuer: issuer, Audience: auth.AudienceBackoffice, Subject: "u", TenantID: "tenant-a", Roles: []string{"readonly"}}), "roles", []string{"admin"})
			}},
		{name: "signature of another valid token", want: tenantB, why: jwt.ErrTokenSignatureInvalid,
			token: func(t *testing.T) string {
				a := strings.Split(mustIssue(t, ring, staffClaims("tenant-a")), ".")
				b := strings.Split(mustIssue(t, ring, staffClaims("tenant-b")), ".")
				return b[0] + "." + b[1] + "." + a[2]
			}},
		{name: "token signed by a removed key", want: tenantA, why: auth.ErrUnknownKey, ring: mustRing(t, mustKey(t, "k2", 2)),
			token: func(t *testing.T) string {
				return mustIssue(t, mustRing(t, k1, mustKey(t, "k2", 2)), staffClaims("tenant-a"))
			}},
		{name: "removed key's kid reused for a new key", want: tenantA, why: jwt.ErrTokenSignatureInvalid, ring: mustRing(t, mustKey(t, "k1", 7)),
			token: func(t *testing.T) string { return mustIssue(t, ring, staffClaims("tenant-a")) }},
		{name: "empty string", want: tenantA, why: jwt.ErrTokenMalformed, token: func(t *testing.T) string { return "" }},
		{name: "oversized token", want: tenantA, why: jwt.ErrTokenMalformed,
			token: func(t *testing.T) string { return strings.Repeat("a", 9000) + ".b.c" }},
		{name: "valid token but expectation without a tenant for a tenant audience", why: auth.ErrBadExpectation,
			want:  auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: issuer},
			token: func(t *testing.T) string { return mustIssue(t, ring, staffClaims("tenant-a")) }},
		{name: "valid token but expectation without an issuer", why: auth.ErrBadExpectation,
			want:  auth.Expectation{Audience: auth.AudienceBackoffice, TenantID: "tenant-a"},
			token: func(t *testing.T) string { return mustIssue(t, ring, staffClaims("tenant-a")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.ring
			if r == nil {
				r = ring
			}
			c, err := r.Verify(tc.token(t), tc.want)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, auth.ErrInvalidToken) || !errors.Is(err, tc.why) {
				t.Fatalf("error %q: want ErrInvalidToken and %q", err, tc.why)
			}
			if c.Subject != "" || c.TenantID != "" || c.Roles != nil {
				t.Fatalf("claims returned with the error: %+v", c)
			}
		})
	}
}

// tamper rewrites one claim of a signed token and keeps the original signature.
func tamper(t *testing.T, tok, claim string, value any) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m[claim] = value
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestVerifyAcceptsEachAudienceOnItsOwnDoor(t *testing.T) {
	t.Parallel()
	r := mustRing(t, mustKey(t, "k1", 1))
	cases := []struct {
		name   string
		claims auth.Claims
		want   auth.Expectation
	}{
		{"backoffice staff", staffClaims("tenant-a"), tenantA},
		{"portal trader", auth.Claims{Issuer: issuer, Audience: auth.AudiencePortal, Subject: "client-9", TenantID: "tenant-a", Roles: []string{"trader"}},
			auth.Expectation{Audience: auth.AudiencePortal, Issuer: issuer, TenantID: "tenant-a"}},
		{"api key with scope", auth.Claims{Issuer: issuer, Audience: auth.AudienceAPI, Subject: "key-3", TenantID: "tenant-a", Scope: []string{"clients:read", "deposits:read"}},
			auth.Expectation{Audience: auth.AudienceAPI, Issuer: issuer, TenantID: "tenant-a"}},
		{"console operator", operatorClaims(), console},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, issued, err := r.Issue(tc.claims, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Verify(tok, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tc.claims.Subject || got.TenantID != tc.claims.TenantID || got.Audience != tc.claims.Audience ||
				strings.Join(got.Roles, ",") != strings.Join(tc.claims.Roles, ",") || strings.Join(got.Scope, " ") != strings.Join(tc.claims.Scope, " ") {
				t.Fatalf("verified %+v, issued %+v", got, tc.claims)
			}
			if got.Type != auth.TypeAccess || !got.IssuedAt.Equal(now) || !got.NotBefore.Equal(now) ||
				!got.ExpiresAt.Equal(now.Add(auth.DefaultAccessTTL)) || got.ID == "" || got.ID != issued.ID {
				t.Fatalf("registered claims: %+v", got)
			}
		})
	}
}

func TestVerifyToleratesClockSkewWithinLeeway(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "k1", 1)
	tok := mustIssue(t, mustRing(t, k), staffClaims("tenant-a"))
	for _, skew := range []time.Duration{-auth.Leeway + time.Second, 10*time.Minute + auth.Leeway - time.Second} {
		r, _ := auth.NewKeyRing(k)
		r = r.WithClock(func() time.Time { return now.Add(skew) })
		if _, err := r.Verify(tok, tenantA); err != nil {
			t.Errorf("skew %v: %v", skew, err)
		}
	}
}

// Rotation step by step, as docs/security.md describes it: a token signed by the old key keeps working at every
// step until the old key is removed.
func TestKeyRotationKeepsOldTokensValidUntilTheOldKeyIsRemoved(t *testing.T) {
	t.Parallel()
	old, next := mustKey(t, "2026-01", 1), mustKey(t, "2026-04", 2)
	before := mustRing(t, old)
	step1 := mustRing(t, old, next) // new key verifies only
	step2 := mustRing(t, next, old) // new key signs, old verifies
	step3 := mustRing(t, next)      // old removed

	oldTok := mustIssue(t, before, staffClaims("tenant-a"))
	step1Tok := mustIssue(t, step1, staffClaims("tenant-a"))
	newTok := mustIssue(t, step2, staffClaims("tenant-a"))
	if step1.SignerID() != "2026-01" || step2.SignerID() != "2026-04" {
		t.Fatalf("signers: %s, %s", step1.SignerID(), step2.SignerID())
	}
	cases := []struct {
		name string
		ring *auth.KeyRing
		tok  string
		ok   bool
	}{
		{"old token, step 1", step1, oldTok, true},
		{"old token, step 2 (signed by the old key, still in the ring)", step2, oldTok, true},
		{"step-2 token on an instance still at step 1", step1, newTok, true},
		{"step-1 token, step 2", step2, step1Tok, true},
		{"new token, step 3", step3, newTok, true},
		{"old token, step 3", step3, oldTok, false},
		{"new token on an instance that never got the new key", before, newTok, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.ring.Verify(tc.tok, tenantA)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, auth.ErrUnknownKey) {
				t.Fatalf("rejected for the wrong reason: %v", err)
			}
		})
	}
}

func TestIssueRefusesClaimsThatBreakTheTokenShape(t *testing.T) {
	t.Parallel()
	r := mustRing(t, mustKey(t, "k1", 1))
	cases := []struct {
		name   string
		claims auth.Claims
		ttl    time.Duration
	}{
		{"console token with a tenant", auth.Claims{Issuer: issuer, Audience: auth.AudienceConsole, Subject: "op", TenantID: "tenant-a"}, 0},
		{"backoffice token without a tenant", auth.Claims{Issuer: issuer, Audience: auth.AudienceBackoffice, Subject: "u"}, 0},
		{"unknown audience", auth.Claims{Issuer: issuer, Audience: "admin", Subject: "u", TenantID: "tenant-a"}, 0},
		{"no subject", auth.Claims{Issuer: issuer, Audience: auth.AudiencePortal, TenantID: "tenant-a"}, 0},
		{"no issuer", auth.Claims{Audience: auth.AudiencePortal, Subject: "u", TenantID: "tenant-a"}, 0},
		{"api token with roles", auth.Claims{Issuer: issuer, Audience: auth.AudienceAPI, Subject: "k", TenantID: "tenant-a", Roles: []string{"admin"}}, 0},
		{"staff token with a scope", auth.Claims{Issuer: issuer, Audience: auth.AudienceBackoffice, Subject: "u", TenantID: "tenant-a", Scope: []string{"x"}}, 0},
		{"scope with a space", auth.Claims{Issuer: issuer, Audience: auth.AudienceAPI, Subject: "k", TenantID: "tenant-a", Scope: []string{"a b"}}, 0},
		{"ttl above the maximum", staffClaims("tenant-a"), auth.MaxAccessTTL + time.Second},
		{"negative ttl", staffClaims("tenant-a"), -time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tok, _, err := r.Issue(tc.claims, tc.ttl); err == nil {
				t.Fatalf("issued %s", tok)
			}
		})
	}
}

func TestIssuedTokenHeaderNamesSignerAndEdDSA(t *testing.T) {
	t.Parallel()
	r := mustRing(t, mustKey(t, "k2", 2), mustKey(t, "k1", 1))
	tok := mustIssue(t, r, staffClaims("tenant-a"))
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "EdDSA" || h["kid"] != "k2" {
		t.Fatalf("header %v", h)
	}
}

func FuzzVerify(f *testing.F) {
	r := mustRing(f, mustKey(f, "k1", 1))
	good := mustIssue(f, r, staffClaims("tenant-a"))
	f.Add(good)
	f.Add(mustIssue(f, r, operatorClaims()))
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Add("...")
	f.Add(`{"alg":"EdDSA"}.{}.`)
	f.Fuzz(func(t *testing.T, tok string) {
		for _, want := range []auth.Expectation{tenantA, tenantB, console} {
			c, err := r.Verify(tok, want)
			if err == nil && (c.TenantID != want.TenantID || c.Audience != want.Audience || c.Issuer != want.Issuer || c.Type != auth.TypeAccess) {
				t.Fatalf("accepted a token that does not meet %+v: %+v", want, c)
			}
			if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("error without ErrInvalidToken: %v", err)
			}
		}
	})
}

func TestSignInTicketsAndAccessTokensAreNotInterchangeable(t *testing.T) {
	t.Parallel()
	key, err := auth.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := auth.NewKeyRing(key)
	if err != nil {
		t.Fatal(err)
	}
	c := auth.Claims{Issuer: "https://brokerdesk.test", Audience: auth.AudienceBackoffice, Subject: "u1", TenantID: "t1"}
	want := auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: c.Issuer, TenantID: "t1"}
	ticket, _, err := ring.IssueTicket(c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := ring.Issue(c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.VerifyTicket(ticket, want); err != nil || got.Type != auth.TypeLoginTicket {
		t.Errorf("VerifyTicket(ticket) = %+v, %v", got, err)
	}
	if _, err := ring.Verify(ticket, want); !errors.Is(err, auth.ErrWrongType) {
		t.Errorf("Verify(ticket) = %v, want ErrWrongType", err)
	}
	if _, err := ring.VerifyTicket(access, want); !errors.Is(err, auth.ErrWrongType) {
		t.Errorf("VerifyTicket(access token) = %v, want ErrWrongType", err)
	}
	other := want
	other.TenantID = "t2"
	if _, err := ring.VerifyTicket(ticket, other); !errors.Is(err, auth.ErrWrongTenant) {
		t.Errorf("VerifyTicket on another tenant = %v, want ErrWrongTenant", err)
	}
}
