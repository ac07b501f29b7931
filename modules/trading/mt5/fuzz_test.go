package mt5

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Every parser of server answers is fuzzed: a hostile or broken server must get an error, never a panic, a hang
// or a wrong value that looks right.

func FuzzParseRetcode(f *testing.F) {
	for _, s := range []string{"0 Done", "13 Not found", "1", "", " 3004 User exists", "-1 x", "99999999999 big"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, text, err := parseRetcode(s)
		if err != nil {
			return
		}
		if code < 0 {
			t.Fatalf("negative retcode %d from %q", code, s)
		}
		// What was parsed prints back to the same meaning.
		again, text2, err := parseRetcode(fmt.Sprintf("%d %s", code, text))
		if err != nil || again != code || text2 != text {
			t.Fatalf("%q -> %d %q -> %d %q %v", s, code, text, again, text2, err)
		}
	})
}

// FuzzForEachField checks MT5's walk over an object against encoding/json: it refuses every text that is not JSON,
// and for any object both see the same keys and values, with exact case.
func FuzzForEachField(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"x","A":[1,{"b":"}"}],"c":null}`, `{"k\"ey":"v\\"}`, ` { "x" : { } } `, `[1]`, `{"a":1,}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := map[string]string{}
		err := forEachField([]byte(s), func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
		if !json.Valid([]byte(s)) {
			if err == nil {
				t.Fatalf("invalid JSON %q accepted", s)
			}
			return
		}
		if trimmed := strings.TrimSpace(s); !strings.HasPrefix(trimmed, "{") {
			if err == nil {
				t.Fatalf("%q is not an object, accepted", s)
			}
			return
		}
		var want map[string]json.RawMessage
		if stdErr := json.Unmarshal([]byte(s), &want); stdErr != nil {
			t.Fatalf("%q: %v", s, stdErr)
		}
		if err != nil {
			t.Fatalf("valid object %q refused: %v", s, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: keys %v, encoding/json has %d", s, got, len(want))
		}
		for k, v := range want {
			if strings.TrimSpace(got[k]) != strings.TrimSpace(string(v)) {
				t.Fatalf("%q: key %q = %q, encoding/json says %q", s, k, got[k], v)
			}
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{`{"retcode":"0 Done","answer":{"Ticket":"1"}}`, `{"retcode":"0 Done","srv_rand":"00ff"}`,
		`{"retcode":"13 Not found"}`, `{"answer":1}`, `{"retcode":0}`, `not json`, `{"retcode":"0 Done","answer":[` + strings.Repeat(`{},`, 3) + `{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if env.Answer != nil && !json.Valid(env.Answer) {
			t.Fatalf("answer %q is not a JSON value", env.Answer)
		}
	})
}

func FuzzParseUser(f *testing.F) {
	f.Add([]byte(`{"Login":"7","Group":"real\\std","Leverage":"100","Rights":"483","Name":"A"}`))
	f.Add([]byte(`{"Login":7,"Leverage":1e2}`))
	f.Add([]byte(`{"Login":"-7"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		u, err := parseUser(b)
		if err == nil && u.Login == 0 {
			t.Fatalf("user without a login accepted: %q", b)
		}
	})
}

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(`{"Login":"7","Balance":"26000.00","Credit":"0.00","Equity":"26000.00","Margin":"0","MarginFree":"26000"}`))
	f.Add([]byte(`{"Balance":1e99}`))
	f.Add([]byte(`{"Balance":"-0.000000000000000000000000000001"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		a, err := parseAccount(b)
		if err != nil {
			return
		}
		for _, d := range []fmt.Stringer{a.Balance, a.Credit, a.Equity, a.Margin, a.MarginFree} {
			if s := d.String(); len(s) > 200 {
				t.Fatalf("a 40-character number became %d characters: %q", len(s), b)
			}
		}
	})
}

func FuzzParseDeals(f *testing.F) {
	f.Add([]byte(realisticDealsAnswer(f, 3)))
	f.Add([]byte(`[{"Deal":"1","Time":"-5","TimeMsc":"9223372036854775807","Volume":"-1","VolumeExt":"9223372036854775807"}]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"Deal":1,"Action":18,"Comment":"bd:x \u00e9"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		recs, err := parseDeals(b)
		if err != nil {
			return
		}
		clk := serverClock{offset: 3 * time.Hour}
		for _, r := range recs {
			d := r.toDeal(clk)
			if d.Ticket == "" || d.Ticket == "0" {
				t.Fatalf("deal without a ticket from %q", b)
			}
			if d.Time.Location() != time.UTC {
				t.Fatalf("deal time not UTC")
			}
			if !utf8.ValidString(d.Comment) || !utf8.ValidString(d.Symbol) {
				t.Fatalf("invalid UTF-8 in a deal from %q", b)
			}
		}
	})
}

func FuzzParsePositions(f *testing.F) {
	f.Add([]byte(`[{"Position":"3","Login":"7","Symbol":"EURUSD","Action":"1","TimeCreate":"1700000000","PriceOpen":"1.1","Volume":"1000","VolumeExt":"10000000","Profit":"-1.5","Storage":"0"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		recs, err := parsePositions(b)
		if err != nil {
			return
		}
		for _, r := range recs {
			p := r.toPosition(serverClock{offset: -2 * time.Hour})
			if p.ID == "0" || (p.Side != "buy" && p.Side != "sell") {
				t.Fatalf("position %+v from %q", p, b)
			}
		}
	})
}

func FuzzParseServerTime(f *testing.F) {
	f.Add([]byte(`{"Time":"1572518788 2019.10.31 10:46:28"}`))
	f.Add([]byte(`{"time":"1572518788 2019.10.31 13:46:28"}`))
	f.Add([]byte(`"1572518788 2019.10.31 10:46:28"`))
	f.Add([]byte(`"9999999999999 9999.12.31 23:59:59"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		wall, err := parseServerTime(b)
		if err != nil {
			return
		}
		if wall.Location() != time.UTC || wall.Nanosecond() != 0 || !strings.Contains(string(b), wall.Format(wallLayout)) {
			t.Fatalf("wall clock %v from %q", wall, b)
		}
	})
}

func FuzzParseTimeConfig(f *testing.F) {
	f.Add([]byte(`{"Daylight":"1","DaylightState":"1","TimeZone":"120","TimeServer":"ntp","Days":[["1"]]}`))
	f.Add([]byte(`{"TimeZone":-720}`))
	f.Add([]byte(`{"TimeZone":"840","DaylightState":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		off, err := parseTimeConfig(b)
		if err != nil {
			return
		}
		if off < -maxZoneOffset || off > maxZoneOffset || off%time.Minute != 0 {
			t.Fatalf("offset %v from %q", off, b)
		}
	})
}

func FuzzParseTicketAndTotal(f *testing.F) {
	f.Add([]byte(`{"Ticket":"123"}`))
	f.Add([]byte(`{"total":"42"}`))
	f.Add([]byte(`{"Total":"42"}`))
	f.Add([]byte(`7`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if tk, err := parseTicket(b); err == nil && tk == 0 {
			t.Fatalf("ticket 0 accepted from %q", b)
		}
		if n, err := parseTotal(b); err == nil && n < 0 {
			t.Fatalf("negative total from %q", b)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{V: 1, Login: 7, From: 1, To: 2, LFrom: 0, LTo: 1, Zone: 7200, Total: 10, Offset: 4}.encode())
	f.Add("")
	f.Add("eyJ2IjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if c.Offset > c.Total || c.Offset < 0 || c.From >= c.To || c.Login == 0 {
			t.Fatalf("impossible cursor accepted: %+v", c)
		}
		if again, err := decodeCursor(c.encode()); err != nil || again != c {
			t.Fatalf("cursor does not survive a round trip: %+v %v", again, err)
		}
	})
}

func FuzzOpComment(f *testing.F) {
	f.Add("op-1", "card deposit")
	f.Add("abcdefghijklmnopqrstuvwxyz012345", "x")
	f.Add("a", "𝄞\x00\n")
	f.Fuzz(func(t *testing.T, id, text string) {
		if checkOperationID("fuzz", id) != nil {
			return
		}
		c := opComment(id, text)
		if n := len(utf16.Encode([]rune(c))); n > maxComment {
			t.Fatalf("comment %q is %d UTF-16 units", c, n)
		}
		if !hasTag(c, OperationTag(id)) {
			t.Fatalf("comment %q lost the tag of %q", c, id)
		}
	})
}
