package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// BenchmarkVerify is the token check every authenticated request pays: parse, Ed25519 verify, claim checks.
func BenchmarkVerify(b *testing.B) {
	r := mustRing(b, mustKey(b, "k2", 2), mustKey(b, "k1", 1))
	tok := mustIssue(b, r, staffClaims("tenant-a"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Verify(tok, tenantA); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	r := mustRing(b, mustKey(b, "k1", 1))
	c := staffClaims("tenant-a")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Issue(c, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordHash is the cost of a login's password check with DefaultParams (hash and verify cost the
// same). It is meant to be slow; the target on the 2-core reference machine is 50-150 ms.
func BenchmarkPasswordHash(b *testing.B) {
	h, err := auth.NewHasher(auth.DefaultParams(), 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Hash", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
	})
	b.Run("Verify", func(b *testing.B) {
		for b.Loop() {
			if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
	})
}

func BenchmarkTOTPVerify(b *testing.B) {
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		b.Fatal(err)
	}
	at := time.Unix(1_750_000_000, 0)
	code, err := auth.TOTPCode(secret, at)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.VerifyTOTP(secret, code, at, 0); err != nil {
			b.Fatal(err)
		}
	}
}
