package dxtrade

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// kindOf is the one table from a DXtrade answer to the kind of failure callers branch on. Two operations read an
// answer differently on purpose, and say so where they do: a money PUT treats 409 as "already applied" (its id is
// the CRM's OperationID), and a category change re-checks a 404 because DXtrade answers 404 both for an unknown
// account and for an unknown category name.
func (c *Connector) kindOf(status int, errorCode string) error {
	if status >= 400 && status < 500 && c.insufficient[errorCode] {
		return trading.ErrInsufficientFunds
	}
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return trading.ErrInvalidRequest
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// Reached only after a fresh login was refused as well (see do): the credentials or rights are wrong.
		return trading.ErrAuthFailed
	case status == http.StatusNotFound:
		return trading.ErrNotFound
	case status == http.StatusConflict:
		return trading.ErrAlreadyExists
	case status == http.StatusPreconditionFailed:
		// Someone changed the account between our read and our conditional write: reading again may succeed.
		return trading.ErrUnavailable
	case status == http.StatusTooManyRequests:
		return trading.ErrRateLimited
	case status >= 500:
		return trading.ErrUnavailable
	default:
		return trading.ErrInvalidRequest
	}
}

// platformError builds the error every public method returns. code is DXtrade's errorCode, or the HTTP status when
// the answer had none, so operators always see what the server said.
func platformError(kind error, op, code, message string) *trading.PlatformError {
	return &trading.PlatformError{Kind: kind, Platform: trading.PlatformDXtrade, Op: op, Code: code, Message: message}
}

// answerError is the error for an HTTP answer that was not 2xx.
func (c *Connector) answerError(op string, status int, body []byte) error {
	code, msg := parseError(body)
	if code == "" {
		code = strconv.Itoa(status)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return platformError(c.kindOf(status, code), op, code, msg)
}

// transportError is the error for a call that got no answer: the connection failed, timed out or was cut.
func transportError(op string, cause error) error {
	return fmt.Errorf("%w: %w", platformError(trading.ErrUnavailable, op, "transport", "no answer from the server"), cause)
}

// invalid is a request the connector refuses before sending it, in the shape callers expect from the platform.
func invalid(op, format string, args ...any) error {
	return platformError(trading.ErrInvalidRequest, op, "request", fmt.Sprintf(format, args...))
}

// rekind keeps the platform's code and text but changes what the failure means; used where one operation knows
// more than the status (see kindOf).
func rekind(err error, kind error) error {
	pe, ok := asPlatformError(err)
	if !ok {
		return err
	}
	cp := *pe
	cp.Kind = kind
	return &cp
}

func asPlatformError(err error) (*trading.PlatformError, bool) {
	var pe *trading.PlatformError
	ok := errors.As(err, &pe)
	return pe, ok
}
