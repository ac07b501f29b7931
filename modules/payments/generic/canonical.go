package generic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf16"
)

// SortedJSON re-encodes a JSON document the way processors that sign "sorted JSON" (NOWPayments) build the text
// they sign: object keys sorted at every level, no whitespace, numbers exactly as written (never re-formatted
// through a float), strings escaped as JavaScript's JSON.stringify escapes them (only '"', '\' and control
// characters; non-ASCII, '/', '<', '>' and '&' written as they are), arrays kept in order.
//
// Keys are ordered by UTF-16 code units, as JavaScript's Array.prototype.sort orders them: for the ASCII keys every
// processor uses that is plain byte order, and the two differ only between characters above U+E000 and those
// outside the Basic Multilingual Plane. Duplicate keys keep the last value, as JSON.parse does. Invalid UTF-8 and
// lone surrogates in strings become U+FFFD (encoding/json's decoding), so such a body fails the signature rather
// than being read two ways.
//
// The output decodes to the same values as body, and SortedJSON of the output is the output itself.
func SortedJSON(body []byte) ([]byte, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(body))
	writeSorted(&b, v)
	return b.Bytes(), nil
}

// decodeJSON reads exactly one JSON value, keeping numbers as their text (json.Number): the one parse both the
// signature (in sorted-json mode) and the field mapping read, so the two cannot disagree about the body.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not JSON: data after the document")
	}
	return v, nil
}

func writeSorted(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(string(x))
	case string:
		writeString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeSorted(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeSorted(b, x[k])
		}
		b.WriteByte('}')
	default:
		// decodeJSON produces only the types above.
		panic(fmt.Sprintf("generic: unexpected JSON value %T", v))
	}
}

func writeString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}
