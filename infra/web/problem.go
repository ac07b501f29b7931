// Package web is BrokerDesk's HTTP foundation on Fiber v2: the app with its middleware (recover, request id, access
// log, metrics), RFC 9457 problem+json errors from one error handler, health and readiness handlers, and the page
// layout (Go templates, tenant branding through CSS custom properties, no JavaScript needed).
package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Problem is an RFC 9457 problem detail. Errors lists per-field problems of a request.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError is one bad field of a request (the one field-error type of the product: validation.FieldError).
type FieldError = validation.FieldError

// Error makes a Problem returnable from a handler; the error handler renders it.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// NewProblem returns a problem with the standard title for status and a type URI under /problems/.
func NewProblem(status int, slug, detail string) *Problem {
	return &Problem{Type: "/problems/" + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

// Invalid returns a 422 problem listing every bad field.
func Invalid(detail string, fields ...FieldError) *Problem {
	p := NewProblem(fiber.StatusUnprocessableEntity, "validation", detail)
	p.Errors = fields
	return p
}

// NotFound is the problem for anything absent — including what exists but belongs to someone else.
func NotFound(detail string) *Problem { return NewProblem(fiber.StatusNotFound, "not-found", detail) }

// overloaded is an error meaning "at capacity right now, retry shortly", such as a password check that waited too
// long for its turn (auth.BusyError): the client gets 503 with Retry-After, never a 500. Matched by behaviour, so
// no package below web needs to import it.
type overloaded interface {
	error
	Overloaded() bool
}

// ProblemOf returns the problem a client sees for err when err is a client's or a capacity problem (a *Problem,
// a *validation.Error, a fiber.Error, an overloaded error); ok is false for an internal error. Handlers and pages
// use it to show a refusal in place instead of the error page.
func ProblemOf(err error) (p *Problem, ok bool) {
	p, internal := toProblem(err)
	return p, !internal
}

// wantsHTML reports whether the client is a browser asking for a page rather than an API client.
func wantsHTML(c *fiber.Ctx) bool {
	if strings.HasPrefix(c.Path(), "/api/") {
		return false
	}
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

// toProblem turns any error into the problem a client may see. Anything that is not already a Problem or a
// fiber.Error is an internal error: its text stays in the logs.
func toProblem(err error) (p *Problem, internal bool) {
	var pr *Problem
	if errors.As(err, &pr) {
		cp := *pr
		return &cp, false
	}
	if ve, ok := validation.As(err); ok {
		return Invalid("The request has invalid fields.", ve.Fields...), false
	}
	var busy overloaded
	if errors.As(err, &busy) && busy.Overloaded() {
		return NewProblem(fiber.StatusServiceUnavailable, "busy",
			"The server is busy with other requests of this kind; retry in a few seconds."), false
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		slug := strings.ToLower(strings.ReplaceAll(http.StatusText(fe.Code), " ", "-"))
		if slug == "" {
			slug = "error"
		}
		return NewProblem(fe.Code, slug, fe.Message), false
	}
	return NewProblem(fiber.StatusInternalServerError, "internal", "Something went wrong on our side. Quote the request id if you contact support."), true
}
