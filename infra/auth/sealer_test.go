package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func dataKey(b byte) string {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b + byte(i)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func TestSealerRoundTripsAndRefusesAnythingElse(t *testing.T) {
	t.Parallel()
	s, err := auth.ParseSealer("k1:" + dataKey(1))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("totp:staff:1", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") || !strings.HasPrefix(sealed, "k1:") {
		t.Fatalf("sealed value %q shows its plaintext or lacks its key id", sealed)
	}
	if got, err := s.Open("totp:staff:1", sealed); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := s.Seal("totp:staff:1", []byte("JBSWY3DPEHPK3PXP"))
	if again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	other, _ := auth.ParseSealer("k9:" + dataKey(9))
	for name, tc := range map[string]struct {
		s       *auth.Sealer
		purpose string
		value   string
	}{
		"another purpose (a value copied to another row)": {s, "totp:staff:2", sealed},
		"an altered byte": {s, "totp:staff:1", string(flipped)},
		"an unknown key":  {other, "totp:staff:1", sealed},
		"no key id":       {s, "totp:staff:1", "JBSWY3DPEHPK3PXP"},
		"truncated":       {s, "totp:staff:1", sealed[:6]},
	} {
		if _, err := tc.s.Open(tc.purpose, tc.value); !errors.Is(err, auth.ErrSealed) {
			t.Errorf("%s: Open error = %v, want ErrSealed", name, err)
		}
	}
}

func TestSealerRotationOpensOldValuesAndSealsWithTheFirstKey(t *testing.T) {
	t.Parallel()
	old, _ := auth.ParseSealer("old:" + dataKey(1))
	sealed, _ := old.Seal("p", []byte("secret"))
	rotated, err := auth.ParseSealer("new:" + dataKey(2) + ", old:" + dataKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open("p", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("the rotated ring does not open an old value: %q, %v", got, err)
	}
	if !rotated.NeedsReseal(sealed) {
		t.Fatal("a value under the old key is not reported as needing a reseal")
	}
	fresh, _ := rotated.Seal("p", []byte("secret"))
	if !strings.HasPrefix(fresh, "new:") || rotated.NeedsReseal(fresh) {
		t.Fatalf("new seals use %q, want the first key", fresh)
	}
}

func TestParseSealerNamesTheBadKeyButNeverPrintsKeys(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		"":                                       "no keys",
		"k1" + dataKey(1):                        "entry 1",
		"k1:c2hvcnQ=":                            `"k1"`,
		"k1:" + dataKey(1) + ",k1:" + dataKey(2): "twice",
		"bad id!:" + dataKey(1):                  "bad id!",
	} {
		_, err := auth.ParseSealer(spec)
		if !errors.Is(err, auth.ErrKeySpec) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSealer(%q) = %v, want ErrKeySpec naming %s", spec, err, want)
		}
		if err != nil && strings.Contains(err.Error(), dataKey(1)) {
			t.Errorf("error prints key material: %v", err)
		}
	}
	s, _ := auth.ParseSealer("a:" + dataKey(1) + ",b:" + dataKey(2))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, dataKey(1)) || out != "data-keys(a,b)" {
			t.Errorf("%s of a Sealer = %q", verb, out)
		}
	}
}

func TestSealerDeriveKeyIsStablePerPurposeAndFollowsTheFirstKey(t *testing.T) {
	t.Parallel()
	parse := func(spec string) *auth.Sealer {
		t.Helper()
		s, err := auth.ParseSealer(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	one := parse("k1:" + dataKey(1))
	links := one.DeriveKey("blob-links")
	if len(links) != 32 {
		t.Fatalf("derived key has %d bytes, want 32", len(links))
	}
	raw, _ := base64.StdEncoding.DecodeString(dataKey(1))
	if string(links) == string(raw) {
		t.Fatal("derived key is the data key itself")
	}
	if string(parse("k1:"+dataKey(1)).DeriveKey("blob-links")) != string(links) {
		t.Fatal("same key and purpose derive different keys: links would not survive a restart or work across servers")
	}
	if string(one.DeriveKey("other")) == string(links) {
		t.Fatal("two purposes derive the same key")
	}
	if string(parse("k1:"+dataKey(1)+",k0:"+dataKey(9)).DeriveKey("blob-links")) != string(links) {
		t.Fatal("an older key at the end of the ring changed the derived key; only the first key should count")
	}
	if string(parse("k2:"+dataKey(2)+",k1:"+dataKey(1)).DeriveKey("blob-links")) == string(links) {
		t.Fatal("rotation to a new first key kept the derived key")
	}
}

func TestOpenMigratingTakesPreSealingPlaintextAndAsksForAReseal(t *testing.T) {
	t.Parallel()
	old, _ := auth.ParseSealer("old:" + dataKey(1))
	rotated, _ := auth.ParseSealer("new:" + dataKey(2) + ",old:" + dataKey(1))
	underOld, _ := old.Seal("p", []byte("JBSWY3DPEHPK3PXP"))
	underNew, _ := rotated.Seal("p", []byte("JBSWY3DPEHPK3PXP"))
	for name, tc := range map[string]struct {
		stored string
		reseal bool
	}{
		"plaintext stored before sealing": {"JBSWY3DPEHPK3PXP", true},
		"sealed under an older key":       {underOld, true},
		"sealed under the first key":      {underNew, false},
	} {
		plain, reseal, err := rotated.OpenMigrating("p", tc.stored)
		if err != nil || plain != "JBSWY3DPEHPK3PXP" || reseal != tc.reseal {
			t.Errorf("%s: %q reseal=%v err=%v, want the secret and reseal=%v", name, plain, reseal, err, tc.reseal)
		}
	}
	if _, _, err := rotated.OpenMigrating("another purpose", underNew); !errors.Is(err, auth.ErrSealed) {
		t.Errorf("a sealed value of another purpose: %v, want ErrSealed", err)
	}
}
