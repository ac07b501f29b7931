// Package validation is the one shape of "this input is wrong" in BrokerDesk: a list of fields, each with a
// sentence saying what is wrong with it. Services in every module return *Error for bad input; infra/web maps it,
// once, to a 422 problem+json listing every field, and pages show each message beside its field. No service
// returns an HTTP type, and no module defines its own field-error type.
package validation

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// FieldError is one bad field: its name as the client sent it ("email", "postings[2].amount") and what is wrong, in
// words the client can act on.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is bad input: every bad field at once.
type Error struct {
	Fields []FieldError
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Message is the message of field, or "".
func (e *Error) Message(field string) string {
	for _, f := range e.Fields {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

// New returns an *Error for one field.
func New(field, message string) *Error { return &Error{Fields: []FieldError{{field, message}}} }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Fields collects the problems of one input; Err returns them as one *Error (nil when there are none).
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

// Merge adds every field of err if it is an *Error and reports whether it was (other errors are the caller's).
func (f *Fields) Merge(err error) bool {
	e, ok := As(err)
	if ok {
		f.errs = append(f.errs, e.Fields...)
	}
	return ok
}

// Len is how many problems were recorded.
func (f *Fields) Len() int { return len(f.errs) }

// Err returns nil, or an *Error listing every field recorded.
func (f *Fields) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return &Error{Fields: append([]FieldError(nil), f.errs...)}
}
