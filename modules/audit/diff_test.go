package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSensitiveKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key  string
		want bool
	}{
		{"password", true}, {"new_password", true}, {"passwordHash", true}, {"Passwd", true}, {"passphrase", true},
		{"token", true}, {"refresh-token", true}, {"token_hash", true}, {"invitation_token", true},
		{"secret", true}, {"client_secret", true}, {"webhookSecret", true},
		{"totp", true}, {"totp_secret", true}, {"TOTPSeed", true}, {"otp", true}, {"otp_code", true}, {"sms_otp", true},
		{"recovery_codes", true}, {"RecoveryCode", true},
		{"api_key", true}, {"apiKey", true}, {"API-KEY-ID", true}, {"private_key", true}, {"signing_key", true},
		{"credentials", true}, {"Authorization", true}, {"cookie", true}, {"session_id", true},
		{"cvv", true}, {"card_number", true}, {"pin", true},
		// Document contents, under any of their usual names.
		{"content", true}, {"document_content", true}, {"contents", true}, {"file_bytes", true}, {"bytes", true},
		{"content_base64", true}, {"blob", true}, {"file", true}, {"document", true}, {"file_data", true},
		// A document's metadata stays readable.
		{"content_type", false}, {"ContentLength", false}, {"size_bytes", false}, {"file_name", false},
		{"document_id", false},
		// Innocent keys, including ones that contain a sensitive word's letters.
		{"email", false}, {"full_name", false}, {"roles", false}, {"status", false}, {"footprint", false},
		{"spinner", false}, {"amount", false}, {"currency", false}, {"idempotency_key", false}, {"country", false},
		{"", false},
	}
	for _, c := range cases {
		if got := Sensitive(c.key); got != c.want {
			t.Errorf("Sensitive(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}

func TestDiffKeepsOnlyChangesAndRedactsSecretsAtAnyDepth(t *testing.T) {
	t.Parallel()
	type user struct {
		Email    string   `json:"email"`
		Roles    []string `json:"roles"`
		Password string   `json:"password,omitempty"`
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		name          string
		before, after any
		want          string
	}{
		{"nothing to nothing", nil, nil, `{}`},
		{"no change", user{Email: "a@x"}, user{Email: "a@x"}, `{}`},
		{"creation lists every field", nil, user{Email: "a@x", Roles: []string{"admin"}},
			`{"/email":{"after":"a@x"},"/roles":{"after":["admin"]}}`},
		{"deletion lists every field", user{Email: "a@x", Roles: []string{"admin"}}, nil,
			`{"/email":{"before":"a@x"},"/roles":{"before":["admin"]}}`},
		{"changed field only", user{Email: "a@x", Roles: []string{"sales"}}, user{Email: "a@x", Roles: []string{"sales", "admin"}},
			`{"/roles":{"after":["sales","admin"],"before":["sales"]}}`},
		{"password change is recorded, neither password kept", user{Email: "a@x", Password: "hunter2"},
			user{Email: "a@x", Password: "correct horse"}, `{"/password":{"after":"[redacted]","before":"[redacted]"}}`},
		{"unchanged password leaves no trace", user{Email: "a@x", Password: "hunter2"}, user{Email: "b@x", Password: "hunter2"},
			`{"/email":{"after":"b@x","before":"a@x"}}`},
		{"nested object under a secret key", raw(`{"mfa":{"totp":{"seed":"JBSW","enabled":false}}}`),
			raw(`{"mfa":{"totp":{"seed":"KRUG","enabled":true}}}`),
			`{"/mfa/totp/enabled":{"after":"[redacted]","before":"[redacted]"},"/mfa/totp/seed":{"after":"[redacted]","before":"[redacted]"}}`},
		{"secret added inside an added object", nil, raw(`{"gateway":{"name":"acme","webhook_secret":"whsec_1","keys":{"api_key":"k"}}}`),
			`{"/gateway":{"after":{"keys":{"api_key":"[redacted]"},"name":"acme","webhook_secret":"[redacted]"}}}`},
		{"secrets inside arrays", raw(`{"items":[]}`), raw(`{"items":[{"id":1,"token":"t"},{"id":2,"recovery_codes":["a","b"]}]}`),
			`{"/items":{"after":[{"id":1,"token":"[redacted]"},{"id":2,"recovery_codes":"[redacted]"}],"before":[]}}`},
		{"document content redacted, metadata kept", nil,
			raw(`{"document":{"kind":"passport","content_type":"application/pdf","size_bytes":123,"content":"JVBERi0x"}}`),
			`{"/document":{"after":"[redacted]"}}`},
		{"upload record keeps metadata", nil, raw(`{"kind":"passport","content_type":"application/pdf","size_bytes":123,"content":"JVBERi0x"}`),
			`{"/content":{"after":"[redacted]"},"/content_type":{"after":"application/pdf"},"/kind":{"after":"passport"},"/size_bytes":{"after":123}}`},
		{"numbers compared and kept as written", raw(`{"amount":100.10,"n":1}`), raw(`{"amount":100.1,"n":1}`),
			`{"/amount":{"after":100.1,"before":100.10}}`},
		{"type change compared whole", raw(`{"limit":{"daily":5}}`), raw(`{"limit":null}`),
			`{"/limit":{"after":null,"before":{"daily":5}}}`},
		{"removed field", raw(`{"a":1,"b":2}`), raw(`{"a":1}`), `{"/b":{"before":2}}`},
		{"pointer escaping", raw(`{"a/b":1,"c~d":1}`), raw(`{"a/b":2,"c~d":2}`),
			`{"/a~1b":{"after":2,"before":1},"/c~0d":{"after":2,"before":1}}`},
		{"scalar root", "draft", "sent", `{"":{"after":"sent","before":"draft"}}`},
		{"long strings omitted", nil, raw(`{"note":"` + strings.Repeat("x", maxString+1) + `"}`),
			`{"/note":{"after":"[omitted: 4097 bytes]"}}`},
	}
	for _, c := range cases {
		got, err := Diff(c.before, c.after)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestDiffRefusesWhatItCannotKeep(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ before, after any }{
		"unmarshalable":   {nil, map[string]any{"f": func() {}}},
		"invalid JSON":    {json.RawMessage(`{"a":`), nil},
		"two JSON values": {json.RawMessage(`{} {}`), nil},
	}
	for name, c := range cases {
		if got, err := Diff(c.before, c.after); err == nil {
			t.Errorf("%s: Diff = %.80s, want an error", name, got)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string // parsed with UseNumber
		want string
	}{
		{"whitespace dropped", ` { "a" : [ 1 , 2 ] , "b" : { } } `, `{"a":[1,2],"b":{}}`},
		{"keys by UTF-8 bytes", `{"é":1,"b":2,"B":3,"a":4,"aa":5}`, `{"B":3,"a":4,"aa":5,"b":2,"é":1}`},
		{"numbers as written", `[1.50,-0,1e3,12345678901234567890123]`, `[1.50,-0,1e3,12345678901234567890123]`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"only required escapes", `"q\" b\\ \/ <&> \u00e9 \u2028"`, "\"q\\\" b\\\\ / <&> é \u2028\""},
		{"control characters", `"\b\f\n\r\t\u0000\u001f"`, `"\b\f\n\r\t\u0000\u001f"`},
	}
	for _, c := range cases {
		v, err := toGeneric(json.RawMessage(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := CanonicalJSON(v)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		again, _ := toGeneric(json.RawMessage(got))
		if twice, _ := CanonicalJSON(again); string(twice) != string(got) {
			t.Errorf("%s: not stable: %s then %s", c.name, got, twice)
		}
	}
	// Invalid UTF-8 cannot come through encoding/json's decoder, but a Go string can hold it.
	if got, _ := CanonicalJSON("a\xffb"); string(got) != "\"a\uFFFDb\"" {
		t.Errorf("invalid UTF-8: %q", got)
	}
	if _, err := CanonicalJSON(json.Number("1x")); err == nil {
		t.Error("an invalid number was encoded")
	}
}
