package auth_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func TestNewRefreshTokenIs32RandomBytesBase64URL(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, err := auth.NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil || len(raw) != 32 || len(tok) != 43 {
			t.Fatalf("token %q: %d bytes, %v", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("token repeated: %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashTokenIsSHA256AndDistinguishesTokens(t *testing.T) {
	t.Parallel()
	// SHA-256("abc") from FIPS 180-2, so the stored form stays computable by any other tool.
	want := "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
	if got := base64.RawURLEncoding.EncodeToString(func() []byte { h := auth.HashToken("abc"); return h[:] }()); got != want {
		t.Fatalf("HashToken(abc) = %s, want %s", got, want)
	}
	if auth.HashToken("a") == auth.HashToken("b") {
		t.Fatal("different tokens, same hash")
	}
}

func TestNewFamilyIDIsUnique(t *testing.T) {
	t.Parallel()
	a, err := auth.NewFamilyID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.NewFamilyID()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) != 22 {
		t.Fatalf("family ids %q, %q", a, b)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	const presented = "the-presented-token"
	here := auth.RefreshExpectation{Audience: auth.AudiencePortal, TenantID: "tenant-a"}
	live := func() *auth.StoredRefresh {
		return &auth.StoredRefresh{
			Hash: auth.HashToken(presented), FamilyID: "fam-1", Subject: "client-1", TenantID: "tenant-a", Audience: auth.AudiencePortal,
			ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(20 * 24 * time.Hour),
		}
	}
	edit := func(f func(*auth.StoredRefresh)) *auth.StoredRefresh { s := live(); f(s); return s }

	cases := []struct {
		name      string
		presented string
		stored    *auth.StoredRefresh
		want      auth.RefreshExpectation
		action    auth.RotateAction
		reason    error
		next      time.Time
	}{
		{name: "live token rotates; successor gets the idle lifetime", stored: live(), action: auth.RotateIssue, next: now.Add(auth.RefreshIdleTTL)},
		{name: "successor never outlives the family", action: auth.RotateIssue, next: now.Add(2 * 24 * time.Hour),
			stored: edit(func(s *auth.StoredRefresh) { s.FamilyExpiresAt = now.Add(2 * 24 * time.Hour) })},
		{name: "unknown token is rejected", stored: nil, action: auth.RotateReject, reason: auth.ErrRefreshUnknown},
		{name: "row whose hash is not the presented token's is rejected", presented: "another-token", stored: live(),
			action: auth.RotateReject, reason: auth.ErrRefreshUnknown},
		{name: "reuse of a spent token revokes the family", action: auth.RotateRevokeFamily, reason: auth.ErrRefreshReused,
			stored: edit(func(s *auth.StoredRefresh) { s.SpentAt = now.Add(-time.Minute) })},
		{name: "reuse of a spent and expired token still revokes the family", action: auth.RotateRevokeFamily, reason: auth.ErrRefreshReused,
			stored: edit(func(s *auth.StoredRefresh) { s.SpentAt = now.Add(-48 * time.Hour); s.ExpiresAt = now.Add(-time.Hour) })},
		{name: "reuse on the wrong tenant still revokes the family", action: auth.RotateRevokeFamily, reason: auth.ErrRefreshReused,
			want:   auth.RefreshExpectation{Audience: auth.AudiencePortal, TenantID: "tenant-b"},
			stored: edit(func(s *auth.StoredRefresh) { s.SpentAt = now.Add(-time.Minute) })},
		{name: "token of a revoked family is rejected", action: auth.RotateReject, reason: auth.ErrRefreshRevoked,
			stored: edit(func(s *auth.StoredRefresh) { s.FamilyRevokedAt = now.Add(-time.Minute) })},
		{name: "spent token of a revoked family is rejected, not revoked again", action: auth.RotateReject, reason: auth.ErrRefreshRevoked,
			stored: edit(func(s *auth.StoredRefresh) {
				s.FamilyRevokedAt = now.Add(-time.Minute)
				s.SpentAt = now.Add(-time.Hour)
			})},
		{name: "idle-expired token is rejected", action: auth.RotateReject, reason: auth.ErrRefreshExpired,
			stored: edit(func(s *auth.StoredRefresh) { s.ExpiresAt = now })},
		{name: "token of an expired family is rejected", action: auth.RotateReject, reason: auth.ErrRefreshExpired,
			stored: edit(func(s *auth.StoredRefresh) { s.FamilyExpiresAt = now.Add(-time.Second) })},
		{name: "token of another tenant is rejected", action: auth.RotateReject, reason: auth.ErrRefreshMismatch, stored: live(),
			want: auth.RefreshExpectation{Audience: auth.AudiencePortal, TenantID: "tenant-b"}},
		{name: "portal token at the back office is rejected", action: auth.RotateReject, reason: auth.ErrRefreshMismatch, stored: live(),
			want: auth.RefreshExpectation{Audience: auth.AudienceBackoffice, TenantID: "tenant-a"}},
		{name: "operator token on a tenant host is rejected", action: auth.RotateReject, reason: auth.ErrRefreshMismatch,
			stored: edit(func(s *auth.StoredRefresh) { s.Audience, s.TenantID = auth.AudienceConsole, "" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, want := presented, here
			if tc.presented != "" {
				p = tc.presented
			}
			if tc.want != (auth.RefreshExpectation{}) {
				want = tc.want
			}
			d := auth.Rotate(p, tc.stored, want, now)
			if d.Action != tc.action || !errors.Is(d.Reason, tc.reason) || (tc.reason == nil) != (d.Reason == nil) || !d.NextExpiresAt.Equal(tc.next) {
				t.Fatalf("got %+v, want action %v reason %v next %v", d, tc.action, tc.reason, tc.next)
			}
		})
	}
}

// A Decision nobody filled in must not let anyone in.
func TestZeroDecisionRejects(t *testing.T) {
	t.Parallel()
	if (auth.Decision{}).Action != auth.RotateReject {
		t.Fatal("zero Decision does not reject")
	}
}
