package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP as RFC 6238 with the parameters every authenticator app supports: HMAC-SHA1, 30-second steps, 6 digits.
// SHA-1 is fine here: HOTP needs HMAC's pseudo-randomness, which SHA-1 still provides, and apps that claim SHA-256
// support too often get it wrong.
const (
	TOTPPeriod     = 30 * time.Second
	TOTPDigits     = 6
	totpSecretSize = 20 // 160 bits, RFC 4226's recommended HMAC-SHA1 key length
	// totpWindow accepts the previous and the next step as well as the current one: a code typed in the last
	// seconds of its step, or a phone clock a little ahead, still works. Wider windows only help guessers.
	totpWindow = 1
)

// Errors of TOTP verification. ErrTOTPReplayed means the code was right but its step was already used: refuse it
// like a wrong code (an eavesdropper may be replaying it), but it is worth its own audit entry.
var (
	ErrTOTPInvalid  = errors.New("auth: wrong or expired one-time code")
	ErrTOTPReplayed = errors.New("auth: one-time code already used")
	ErrTOTPSecret   = errors.New("auth: malformed TOTP secret")
)

// totpB32 is how secrets are written in otpauth URIs and stored: RFC 4648 base32, uppercase, no padding.
var totpB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret makes a fresh 20-byte TOTP secret, base32 without padding (32 characters), ready for an otpauth URI.
// Store it encrypted: unlike a password hash it is the key itself.
func NewTOTPSecret() (string, error) {
	b := make([]byte, totpSecretSize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: new TOTP secret: %w", err)
	}
	return totpB32.EncodeToString(b), nil
}

// decodeTOTPSecret accepts what apps and people write: any case, with spaces, with or without padding.
func decodeTOTPSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	key, err := totpB32.DecodeString(s)
	if err != nil || len(key) < 10 { // RFC 4226 requires at least 128 bits; 10 bytes admits old 80-bit secrets
		return nil, ErrTOTPSecret
	}
	return key, nil
}

// TOTPURI is the otpauth:// URI an authenticator app reads from a QR code. issuer is the tenant's name as the user
// knows it (the app shows it next to the code), account the user's email. Neither may contain a colon, the label's
// separator, which some apps cannot unescape.
func TOTPURI(issuer, account, secret string) (string, error) {
	if issuer == "" || account == "" || strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return "", fmt.Errorf("auth: TOTP URI: issuer and account must be non-empty and contain no colon")
	}
	if _, err := decodeTOTPSecret(secret); err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(TOTPDigits))
	q.Set("period", fmt.Sprint(int(TOTPPeriod/time.Second)))
	// Spaces as %20, not '+': several authenticator apps show a tenant called "Demo Brokerage" as "Demo+Brokerage".
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20")}
	return u.String(), nil
}

// TOTPStep is the time step t falls in: the counter of RFC 6238.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode is the code for secret at t: what the user's app shows. The server needs it only in tests and tools.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return "", err
	}
	return hotp(key, uint64(TOTPStep(t)), TOTPDigits), nil
}

// VerifyTOTP checks code against secret at now, within one step either side, and returns the step it matched. A
// step at or before lastStep is refused with ErrTOTPReplayed: store the returned step as the user's new lastStep in
// the same transaction that completes the login (and use 0 before the first success), so an observed code cannot be
// used twice, not even within its own 30 seconds. Spaces in code are ignored.
//
// All candidate steps are computed and compared in constant time, so timing does not reveal which step (if any)
// matched.
func VerifyTOTP(secret, code string, now time.Time, lastStep int64) (int64, error) {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return 0, err
	}
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != TOTPDigits {
		return 0, ErrTOTPInvalid
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, ErrTOTPInvalid
		}
	}
	cur := TOTPStep(now)
	var matched int64
	found := 0
	for s := cur - totpWindow; s <= cur+totpWindow; s++ {
		eq := subtle.ConstantTimeCompare([]byte(hotp(key, uint64(s), TOTPDigits)), []byte(code))
		// Prefer the latest matching step (collisions between neighbouring steps happen once in 10^6), so the
		// replay bound moves as far forward as the code allows.
		matched = int64(subtle.ConstantTimeSelect(eq, int(s), int(matched)))
		found |= eq
	}
	if found != 1 {
		return 0, ErrTOTPInvalid
	}
	if matched <= lastStep {
		return 0, ErrTOTPReplayed
	}
	return matched, nil
}

// hotp is RFC 4226: HMAC-SHA1 of the big-endian counter, dynamic truncation to 31 bits, the last digits in decimal.
func hotp(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}
