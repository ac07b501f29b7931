package simulator

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Passwords are stored as PBKDF2-SHA256 with a random salt, the cost written beside the hash so a later change of
// Options.PasswordIterations still verifies old hashes. Only the standard library: x/crypto is not in go.mod.
const passwordScheme = "pbkdf2-sha256"

func hashPassword(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", passwordScheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func verifyPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations < 1 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iterations, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// passwordProblem applies MT5's rule (8 to 16 characters from four classes: lower, upper, digit, other), the
// strictest of the platforms we connect to, so a password the simulator accepts is accepted everywhere.
func passwordProblem(p string) string {
	n := len([]rune(p))
	if n < 8 || n > 16 {
		return fmt.Sprintf("password must be 8 to 16 characters, got %d", n)
	}
	var lower, upper, digit, other bool
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	if !lower || !upper || !digit || !other {
		return "password needs a lower-case letter, an upper-case letter, a digit and another character"
	}
	return ""
}
