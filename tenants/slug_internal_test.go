package tenants

import (
	"regexp"
	"testing"
)

// FuzzSlugShapedAgreesWithItsPattern: the hand-written check accepts exactly what its documented pattern accepts.
func FuzzSlugShapedAgreesWithItsPattern(f *testing.F) {
	pattern := regexp.MustCompile(`^[a-z][a-z0-9-]{1,38}[a-z0-9]$`)
	for _, s := range []string{"", "ab", "abc", "a-c", "ab-", "1ab", "Abc", "acme-fx", "acme--fx", "a\x00c", "é-broker",
		"abcdefghijklmnopqrstuvwxyz0123456789abcd", "abcdefghijklmnopqrstuvwxyz0123456789abcde"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := slugShaped(s), pattern.MatchString(s); got != want {
			t.Fatalf("slugShaped(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
