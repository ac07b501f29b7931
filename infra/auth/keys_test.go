package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func TestParseKeysFormatKeysRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t, "2026-01", 1), mustKey(t, "2026-04", 2)
	spec := auth.FormatKeys(b, a)
	keys, err := auth.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID() != "2026-04" || keys[1].ID() != "2026-01" ||
		!keys[0].Public().Equal(b.Public()) || !keys[1].Public().Equal(a.Public()) {
		t.Fatalf("round trip: %v", keys)
	}
	r, err := auth.ParseKeyRing(" " + strings.ReplaceAll(spec, ",", " , ") + " ,")
	if err != nil {
		t.Fatal(err)
	}
	if r.SignerID() != "2026-04" || strings.Join(r.KeyIDs(), ",") != "2026-04,2026-01" {
		t.Fatalf("ring %v", r)
	}
}

func TestParseKeyRingRefusesBadSpecsWithoutQuotingSeeds(t *testing.T) {
	t.Parallel()
	s1 := base64.StdEncoding.EncodeToString(seed(1))
	s2 := base64.StdEncoding.EncodeToString(seed(2))
	cases := []struct{ name, spec string }{
		{"empty", ""},
		{"only separators", " , ,"},
		{"no colon", "k1" + s1},
		{"empty kid", ":" + s1},
		{"kid with a space", "k 1:" + s1},
		{"kid too long", strings.Repeat("k", 65) + ":" + s1},
		{"seed too short", "k1:" + base64.StdEncoding.EncodeToString(seed(1)[:31])},
		{"seed too long", "k1:" + base64.StdEncoding.EncodeToString(append(seed(1), 0))},
		{"seed url-safe unpadded", "k1:" + base64.RawURLEncoding.EncodeToString(seed(1))},
		{"seed not base64", "k1:" + s1[:20] + "%%%%" + s1[24:]},
		{"duplicate kid", "k1:" + s1 + ",k1:" + s2},
		{"same key twice", "k1:" + s1 + ",k2:" + s1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := auth.ParseKeyRing(tc.spec)
			if err == nil {
				t.Fatalf("accepted %v", r)
			}
			if !errors.Is(err, auth.ErrKeySpec) {
				t.Fatalf("error %v does not wrap ErrKeySpec", err)
			}
			if strings.Contains(err.Error(), s1[:12]) || strings.Contains(err.Error(), s2[:12]) {
				t.Fatalf("error quotes key material: %v", err)
			}
		})
	}
}

func TestKeysPrintAsTheirIDsOnly(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "k1", 1)
	r := mustRing(t, k)
	secret := base64.StdEncoding.EncodeToString(seed(1))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{k, r, []auth.Key{k}, struct{ K *auth.KeyRing }{r}} {
			out := fmt.Sprintf(verb, v)
			if !strings.Contains(out, "k1") || strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(seed(1)[:8])[1:10]) {
				t.Errorf("%s of %T: %s", verb, v, out)
			}
		}
	}
}
