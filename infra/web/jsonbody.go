package web

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Bounds of the body contract: deeper or longer is refused before any value is built.
const (
	// MaxJSONDepth is how deeply objects and arrays may nest in a request body.
	MaxJSONDepth = 32
	// MaxJSONArray is the longest array a request body may hold anywhere; a route's own rules are usually tighter.
	MaxJSONArray = 10000
	// maxShapeErrors bounds the fields one answer lists: a body of ten thousand wrong values gets the first ones.
	maxShapeErrors = 50
)

// shapeChecker walks a syntactically valid JSON body against the Go type it will be decoded into, before
// encoding/json builds anything, and records every field that does not fit: a value of the wrong type, a field the
// type does not have (matched exactly: "Email" is not "email"), a key given twice, a string that is not valid
// UTF-8 (including escaped lone surrogates) or holds NUL, an integer out of range, and, for a whole document
// (whole), a required field left out. encoding/json reports only the first type error, matches keys without
// regard to case, keeps the last of two duplicate keys and turns invalid UTF-8 into U+FFFD silently; this is the
// contract docs/api.md promises instead.
type shapeChecker struct {
	data  []byte
	pos   int
	whole bool
	errs  []FieldError
	deep  bool // MaxJSONDepth exceeded: a 400, not a field problem
}

var (
	timeT            = reflect.TypeOf(time.Time{})
	rawMessageT      = reflect.TypeOf(json.RawMessage(nil))
	jsonUnmarshalerT = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textUnmarshalerT = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func (s *shapeChecker) add(field, msg string) {
	if field == "" {
		field = "body"
	}
	if len(s.errs) < maxShapeErrors {
		s.errs = append(s.errs, FieldError{Field: field, Message: msg})
	}
}

func (s *shapeChecker) full() bool { return len(s.errs) >= maxShapeErrors || s.deep }

func (s *shapeChecker) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// kind of the JSON value at pos: '{', '[', '"', 'n' (null), 't'/'f' (bool), '0' (number).
func (s *shapeChecker) kind() byte {
	switch c := s.data[s.pos]; c {
	case '{', '[', '"', 'n', 't', 'f':
		return c
	}
	return '0'
}

func jsonWord(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "true or false"
	}
	return "a number"
}

// value checks the value at pos against t (nil: anything goes, strings are still checked) and leaves pos after it.
func (s *shapeChecker) value(t reflect.Type, path string, depth int) {
	s.ws()
	k := s.kind()
	if t != nil {
		for t.Kind() == reflect.Pointer {
			if k == 'n' {
				s.skip(nil, path, depth)
				return
			}
			t = t.Elem()
		}
	}
	switch {
	case t == nil || t.Kind() == reflect.Interface || t == rawMessageT:
		s.skip(nil, path, depth)
		return
	case t == timeT:
		if k != '"' {
			s.mismatch(t, k, path, depth)
			return
		}
		str, ok := s.str(path, true)
		if ok {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				s.add(path, "must be a date and time (RFC 3339, like 2026-01-31T09:30:00Z)")
			}
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerT) && !reflect.PointerTo(t).Implements(jsonUnmarshalerT):
		if k != '"' {
			s.mismatch(t, k, path, depth)
			return
		}
		str, ok := s.str(path, true)
		if ok {
			v := reflect.New(t)
			if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(str)); err != nil {
				s.add(path, "is not a valid value")
			}
		}
		return
	case reflect.PointerTo(t).Implements(jsonUnmarshalerT):
		s.skip(nil, path, depth) // the type judges its own JSON; its strings are still checked
		return
	}
	switch t.Kind() {
	case reflect.String:
		if k != '"' {
			s.mismatch(t, k, path, depth)
			return
		}
		s.str(path, false)
	case reflect.Bool:
		if k != 't' && k != 'f' {
			s.mismatch(t, k, path, depth)
			return
		}
		s.skip(nil, path, depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if k != '0' {
			s.mismatch(t, k, path, depth)
			return
		}
		num := s.number()
		var err error
		switch {
		case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
			_, err = strconv.ParseInt(num, 10, t.Bits())
		case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
			_, err = strconv.ParseUint(num, 10, t.Bits())
		default:
			_, err = strconv.ParseFloat(num, t.Bits())
		}
		if err != nil {
			if t.Kind() <= reflect.Uint64 {
				s.add(path, "must be a whole number in range")
			} else {
				s.add(path, "must be a number in range")
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice { // []byte is base64 text in JSON
			if k == 'n' {
				s.skip(nil, path, depth)
				return
			}
			if k != '"' {
				s.mismatch(t, k, path, depth)
				return
			}
			s.str(path, false)
			return
		}
		if k == 'n' && t.Kind() == reflect.Slice {
			s.skip(nil, path, depth)
			return
		}
		if k != '[' {
			s.mismatch(t, k, path, depth)
			return
		}
		s.array(t.Elem(), path, depth)
	case reflect.Map:
		if k == 'n' {
			s.skip(nil, path, depth)
			return
		}
		if k != '{' {
			s.mismatch(t, k, path, depth)
			return
		}
		s.object(t, path, depth)
	case reflect.Struct:
		if k != '{' {
			s.mismatch(t, k, path, depth)
			return
		}
		s.object(t, path, depth)
	default:
		s.skip(nil, path, depth)
	}
}

// mismatch records that the value at path is of the wrong JSON kind for t, and skips it.
func (s *shapeChecker) mismatch(t reflect.Type, k byte, path string, depth int) {
	want := jsonKind(t.Kind().String())
	if t == timeT {
		want = "a date and time (RFC 3339 string)"
	} else if reflect.PointerTo(t).Implements(textUnmarshalerT) {
		want = "a string"
	}
	s.add(path, "must be "+want+", not "+jsonWord(k))
	s.skip(nil, path, depth)
}

// skip passes over the value at pos, checking its strings (and, as anywhere, duplicate keys and depth).
func (s *shapeChecker) skip(_ reflect.Type, path string, depth int) {
	s.ws()
	switch s.kind() {
	case '{':
		s.object(nil, path, depth)
	case '[':
		s.array(nil, path, depth)
	case '"':
		s.str(path, false)
	case 'n':
		s.pos += 4
	case 't':
		s.pos += 4
	case 'f':
		s.pos += 5
	default:
		s.number()
	}
}

func (s *shapeChecker) number() string {
	start := s.pos
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.pos++
		default:
			return string(s.data[start:s.pos])
		}
	}
	return string(s.data[start:s.pos])
}

func (s *shapeChecker) array(elem reflect.Type, path string, depth int) {
	if depth >= MaxJSONDepth {
		s.deep = true
		return
	}
	s.pos++ // [
	s.ws()
	if s.data[s.pos] == ']' {
		s.pos++
		return
	}
	for i := 0; ; i++ {
		if i == MaxJSONArray {
			s.add(path, "may hold at most "+strconv.Itoa(MaxJSONArray)+" items")
		}
		if s.full() {
			return
		}
		if elem == nil {
			s.skip(nil, path, depth+1)
		} else {
			s.value(elem, path+"["+strconv.Itoa(i)+"]", depth+1)
		}
		if s.full() {
			return
		}
		s.ws()
		if s.data[s.pos] == ']' {
			s.pos++
			return
		}
		s.pos++ // ,
	}
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	typ      reflect.Type
	required bool
}

// fieldsOf lists t's JSON fields by name (embedded structs' fields promoted, as encoding/json does).
func fieldsOf(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup {
				out[name] = jsonField{typ: ft, required: Required(f)}
			}
		}
	}
	walk(t)
	return out
}

// Required reports whether a struct field is required in a request body and in the OpenAPI document: a field is
// optional when its JSON tag says omitempty or omitzero, or when it is a pointer (absent and null both mean "not
// given"); every other field is required. A PUT body (a whole document) must name every required field.
func Required(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return false
		}
	}
	return f.Type.Kind() != reflect.Pointer
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks an object against t: a struct (fields by exact name), a map (every value against its element
// type), or nil (anything).
func (s *shapeChecker) object(t reflect.Type, path string, depth int) {
	if depth >= MaxJSONDepth {
		s.deep = true
		return
	}
	var fields map[string]jsonField
	if t != nil && t.Kind() == reflect.Struct {
		fields = fieldsOf(t)
	}
	seen := map[string]bool{}
	s.pos++ // {
	s.ws()
	if s.data[s.pos] != '}' {
		for {
			if s.full() {
				return
			}
			s.ws()
			key, ok := s.str(join(path, "(key)"), true) // a key that is not valid text is named "(key)"
			at := join(path, key)
			s.ws()
			s.pos++ // :
			switch {
			case !ok:
				s.skip(nil, join(path, "(key)"), depth+1)
			case seen[key]:
				s.add(at, "appears twice in the object; send each field once")
				s.skip(nil, at, depth+1)
			case t == nil:
				s.skip(nil, at, depth+1)
			case t.Kind() == reflect.Map:
				s.value(t.Elem(), at, depth+1)
			default:
				f, known := fields[key]
				if !known {
					s.add(at, "is not a field of this request")
					s.skip(nil, at, depth+1)
				} else {
					s.value(f.typ, at, depth+1)
				}
			}
			seen[key] = true
			if s.full() {
				return
			}
			s.ws()
			if s.data[s.pos] == '}' {
				break
			}
			s.pos++ // ,
		}
	}
	s.pos++ // }
	if s.whole && fields != nil {
		var missing []string
		for name, f := range fields {
			if f.required && !seen[name] {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		for _, name := range missing {
			s.add(join(path, name), "is required: a PUT replaces the whole document, so send every field")
		}
	}
}

// str reads the string at pos, checking it is valid UTF-8 (escapes included) without NUL, and returns its value
// when want is set (ok false when it is not valid text).
func (s *shapeChecker) str(path string, want bool) (string, bool) {
	s.pos++ // opening quote
	start := s.pos
	var b []byte
	plain := true // no escapes so far: the value is data[start:pos]
	bad := ""
	for {
		c := s.data[s.pos]
		switch {
		case c == '"':
			var v string
			if want && bad == "" {
				if plain {
					v = string(s.data[start:s.pos])
				} else {
					v = string(b)
				}
			}
			s.pos++
			if bad != "" {
				s.add(path, bad)
				return "", false
			}
			return v, true
		case c == '\\':
			if plain && want {
				b = append(b[:0], s.data[start:s.pos]...)
			}
			plain = false
			s.pos++
			e := s.data[s.pos]
			s.pos++
			var r rune
			switch e {
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
				r = s.hex4()
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if s.pos+6 <= len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
						s.pos += 2
						r2 = s.hex4()
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError && bad == "" {
						bad = "must be valid UTF-8 text (it holds an unpaired surrogate escape)"
					}
				}
			default: // " \ /
				r = rune(e)
			}
			if r == 0 && bad == "" {
				bad = "must not contain NUL characters"
			}
			if want {
				b = utf8.AppendRune(b, r)
			}
		case c < utf8.RuneSelf:
			if !plain && want {
				b = append(b, c)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size == 1 && bad == "" {
				bad = "must be valid UTF-8 text"
			}
			if !plain && want {
				b = append(b, s.data[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
}

func (s *shapeChecker) hex4() rune {
	n, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	s.pos += 4
	if err != nil {
		return utf8.RuneError
	}
	return rune(n)
}

// checkShape checks body (syntactically valid JSON holding one value) against dst's type; see shapeChecker. It
// returns a 400 problem for a body nested too deeply or not an object where an object is expected, a 422 listing
// every bad field, or nil.
func checkShape(body []byte, dst any, whole bool) error {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := &shapeChecker{data: body, whole: whole}
	s.ws()
	if t != nil && t.Kind() == reflect.Struct && t != timeT && s.kind() != '{' {
		return NewProblem(fiber.StatusBadRequest, "malformed-json", "The body must be a JSON object, not "+jsonWord(s.kind())+".")
	}
	s.value(t, "", 0)
	if s.deep {
		return NewProblem(fiber.StatusBadRequest, "json-too-deep",
			fmt.Sprintf("The body nests objects and arrays more than %d levels deep.", MaxJSONDepth))
	}
	if len(s.errs) > 0 {
		return Invalid("The request has invalid fields.", s.errs...)
	}
	return nil
}

// fieldsErr turns a validation error into the 422 problem of a request.
func fieldsErr(err error) error {
	if ve, ok := validation.As(err); ok {
		return Invalid("The request has invalid fields.", ve.Fields...)
	}
	return err
}
