package auth_test

import (
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// rfcSecret is RFC 6238's SHA-1 key, "12345678901234567890", in base32.
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

func TestVerifyTOTPAgainstRFC6238Vectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		unix int64
		code string // the RFC's 8-digit value, last 6 digits
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	}
	for _, tc := range cases {
		at := time.Unix(tc.unix, 0)
		if got, err := auth.TOTPCode(rfcSecret, at); err != nil || got != tc.code {
			t.Errorf("TOTPCode at %d = %s, %v; want %s", tc.unix, got, err, tc.code)
		}
		step, err := auth.VerifyTOTP(rfcSecret, tc.code, at, 0)
		if err != nil || step != tc.unix/30 {
			t.Errorf("VerifyTOTP at %d = %d, %v; want step %d", tc.unix, step, err, tc.unix/30)
		}
	}
}

func TestVerifyTOTPWindowAndReplay(t *testing.T) {
	t.Parallel()
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_750_000_000, 0) // mid-step: 1_750_000_000 % 30 = 20
	step := auth.TOTPStep(at)
	code := func(d time.Duration) string {
		c, err := auth.TOTPCode(secret, at.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		name     string
		code     string
		lastStep int64
		step     int64
		err      error
	}{
		{"current step", code(0), 0, step, nil},
		{"previous step (typed late)", code(-30 * time.Second), 0, step - 1, nil},
		{"next step (phone clock ahead)", code(30 * time.Second), 0, step + 1, nil},
		{"two steps back", code(-60 * time.Second), 0, 0, auth.ErrTOTPInvalid},
		{"two steps ahead", code(60 * time.Second), 0, 0, auth.ErrTOTPInvalid},
		{"same step again is a replay", code(0), step, 0, auth.ErrTOTPReplayed},
		{"older step after a newer one is a replay", code(-30 * time.Second), step, 0, auth.ErrTOTPReplayed},
		{"next step after the current one", code(30 * time.Second), step, step + 1, nil},
		{"spaces are ignored", code(0)[:3] + " " + code(0)[3:], 0, step, nil},
		{"five digits", code(0)[:5], 0, 0, auth.ErrTOTPInvalid},
		{"seven digits", code(0) + "0", 0, 0, auth.ErrTOTPInvalid},
		{"letters", "abcdef", 0, 0, auth.ErrTOTPInvalid},
		{"empty", "", 0, 0, auth.ErrTOTPInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.VerifyTOTP(secret, tc.code, at, tc.lastStep)
			if got != tc.step || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("VerifyTOTP = %d, %v; want %d, %v", got, err, tc.step, tc.err)
			}
		})
	}
}

func TestVerifyTOTPRefusesAWrongCode(t *testing.T) {
	t.Parallel()
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_750_000_000, 0)
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, _ := auth.TOTPCode(secret, at.Add(d))
		valid[c] = true
	}
	refused := 0
	for _, c := range []string{"000000", "123456", "999999", "111111", "654321"} {
		if valid[c] {
			continue // one in ~300 000: this code happens to be right
		}
		if _, err := auth.VerifyTOTP(secret, c, at, 0); !errors.Is(err, auth.ErrTOTPInvalid) {
			t.Errorf("%s: %v", c, err)
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("no wrong code was tried")
	}
}

func TestNewTOTPSecretIs20BytesBase32WithoutPadding(t *testing.T) {
	t.Parallel()
	s, err := auth.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(raw) != 20 || len(s) != 32 || strings.Contains(s, "=") {
		t.Fatalf("secret %q: %d bytes, %v", s, len(raw), err)
	}
	other, _ := auth.NewTOTPSecret()
	if other == s {
		t.Fatal("two secrets are equal")
	}
}

func TestTOTPSecretsAreReadAsPeopleWriteThem(t *testing.T) {
	t.Parallel()
	at := time.Unix(59, 0)
	for _, s := range []string{rfcSecret, strings.ToLower(rfcSecret), strings.TrimRight(rfcSecret, "="), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"} {
		if c, err := auth.TOTPCode(s, at); err != nil || c != "287082" {
			t.Errorf("secret %q: %s, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "not base32!", "GEZDGNBV"} { // the last is only 5 bytes
		if _, err := auth.VerifyTOTP(s, "287082", at, 0); !errors.Is(err, auth.ErrTOTPSecret) {
			t.Errorf("secret %q: %v", s, err)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	secret, _ := auth.NewTOTPSecret()
	uri, err := auth.TOTPURI("Demo Brokerage", "jane@demo.example", secret)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/Demo%20Brokerage:jane@demo.example?") || strings.Contains(uri, "+") {
		t.Fatalf("uri %s", uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/Demo Brokerage:jane@demo.example" || q.Get("secret") != secret || q.Get("issuer") != "Demo Brokerage" ||
		q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("parsed back: path %q query %v", u.Path, q)
	}
	for _, bad := range [][3]string{{"", "a@b", secret}, {"Demo", "", secret}, {"A:B", "a@b", secret}, {"Demo", "a:b", secret}, {"Demo", "a@b", "!!"}} {
		if uri, err := auth.TOTPURI(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("TOTPURI%q = %s", bad, uri)
		}
	}
}
