package web

import (
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// MaxQueryParams bounds the parameters of one request's query string; more is an oversized head (431). No route
// reads more than a handful.
const MaxQueryParams = 64

// headGuard is the edge's rule for what arrives before the body, applied before any handler (and before the body
// is read): a query string of more than MaxQueryParams parameters is 431; a path or a query parameter (name or
// value) that is not one line of valid UTF-8 text (NUL, control characters, invalid UTF-8, percent-encoded or not)
// is 400 naming it. Nothing a handler reads from the path or the query can therefore carry what Postgres refuses
// (SQLSTATE 22021, 22P05) or what splits a line in a log or a header.
func headGuard() fiber.Handler {
	return func(c *fiber.Ctx) error {
		args := c.Context().QueryArgs()
		if args.Len() > MaxQueryParams {
			return headTooLarge("The query string has more than " + strconv.Itoa(MaxQueryParams) + " parameters.")
		}
		var bad []FieldError
		if p := validation.EdgeProblem(string(c.Context().URI().Path()), false); p != "" {
			bad = append(bad, FieldError{Field: "path", Message: p})
		}
		i := 0
		args.VisitAll(func(k, v []byte) {
			i++
			name := string(k)
			if p := validation.EdgeProblem(name, false); p != "" {
				bad = append(bad, FieldError{Field: "query parameter " + strconv.Itoa(i), Message: "name " + p})
				return
			}
			if p := validation.EdgeProblem(string(v), false); p != "" {
				bad = append(bad, FieldError{Field: name, Message: p})
			}
		})
		if bad != nil {
			return invalidText(bad)
		}
		return c.Next()
	}
}

// formGuard applies the edge's rule to the fields of a url-encoded form (after bodyGuard has read it within its
// limit): a field that is not valid UTF-8 or holds NUL is 400 naming it. Form fields may span lines (textareas);
// each field's own rule says more. Multipart forms are read by their handlers (after sign-in): part by part when
// the form is an upload's stream, or whole with MultipartForm, which applies the same rule to their text fields.
// (A body that declares a Content-Encoding never gets here: bodyGuard refuses it, 415.)
func formGuard() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if _, streamed := c.Locals(streamBodyKey{}).(*streamBody); streamed || len(c.Request().Body()) == 0 {
			return c.Next()
		}
		mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		if err != nil || (mt != fiber.MIMEApplicationForm && mt != fiber.MIMEMultipartForm) {
			return c.Next()
		}
		if mt != fiber.MIMEApplicationForm {
			return c.Next()
		}
		var bad []FieldError
		i := 0
		c.Context().PostArgs().VisitAll(func(k, v []byte) {
			i++
			name := string(k)
			if p := validation.EdgeProblem(name, false); p != "" {
				bad = append(bad, FieldError{Field: "form field " + strconv.Itoa(i), Message: "name " + p})
				return
			}
			if p := validation.EdgeProblem(string(v), true); p != "" {
				bad = append(bad, FieldError{Field: name, Message: p})
			}
		})
		if bad != nil {
			return invalidText(bad)
		}
		return c.Next()
	}
}

// IsMultipart reports whether the request's body is declared a multipart/form-data form (with its boundary).
func IsMultipart(c *fiber.Ctx) bool {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	return err == nil && mt == fiber.MIMEMultipartForm && params["boundary"] != ""
}

// MultipartForm reads a multipart/form-data body that the body guard buffered within its route's limit (a form
// that carries a small file: Route.BodyLimit, Shell.Upload; large uploads are StreamRoutes and read their parts
// themselves), and applies the edge's rule to its text as formGuard does to a url-encoded form's: a field's name or
// value, or a file's name, that is not valid UTF-8 or holds NUL is 400 invalid-text naming it. A body that is not
// such a form is 415, one that cannot be read as one 400 malformed-form. The form is read once per request:
// c.FormValue and c.FormFile then answer from it. Files stay in memory (the body's size bounds them).
func MultipartForm(c *fiber.Ctx) (*multipart.Form, error) {
	if !IsMultipart(c) {
		return nil, NewProblem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Send the form as multipart/form-data.")
	}
	if _, streamed := c.Locals(streamBodyKey{}).(*streamBody); streamed {
		return nil, errors.New("web: MultipartForm on a StreamRoute, whose body is a stream: read its parts with RequestBody")
	}
	form, err := c.MultipartForm()
	if err != nil {
		return nil, NewProblem(fiber.StatusBadRequest, "malformed-form", "The form could not be read as multipart/form-data.")
	}
	var bad []FieldError
	check := func(name, v string, multiline bool) {
		if p := validation.EdgeProblem(name, false); p != "" {
			bad = append(bad, FieldError{Field: "form field", Message: "name " + p})
		} else if p := validation.EdgeProblem(v, multiline); p != "" {
			bad = append(bad, FieldError{Field: name, Message: p})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(form.Value)) {
		for _, v := range form.Value[name] {
			check(name, v, true)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(form.File)) {
		for _, fh := range form.File[name] {
			check(name, fh.Filename, false) // a file's name is one line
		}
	}
	if bad != nil {
		return nil, invalidText(bad)
	}
	return form, nil
}

func invalidText(fields []FieldError) error {
	p := NewProblem(fiber.StatusBadRequest, "invalid-text", "Some inputs are not valid text (UTF-8, without NUL or control characters).")
	p.Errors = fields
	return p
}

func headTooLarge(detail string) *Problem {
	return NewProblem(fiber.StatusRequestHeaderFieldsTooLarge, "head-too-large", detail)
}

// serverError is the fasthttp server's answer to a request it could not read (the head over the read buffer, a
// malformed head, a timeout): a problem+json like every other error, never fasthttp's plain text. fasthttp closes
// the connection after it.
func serverError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var timeout interface{ Timeout() bool }
	var p *Problem
	switch {
	case errors.As(err, &small):
		p = headTooLarge("The request's head (request line and headers) is larger than the server accepts (" +
			byteSize(ReadBufferSize) + ").")
	case errors.As(err, &timeout) && timeout.Timeout():
		p = NewProblem(fiber.StatusRequestTimeout, "request-timeout", "The request was not received in time.")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		p = NewProblem(fiber.StatusRequestEntityTooLarge, "body-too-large", "The request body is larger than the server accepts.")
	default:
		p = NewProblem(fiber.StatusBadRequest, "malformed-request", "The request could not be read as HTTP/1.1.")
	}
	p.Title = http.StatusText(p.Status)
	body, _ := json.Marshal(p)
	ctx.Response.Reset()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(body)
}
