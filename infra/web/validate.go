package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// DefaultMaxBody bounds a JSON request body read by Bind.
const DefaultMaxBody = 1 << 20

// Fields collects per-field problems of a request; Err returns them as one 422 problem.
type Fields struct{ errs []FieldError }

// Add records a problem with field.
func (f *Fields) Add(field, message string) {
	f.errs = append(f.errs, FieldError{Field: field, Message: message})
}

// Check records message for field unless ok.
func (f *Fields) Check(ok bool, field, message string) {
	if !ok {
		f.Add(field, message)
	}
}

// Required records a problem when v is empty or blank.
func (f *Fields) Required(field, v string) { f.Check(strings.TrimSpace(v) != "", field, "is required") }

// MaxLen records a problem when v has more than n characters.
func (f *Fields) MaxLen(field, v string, n int) {
	f.Check(utf8.RuneCountInString(v) <= n, field, fmt.Sprintf("must be at most %d characters", n))
}

// Err returns nil, or the 422 problem listing every field recorded.
func (f *Fields) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return Invalid("The request has invalid fields.", f.errs...)
}

// Validator is a request body that checks itself after decoding: it records its problems in f.
type Validator interface {
	Validate(f *Fields)
}

// Bind decodes the request's JSON body strictly into dst (a pointer) and validates it (see DecodeJSON).
func Bind(c *fiber.Ctx, dst any) error {
	if ct := c.Get(fiber.HeaderContentType); !strings.HasPrefix(strings.ToLower(ct), fiber.MIMEApplicationJSON) {
		return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Send the body as application/json.")
	}
	return DecodeJSON(c.Body(), dst, DefaultMaxBody)
}

// DecodeJSON decodes body into dst (a pointer) and runs dst's Validate if it has one. Every fault is a client's:
// a body over max bytes is 413; malformed JSON or anything after the value is 400; a field of the wrong type,
// an unknown field, or what Validate refuses is 422 naming the field. It never returns an internal error for
// bad input.
func DecodeJSON(body []byte, dst any, max int) error {
	if len(body) > max {
		return NewProblem(fiber.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("The body may be at most %d bytes.", max))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewProblem(fiber.StatusBadRequest, "malformed-json", "The body must hold exactly one JSON value.")
	}
	if v, ok := dst.(Validator); ok {
		var f Fields
		v.Validate(&f)
		return f.Err()
	}
	return nil
}

func decodeProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return NewProblem(fiber.StatusBadRequest, "malformed-json", "The body must be a JSON "+jsonKind(typeErr.Type.Kind().String())+".")
		}
		return Invalid("The request has invalid fields.", FieldError{Field: field, Message: "must be " + jsonKind(typeErr.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Invalid("The request has invalid fields.", FieldError{Field: field, Message: "is not a field of this request"})
	case errors.Is(err, io.EOF):
		return NewProblem(fiber.StatusBadRequest, "malformed-json", "The body is empty; send a JSON object.")
	default:
		// Syntax errors, unexpected EOF, a non-pointer dst (a programming error, but still not the client's
		// text to see): all are a malformed body from the client's side. The decoder's message names only the
		// offset and the character, never server internals.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return NewProblem(fiber.StatusBadRequest, "malformed-json", fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset))
		}
		return NewProblem(fiber.StatusBadRequest, "malformed-json", "The body is not valid JSON.")
	}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int") || strings.HasPrefix(goKind, "uint"):
		return "a whole number"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice" || goKind == "array":
		return "an array"
	case goKind == "struct" || goKind == "map":
		return "an object"
	}
	return "of another type"
}
