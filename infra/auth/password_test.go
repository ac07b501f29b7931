package auth_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// cheap are the smallest parameters the bounds allow: the behaviour under test does not depend on cost, and the
// suite runs on two shared cores.
var cheap = auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHasher(t testing.TB, p auth.Params) *auth.Hasher {
	t.Helper()
	h, err := auth.NewHasher(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerifiesItsPasswordOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := mustHasher(t, cheap)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("not the PHC form: %s", enc)
	}
	again, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	cases := []struct {
		password string
		ok       bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{"correct horse battery staple ", false},
		{"", false},
		{strings.Repeat("x", auth.MaxPasswordBytes+1), false},
	}
	for _, tc := range cases {
		ok, rehash, err := h.Verify(ctx, tc.password, enc)
		if err != nil || ok != tc.ok || rehash {
			t.Errorf("Verify(%.20q) = %v, %v, %v; want %v", tc.password, ok, rehash, err, tc.ok)
		}
	}
}

func TestVerifySaysWhenParametersChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := mustHasher(t, cheap)
	enc, err := old.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	raised := cheap
	raised.Time = 2
	cases := []struct {
		name   string
		params auth.Params
		rehash bool
	}{
		{"same parameters", cheap, false},
		{"more passes", raised, true},
		{"more memory", auth.Params{Memory: 16 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"longer salt", auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := mustHasher(t, tc.params).Verify(ctx, "correct horse battery staple", enc)
			if err != nil || !ok || rehash != tc.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v", ok, rehash, err, tc.rehash)
			}
		})
	}
}

func TestVerifyRefusesMalformedStoredHashes(t *testing.T) {
	t.Parallel()
	h := mustHasher(t, cheap)
	_, _, err := h.Verify(context.Background(), "x", "$2a$10$bcrypt.hashes.are.not.ours")
	if !errors.Is(err, auth.ErrMalformedHash) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewHasherRefusesUnsafeParameters(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		p    auth.Params
		n    int
	}{
		{"memory below 8 MiB", auth.Params{Memory: 4 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"memory above 1 GiB", auth.Params{Memory: 2 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"no passes", auth.Params{Memory: 8 << 10, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"no lanes", auth.Params{Memory: 8 << 10, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, 1},
		{"short salt", auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, 1},
		{"short key", auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, 1},
		{"no concurrency", cheap, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.NewHasher(tc.p, tc.n); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := auth.NewHasher(auth.DefaultParams(), 1); err != nil {
		t.Fatalf("default parameters refused: %v", err)
	}
}

func TestParsePHC(t *testing.T) {
	t.Parallel()
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	good := "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + key
	p, err := auth.ParsePHC(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Params != (auth.Params{Memory: 65536, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 29}) || string(p.Salt) != "saltsaltsaltsalt" || p.String() != good {
		t.Fatalf("parsed %+v, re-encoded %s", p, p.String())
	}
	bad := []struct{ name, s string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=2$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=65536,t=3,p=2$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=65536,t=3,p=2$" + salt + "$" + key},
		{"no version", "$argon2id$m=65536,t=3,p=2$" + salt + "$" + key},
		{"parameters reordered", "$argon2id$v=19$t=3,m=65536,p=2$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=065536,t=3,p=2$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+65536,t=3,p=2$" + salt + "$" + key},
		{"extra parameter", "$argon2id$v=19$m=65536,t=3,p=2,keyid=x$" + salt + "$" + key},
		{"memory of 4 TiB", "$argon2id$v=19$m=4294967295,t=3,p=2$" + salt + "$" + key},
		{"a thousand passes", "$argon2id$v=19$m=65536,t=1000,p=2$" + salt + "$" + key},
		{"300 lanes", "$argon2id$v=19$m=65536,t=3,p=300$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "==$" + key},
		{"url-safe base64", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + strings.ReplaceAll(key, "a", "_")},
		{"short salt", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$" + key},
		{"line break inside the salt", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNh\r\nbHRzYWx0c2FsdA$" + key},
		{"no key", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$"},
		{"trailing field", good + "$x"},
		{"no leading dollar", good[1:]},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if p, err := auth.ParsePHC(tc.s); !errors.Is(err, auth.ErrMalformedHash) {
				t.Fatalf("ParsePHC = %+v, %v", p, err)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=8192,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := auth.ParsePHC(s)
		if err != nil {
			if !errors.Is(err, auth.ErrMalformedHash) {
				t.Fatalf("error without ErrMalformedHash: %v", err)
			}
			return
		}
		// Whatever parses has exactly one spelling and stays within the bounds NewHasher accepts.
		if p.String() != s {
			t.Fatalf("%q parsed but re-encodes as %q", s, p.String())
		}
		if _, err := auth.NewHasher(p.Params, 1); err != nil {
			t.Fatalf("%q parsed to parameters out of bounds: %v", s, err)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		password string
		problems []string
	}{
		{"long passphrase with spaces", "purple otter Tuesday", nil},
		{"mixed twelve", "k7#mQ2vx!pL9", nil},
		{"twelve lowercase and digits", "rivertank482", nil},
		{"non-ASCII letters and digits", "Žluťoučký kůň 7", nil},
		{"eleven characters", "k7#mQ2vx!pL", []string{auth.ProblemTooShort}},
		{"empty", "", []string{auth.ProblemTooShort}},
		{"twelve characters counted as runes, not bytes", "ääääääääää1B", nil},
		{"129 characters", strings.Repeat("aB3", 43), []string{auth.ProblemTooLong}},
		{"128 characters", strings.Repeat("aB3", 42) + "xy", nil},
		{"all lowercase", "correcthorsebatterystaple", []string{auth.ProblemOneClass}},
		{"all uppercase", "CORRECTHORSEBATTERY", []string{auth.ProblemOneClass}},
		{"all digits", "739184620573", []string{auth.ProblemOneClass}},
		{"all symbols", "!@#$%^&*()_+-=", []string{auth.ProblemOneClass}},
		{"short and one class", "abc", []string{auth.ProblemTooShort, auth.ProblemOneClass}},
		{"common, whole", "1qaz2wsx3edc", []string{auth.ProblemCommon}},
		{"common base with year and symbol", "Password2024!", []string{auth.ProblemCommon}},
		{"common base in look-alikes", "P@ssw0rd12345", []string{auth.ProblemCommon}},
		{"common base with leading digits", "1234Qwertyuiop", []string{auth.ProblemCommon}},
		{"product name with digits", "BrokerDesk2026", []string{auth.ProblemCommon}},
		{"common word inside a longer phrase is fine", "password of my otter 7", nil},
		{"invalid UTF-8", "abcdefgh\xffijkl1", []string{auth.ProblemInvalidText}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := auth.CheckPassword(tc.password)
			var got []string
			var pe *auth.PasswordError
			if errors.As(err, &pe) {
				for _, p := range pe.Problems {
					got = append(got, p.Code)
					if p.Message == "" || (len(tc.password) >= 4 && strings.Contains(p.Message, tc.password)) {
						t.Errorf("problem %+v: empty or quotes the password", p)
					}
				}
			} else if err != nil {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if !slices.Equal(got, tc.problems) {
				t.Fatalf("problems %v, want %v", got, tc.problems)
			}
		})
	}
}

// The list is data that people edit by hand; keep it the shape CheckPassword assumes.
func TestCommonPasswordListIsLowercaseSortedAndUnique(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("common_passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			words = append(words, line)
		}
	}
	if len(words) < 50 {
		t.Fatalf("only %d entries", len(words))
	}
	for i, w := range words {
		if w != strings.ToLower(strings.TrimSpace(w)) {
			t.Errorf("%q: not lowercase and trimmed", w)
		}
		if i > 0 && words[i-1] >= w {
			t.Errorf("%q after %q: not sorted or repeated", w, words[i-1])
		}
	}
}
