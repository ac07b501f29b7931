package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// DefaultMaxBody is the body limit of every route that declares none (Route.BodyLimit): 1 MiB.
const DefaultMaxBody = 1 << 20

// Fields collects per-field problems of a request: the one collector of the product (validation.Fields), so a
// service's field errors stay *validation.Error and never become HTTP types; the error handler maps them to 422.
type Fields = validation.Fields

// Validator is a request body that checks itself after decoding: it records its problems in f.
type Validator interface {
	Validate(f *Fields)
}

// Bind reads the request's JSON body into dst (a pointer) under the body contract of docs/api.md and validates it:
// Content-Type must be application/json (charset, if given, utf-8), else 415; then DecodeJSON, or DecodeDocument
// for a PUT, which replaces a whole document and so must name every required field.
func Bind(c *fiber.Ctx, dst any) error {
	if err := jsonContentType(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	if c.Method() == fiber.MethodPut {
		return DecodeDocument(c.Body(), dst, DefaultMaxBody)
	}
	return DecodeJSON(c.Body(), dst, DefaultMaxBody)
}

func jsonContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Send the body as application/json.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Send the body as application/json in UTF-8.")
	}
	return nil
}

// DecodeJSON decodes body into dst (a pointer) and runs dst's Validate if it has one. Every fault is a client's,
// and every fault of one kind is reported at once:
//
//   - over max bytes: 413;
//   - not exactly one JSON value in UTF-8 (empty, truncated, a byte order mark, UTF-16, trailing data, a syntax
//     error): 400 /problems/malformed-json saying which;
//   - nested deeper than MaxJSONDepth: 400 /problems/json-too-deep;
//   - a value of the wrong type, a field dst does not have, a key given twice, a string with NUL or invalid UTF-8,
//     an array over MaxJSONArray items: 422 naming every such field (see shapeChecker);
//   - what Validate refuses: 422 naming every field.
//
// It never returns an internal error for bad input.
func DecodeJSON(body []byte, dst any, max int) error { return decodeJSON(body, dst, max, false) }

// DecodeDocument is DecodeJSON for a whole document (a PUT): additionally, every required field (Required) of
// every object must be present, so leaving a field out can never empty it; each missing one is named (422).
func DecodeDocument(body []byte, dst any, max int) error { return decodeJSON(body, dst, max, true) }

func decodeJSON(body []byte, dst any, max int, whole bool) error {
	if len(body) > max {
		return NewProblem(fiber.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("The body may be at most %d bytes.", max))
	}
	if err := wellFormed(body); err != nil {
		return err
	}
	if err := checkShape(body, dst, whole); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	if v, ok := dst.(Validator); ok {
		var f Fields
		v.Validate(&f)
		return fieldsErr(f.Err())
	}
	return nil
}

// wellFormed is the 400 of a body that is not exactly one JSON value in UTF-8, saying what is wrong with it.
func wellFormed(body []byte) error {
	malformed := func(detail string) error { return NewProblem(fiber.StatusBadRequest, "malformed-json", detail) }
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return malformed("The body is empty; send a JSON object.")
	case bytes.HasPrefix(body, []byte{0xEF, 0xBB, 0xBF}):
		return malformed("The body starts with a byte order mark; send UTF-8 JSON without one.")
	case bytes.HasPrefix(body, []byte{0xFF, 0xFE}), bytes.HasPrefix(body, []byte{0xFE, 0xFF}),
		len(body) >= 2 && (body[0] == 0 || body[1] == 0):
		return malformed("The body must be UTF-8 JSON; it looks like UTF-16.")
	}
	if json.Valid(body) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	err := dec.Decode(&raw)
	var syn *json.SyntaxError
	switch {
	case err == nil:
		return malformed("The body must hold exactly one JSON value; something follows it.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("The body is truncated: the JSON value is not complete.")
	case errors.As(err, &syn):
		return malformed(fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset))
	}
	return malformed("The body is not valid JSON.")
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
