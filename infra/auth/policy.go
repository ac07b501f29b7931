package auth

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Password policy limits, in characters (Unicode code points).
const (
	PasswordMinLength = 12
	PasswordMaxLength = 128
)

// Codes of PasswordProblem, stable for translations and API clients.
const (
	ProblemInvalidText = "invalid_text"
	ProblemTooShort    = "too_short"
	ProblemTooLong     = "too_long"
	ProblemOneClass    = "one_class"
	ProblemCommon      = "common"
)

// PasswordProblem is one reason a password was refused, worded to sit under the password field of a form ("Password
// must ..."). It never quotes the password.
type PasswordProblem struct {
	Code    string
	Message string
}

// PasswordError lists every problem with a password, so a form can show them all at once.
type PasswordError struct {
	Problems []PasswordProblem
}

func (e *PasswordError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return "password " + strings.Join(msgs, "; ")
}

// CheckPassword applies the password policy: 12 to 128 characters of valid text, not all of one kind (lowercase,
// uppercase, digits, everything else), and not a well-known password or a well-known one dressed up with capitals,
// look-alike digits and a numeric or symbol suffix. It returns nil or a *PasswordError.
//
// The policy follows NIST SP 800-63B rather than composition rules: length is what counts, and a blocklist beats
// "one uppercase, one digit, one symbol", which only teaches people to write Password1!.
func CheckPassword(password string) error {
	if !utf8.ValidString(password) {
		return &PasswordError{Problems: []PasswordProblem{{ProblemInvalidText, "must be valid text"}}}
	}
	var probs []PasswordProblem
	n := utf8.RuneCountInString(password)
	if n < PasswordMinLength {
		probs = append(probs, PasswordProblem{ProblemTooShort, "must be at least 12 characters long"})
	}
	if n > PasswordMaxLength {
		probs = append(probs, PasswordProblem{ProblemTooLong, "must be at most 128 characters long"})
	}
	if n > 0 && oneClass(password) {
		probs = append(probs, PasswordProblem{ProblemOneClass, "must not be only lowercase letters, only uppercase letters, only digits or only symbols"})
	}
	if isCommonPassword(password) {
		probs = append(probs, PasswordProblem{ProblemCommon, "is too common; choose one that is not on lists of popular passwords"})
	}
	if len(probs) == 0 {
		return nil
	}
	return &PasswordError{Problems: probs}
}

// oneClass reports whether every character falls into the same one of four classes.
func oneClass(s string) bool {
	class := func(r rune) int {
		switch {
		case unicode.IsLower(r):
			return 0
		case unicode.IsUpper(r):
			return 1
		case unicode.IsDigit(r):
			return 2
		}
		return 3
	}
	first := -1
	for _, r := range s {
		c := class(r)
		if first == -1 {
			first = c
		} else if c != first {
			return false
		}
	}
	return true
}

//go:embed common_passwords.txt
var commonPasswordsFile string

// commonPasswords is the embedded list as a set, built once on first use. It is a constant table, not state.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{})
	for _, line := range strings.Split(commonPasswordsFile, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
})

// isCommonPassword looks the password up as typed (case-folded), and its "base word": leading and trailing runs of
// digits and symbols removed and look-alike characters mapped back to letters, so Passw0rd2024! counts as password.
func isCommonPassword(pw string) bool {
	set := commonPasswords()
	lower := strings.ToLower(pw)
	if _, ok := set[lower]; ok {
		return true
	}
	base := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	base = strings.Map(unLeet, base)
	if len(base) < 4 { // "ab!1234567890" is not "ab"; a tiny base says nothing
		return false
	}
	_, ok := set[base]
	return ok
}

func unLeet(r rune) rune {
	switch r {
	case '0':
		return 'o'
	case '1', '!':
		return 'i'
	case '3':
		return 'e'
	case '4', '@':
		return 'a'
	case '5', '$':
		return 's'
	case '7':
		return 't'
	}
	return r
}
