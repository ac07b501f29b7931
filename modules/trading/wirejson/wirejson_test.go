package wirejson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// walk reads any value through the Reader into what encoding/json's decoder gives with UseNumber: maps, slices,
// strings, json.Number, bools and nil. It is the reference use of every method.
func walk(r *Reader) (any, error) {
	switch r.Peek() {
	case '{':
		m := map[string]any{}
		for key := range r.Object() {
			k := string(key) // copied: the key's bytes are the text's
			v, err := walk(r)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, r.Err()
	case '[':
		a := []any{}
		for n := range r.Array() {
			if n != len(a) {
				return nil, errors.New("index out of step")
			}
			v, err := walk(r)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, r.Err()
	case '"':
		raw, plain, err := r.StringToken()
		if err != nil {
			return nil, err
		}
		s, err := Unquote(raw)
		if plain && s != string(raw[1:len(raw)-1]) {
			return nil, errors.New("a plain string is not its own bytes")
		}
		return s, err
	case 'n':
		_, err := r.Null()
		return nil, err
	default:
		raw, err := r.Raw()
		switch {
		case err != nil:
			return nil, err
		case string(raw) == "true":
			return true, nil
		case string(raw) == "false":
			return false, nil
		}
		return json.Number(raw), nil
	}
}

func decodeStd(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// corners are texts where a hand-written scanner could drift from encoding/json.
var corners = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+10`, `"x"`, ` {"a" : [ 1 , { } , [ ] ] } `,
	`{"a":1,"a":2}`, `{"A":1,"a":2}`, `{"k\"ey":"v\\"}`, `{"\u00e9":"\ud83d\ude00"}`, `{"\ud800":"lone"}`,
	`{"` + "\xba" + `":0}`, `"` + "\xff\xfe" + `"`, `{"a":"\/\b\f\n\r\t"}`,
	`{}` + "\x00", `{"a":1}x`, `{"a":1,}`, `[1,]`, `{,}`, `{"a" 1}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`,
	`{"a":.5}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":"\u12"}`,
	`{"a":"unterminated}`, `[1 2]`, `{"a":1 "b":2}`, `"\`, ``, `  `, `{"orders":[{"side":"BUY"}]`, `]`, `}`,
	`{"retcode":"0 Done","answer":[{"Deal":"1","Comment":"bd:x \u00e9"},{"Deal":2,"Price":1e-7}]}`,
}

func FuzzReaderAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range corners {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		got, err := walk(r)
		if err == nil {
			err = r.End()
		}
		if valid := json.Valid(b); (err == nil) != valid {
			t.Fatalf("%q: Reader error %v, json.Valid %v", b, err, valid)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(b) {
				t.Fatalf("%q: error %v carries no offset inside the text", b, err)
			}
			return
		}
		want, err := decodeStd(b)
		if err != nil {
			t.Fatalf("%q: valid text refused by encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nReader        %#v\nencoding/json %#v", b, got, want)
		}
		raw, err := NewReader(b).Raw()
		if err != nil || !bytes.Equal(raw, bytes.TrimSpace(b)) {
			t.Fatalf("%q: Raw = %q, %v", b, raw, err)
		}
	})
}

func TestNestingLimitIsEncodingJSONs(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{MaxDepth, MaxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closing := map[string]string{"[": "]", `{"a":`: "}"}[open]
			b := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closing, depth))
			_, err := walk(NewReader(b))
			skipErr := NewReader(b).Skip()
			if valid := json.Valid(b); (err == nil) != valid || (skipErr == nil) != valid {
				t.Errorf("depth %d of %q: walk %v, Skip %v, json.Valid %v", depth, open, err, skipErr, valid)
			}
		}
	}
}

func TestKeysKeepTheirCaseAndComeUnescaped(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte(`{"Balance":"1","balance":"2","B\u0061l":3,"skip":{"x":[1,{"y":null}]}}`))
	var keys []string
	for key := range r.Object() {
		keys = append(keys, string(key))
		if err := r.Skip(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.End(); err != nil || strings.Join(keys, ",") != "Balance,balance,Bal,skip" {
		t.Fatalf("keys %q, %v", keys, err)
	}
}

func TestAWalkStopsAtTheFirstErrorAndKeepsIt(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte(`[{"a":1},{"a":x},{"a":3}]`))
	turns := 0
	for range r.Array() {
		turns++
		for range r.Object() {
			_, _ = r.Raw()
		}
	}
	err := r.End()
	var e *Error
	if turns != 2 || !errors.As(err, &e) || e.Offset != 14 {
		t.Fatalf("%d turns, error %v; want 2 and the error at offset 14", turns, err)
	}
	if _, err2 := r.Raw(); err2 != err || r.Errorf("later") != err {
		t.Errorf("a later read reported %v, not the first error", err2)
	}
}

func TestWrongKindsAreErrors(t *testing.T) {
	t.Parallel()
	for text, read := range map[string]func(*Reader) error{
		`[1]`: func(r *Reader) error {
			for range r.Object() {
				r.Skip()
			}
			return r.Err()
		},
		`{}`: func(r *Reader) error {
			for range r.Array() {
				r.Skip()
			}
			return r.Err()
		},
		`1`:     func(r *Reader) error { _, _, err := r.StringToken(); return err },
		`nulls`: func(r *Reader) error { _, _ = r.Null(); return r.End() },
		`nil`:   func(r *Reader) error { _, err := r.Null(); return err },
	} {
		if err := read(NewReader([]byte(text))); err == nil {
			t.Errorf("%s: read without error", text)
		}
	}
}
