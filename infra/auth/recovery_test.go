package auth_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func TestRecoveryCodesMatchOnceEachAndOnlyThemselves(t *testing.T) {
	t.Parallel()
	codes, hashes, err := auth.GenerateRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
		if got := auth.MatchRecoveryCode(c, hashes); got != i {
			t.Fatalf("code %d matched index %d", i, got)
		}
	}
	// Single use is the store's job: once it deletes the matched hash, the code matches nothing.
	rest := append(hashes[:3:3], hashes[4:]...)
	if got := auth.MatchRecoveryCode(codes[3], rest); got != -1 {
		t.Fatalf("used code still matches index %d", got)
	}
}

func TestRecoveryCodeForgivesTyping(t *testing.T) {
	t.Parallel()
	const code = "k7m2-x9qd-4hfp-w3t1"
	hashes := []auth.TokenHash{auth.HashRecoveryCode("aaaa-aaaa-aaaa-aaaa"), auth.HashRecoveryCode(code)}
	cases := []struct {
		typed string
		want  int
	}{
		{code, 1},
		{strings.ToUpper(code), 1},
		{"k7m2x9qd4hfpw3t1", 1},
		{"k7m2 x9qd 4hfp w3tl", 1}, // l read as 1
		{"K7M2-X9QD-4HFP-W3TI", 1}, // I read as 1
		{"k7m2-x9qd-4hfp-w3t2", -1},
		{"k7m2-x9qd-4hfp", -1},
		{"", -1},
	}
	for _, tc := range cases {
		if got := auth.MatchRecoveryCode(tc.typed, hashes); got != tc.want {
			t.Errorf("%q matched %d, want %d", tc.typed, got, tc.want)
		}
	}
	if got := auth.MatchRecoveryCode(code, nil); got != -1 {
		t.Errorf("matched %d against no hashes", got)
	}
}
