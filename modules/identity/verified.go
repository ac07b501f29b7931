package identity

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// verifiedTokens remembers access tokens that passed auth.KeyRing.Verify, so a client sending the same token on
// every request pays the Ed25519 verification once (it was about a third of the CPU of an authenticated GET). An
// access token cannot change and cannot be revoked, so the remembered answer stays right until the token expires,
// which a hit checks (with the same leeway Verify allows). The key is the SHA-256 of the token together with the
// expectation it was verified against: a token verified for one tenant or audience is not known for another. The
// cache holds at most maxVerified entries and starts over when full: a bound, not a policy.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[verifiedKey]auth.Claims
}

const maxVerified = 20_000

type verifiedKey struct {
	token [sha256.Size]byte
	want  auth.Expectation
}

func (v *verifiedTokens) get(token string, want auth.Expectation, now time.Time) (auth.Claims, bool) {
	k := verifiedKey{sha256.Sum256([]byte(token)), want}
	v.mu.RLock()
	c, ok := v.m[k]
	v.mu.RUnlock()
	if !ok || !now.Before(c.ExpiresAt.Add(auth.Leeway)) {
		return auth.Claims{}, false
	}
	return c, true
}

func (v *verifiedTokens) put(token string, want auth.Expectation, c auth.Claims) {
	k := verifiedKey{sha256.Sum256([]byte(token)), want}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[verifiedKey]auth.Claims)
	}
	v.m[k] = c
}
