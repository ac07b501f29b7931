package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Refresh tokens are opaque: 32 random bytes, base64url without padding (43 characters). Only their SHA-256 is
// stored, so a copy of the table lets nobody sign in; a plain hash (not argon2) is enough because the token has
// 256 bits of entropy and cannot be guessed, only stolen.
//
// The contract the identity module's store implements (docs/security.md, "Refresh tokens"):
//
//   - A login starts a family (NewFamilyID) and stores the first token's hash with the family, subject, tenant,
//     audience, its own expiry (idle lifetime) and the family's absolute expiry.
//   - Every refresh presents a token; the store looks it up by HashToken, asks Rotate what to do, and in ONE
//     transaction applies the decision: for RotateIssue it marks the presented row spent (UPDATE ... WHERE spent_at IS
//     NULL, checking one row changed) and inserts the successor in the same family; for RotateRevokeFamily it marks
//     the whole family revoked; for RotateReject it changes nothing.
//   - Logging out revokes the family. Revocation is permanent; a revoked family never issues again.
//
// Reuse of a spent token means two parties hold the same token: the legitimate client and a thief. Which one is
// presenting it cannot be known, so the whole family dies and both must sign in again.
const refreshTokenBytes = 32

// Refresh-token lifetimes: the idle lifetime is renewed by each rotation, the family's absolute lifetime is not, so
// a stolen and continuously refreshed token still dies.
const (
	RefreshIdleTTL     = 7 * 24 * time.Hour
	RefreshAbsoluteTTL = 30 * 24 * time.Hour
)

// TokenHash is the stored form of a refresh token (or of any other high-entropy opaque secret, e.g. an API key).
type TokenHash [sha256.Size]byte

// NewRefreshToken makes a fresh opaque refresh token. Give the token to the client and store HashToken(token).
func NewRefreshToken() (string, error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: new refresh token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the storage key of an opaque token.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// NewFamilyID makes the id shared by every refresh token descending from one login.
func NewFamilyID() (string, error) {
	id, err := randomID()
	if err != nil {
		return "", fmt.Errorf("auth: new refresh family: %w", err)
	}
	return id, nil
}

// StoredRefresh is what the store knows about one refresh token, found by the presented token's hash.
type StoredRefresh struct {
	Hash            TokenHash
	FamilyID        string
	Subject         string
	TenantID        string // empty for operators, as in access tokens
	Audience        Audience
	ExpiresAt       time.Time // idle expiry of this token
	FamilyExpiresAt time.Time // absolute expiry of the family
	SpentAt         time.Time // zero while unused
	FamilyRevokedAt time.Time // zero while the family is alive
}

// RotateAction is what the store must do with a presented refresh token.
type RotateAction int

// The actions. The zero value rejects, so a Decision nobody filled in fails closed.
const (
	RotateReject       RotateAction = iota // refuse; change nothing
	RotateIssue                            // mark the presented token spent, issue a successor in the same family
	RotateRevokeFamily                     // refuse and revoke every token of the family
)

// Decision is Rotate's answer. Reason is nil for RotateIssue and one of the ErrRefresh* sentinels otherwise; the
// client gets 401 for every refusal, the reason is for logs and the audit trail.
type Decision struct {
	Action RotateAction
	Reason error
	// NextExpiresAt is the successor's expiry for RotateIssue: the idle lifetime from now, never past the family's
	// absolute expiry.
	NextExpiresAt time.Time
}

// Reasons for refusing a refresh token.
var (
	ErrRefreshUnknown  = errors.New("auth: unknown refresh token")
	ErrRefreshReused   = errors.New("auth: refresh token reused; family revoked")
	ErrRefreshRevoked  = errors.New("auth: refresh token family revoked")
	ErrRefreshExpired  = errors.New("auth: refresh token expired")
	ErrRefreshMismatch = errors.New("auth: refresh token presented to the wrong tenant or audience")
)

// RefreshExpectation is where the token was presented: the host's audience and tenant, as for access tokens.
type RefreshExpectation struct {
	Audience Audience
	TenantID string
}

// Rotate decides what happens to a presented refresh token. stored is the row found by HashToken(presented), nil
// when none was. The order of the checks is the rule:
//
//  1. unknown token: reject;
//  2. family already revoked: reject (a revoked family stays dead; it is not revoked again);
//  3. token already spent: revoke the family, even if the token has since expired, because a spent token coming
//     back is the theft signal whatever its age;
//  4. wrong tenant or audience: reject without revoking, as a misrouted client is not evidence of theft;
//  5. token or family expired: reject;
//  6. otherwise issue a successor.
func Rotate(presented string, stored *StoredRefresh, want RefreshExpectation, now time.Time) Decision {
	if stored == nil {
		return Decision{Action: RotateReject, Reason: ErrRefreshUnknown}
	}
	// The store found the row by this hash; comparing again costs nothing and keeps a store bug (a lookup by
	// prefix, a wrong index) from handing out someone else's session.
	h := HashToken(presented)
	if subtle.ConstantTimeCompare(h[:], stored.Hash[:]) != 1 {
		return Decision{Action: RotateReject, Reason: ErrRefreshUnknown}
	}
	switch {
	case !stored.FamilyRevokedAt.IsZero():
		return Decision{Action: RotateReject, Reason: ErrRefreshRevoked}
	case !stored.SpentAt.IsZero():
		return Decision{Action: RotateRevokeFamily, Reason: ErrRefreshReused}
	case stored.Audience != want.Audience || stored.TenantID != want.TenantID:
		return Decision{Action: RotateReject, Reason: ErrRefreshMismatch}
	case !now.Before(stored.ExpiresAt) || !now.Before(stored.FamilyExpiresAt):
		return Decision{Action: RotateReject, Reason: ErrRefreshExpired}
	}
	next := now.Add(RefreshIdleTTL)
	if next.After(stored.FamilyExpiresAt) {
		next = stored.FamilyExpiresAt
	}
	return Decision{Action: RotateIssue, NextExpiresAt: next}
}
