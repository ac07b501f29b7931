package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
)

// Recovery codes replace the second factor when the phone is lost. Each has 80 random bits, written as four groups
// of four characters of Crockford's base32 (digits and lowercase letters without i, l, o and u), e.g.
// "k7m2-x9qd-4hfp-w3tc"; typed look-alikes are read as what they resemble (o as 0, i and l as 1). With
// that much entropy a SHA-256 hash is safe to store (like refresh tokens): there is nothing to brute-force.
//
// The contract for the store: show the codes once, at enrolment; keep only HashRecoveryCode of each; on use, find the
// matching index with MatchRecoveryCode and delete that one row in the same transaction that completes the login
// (DELETE ... RETURNING, checking one row went), so each code works once even under concurrent attempts.
const (
	RecoveryCodeCount = 10
	recoveryGroups    = 4
	recoveryGroupLen  = 4
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz" // 32 symbols: 5 bits each
)

// GenerateRecoveryCodes makes RecoveryCodeCount fresh codes for display and their hashes for storage, index for index.
func GenerateRecoveryCodes() (codes []string, hashes []TokenHash, err error) {
	codes = make([]string, RecoveryCodeCount)
	hashes = make([]TokenHash, RecoveryCodeCount)
	buf := make([]byte, recoveryGroups*recoveryGroupLen)
	for i := range codes {
		if _, err := rand.Read(buf); err != nil {
			return nil, nil, fmt.Errorf("auth: recovery codes: %w", err)
		}
		var b strings.Builder
		for j, c := range buf {
			if j > 0 && j%recoveryGroupLen == 0 {
				b.WriteByte('-')
			}
			// 256 is a multiple of 32, so c%32 is uniform.
			b.WriteByte(recoveryAlphabet[c%32])
		}
		codes[i] = b.String()
		hashes[i] = HashRecoveryCode(codes[i])
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode forgives what people do when typing a code from paper: case, dashes, spaces, look-alikes.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		switch r {
		case '-', ' ', '\t':
			return -1
		case 'o':
			return '0'
		case 'i', 'l':
			return '1'
		}
		return r
	}, code)
}

// HashRecoveryCode is the stored form of a recovery code, after the same normalisation a typed code gets.
func HashRecoveryCode(code string) TokenHash { return HashToken(normalizeRecoveryCode(code)) }

// MatchRecoveryCode returns the index of the stored hash code matches, or -1. It compares against every hash in
// constant time, so neither the result nor the position of a match shows in the timing.
func MatchRecoveryCode(code string, hashes []TokenHash) int {
	h := HashRecoveryCode(code)
	found := -1
	for i := range hashes {
		eq := subtle.ConstantTimeCompare(h[:], hashes[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}
