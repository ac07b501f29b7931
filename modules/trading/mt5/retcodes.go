package mt5

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// MT5 retcodes the connector acts on itself, beyond mapping them.
const (
	retDone             = 0
	retDoneNone         = 1
	retTooFrequent      = 12
	retNotFound         = 13
	retNotAuthenticated = 1008
)

// retcodeKinds is the ONE place an MT5 retcode becomes a trading error kind. Codes not listed are refusals the
// connector does not know, treated as invalid requests: retrying an unknown refusal blindly would only hammer the
// server, and the code and text still reach the operator in the PlatformError.
var retcodeKinds = map[int]error{
	2:     trading.ErrUnavailable,    // common error: the server failed without saying why
	3:     trading.ErrInvalidRequest, // invalid parameters
	4:     trading.ErrInvalidRequest, // invalid data
	5:     trading.ErrUnavailable,    // disk error on the server
	6:     trading.ErrUnavailable,    // out of memory on the server
	7:     trading.ErrUnavailable,    // network error between server components
	8:     trading.ErrAuthFailed,     // the manager lacks the permission for this call
	9:     trading.ErrUnavailable,    // timeout
	10:    trading.ErrUnavailable,    // no connection
	11:    trading.ErrUnavailable,    // service unavailable
	12:    trading.ErrRateLimited,    // too frequent
	13:    trading.ErrNotFound,       // not found
	14:    trading.ErrUnavailable,    // partial result
	15:    trading.ErrUnavailable,    // server shutting down
	16:    trading.ErrUnavailable,    // cancelled
	17:    trading.ErrAlreadyExists,  // duplicate
	1000:  trading.ErrAuthFailed,     // invalid client
	1001:  trading.ErrNotFound,       // invalid account
	1002:  trading.ErrInvalidRequest, // account disabled
	1003:  trading.ErrAuthFailed,     // advanced authorization required
	1004:  trading.ErrAuthFailed,     // certificate required
	1005:  trading.ErrAuthFailed,     // invalid certificate
	1007:  trading.ErrUnavailable,    // server-side authorization error
	1008:  trading.ErrAuthFailed,     // not authenticated (after one re-authentication)
	1012:  trading.ErrAuthFailed,     // IP blocked: the egress IP is not allowed for this manager
	3002:  trading.ErrInvalidRequest, // logins exhausted in the server's range
	3003:  trading.ErrInvalidRequest, // login belongs to another server
	3004:  trading.ErrAlreadyExists,  // user exists
	3006:  trading.ErrInvalidRequest, // password does not meet the rules
	3008:  trading.ErrInvalidRequest, // user has trades (cannot be deleted or changed so)
	3010:  trading.ErrInvalidRequest, // group with a different currency
	4005:  trading.ErrInsufficientFunds,
	10019: trading.ErrInsufficientFunds, // not enough money
}

func kindOfRetcode(code int) error {
	if k, ok := retcodeKinds[code]; ok {
		return k
	}
	return trading.ErrInvalidRequest
}

// retcodeError is an MT5 refusal: the server answered, so the request was not executed.
func retcodeError(op string, code int, text string) *trading.PlatformError {
	return &trading.PlatformError{
		Kind:     kindOfRetcode(code),
		Platform: trading.PlatformMT5,
		Op:       op,
		Code:     strconv.Itoa(code),
		Message:  text,
	}
}

// localError is a refusal the connector makes before asking the server.
func localError(op string, kind error, format string, args ...any) *trading.PlatformError {
	return &trading.PlatformError{
		Kind:     kind,
		Platform: trading.PlatformMT5,
		Op:       op,
		Message:  fmt.Sprintf(format, args...),
	}
}

// transportError is a failure to get an answer at all. When the request may have reached the server, the outcome
// is unknown, which matters for calls that move money.
type transportError struct {
	cause error
	// sent is true when the request may have reached the server (its outcome is unknown).
	sent bool
}

func (e *transportError) Error() string { return "mt5 transport: " + e.cause.Error() }
func (e *transportError) Unwrap() error { return e.cause }

// toPlatformError gives every error leaving the connector the shape callers expect: a *trading.PlatformError.
// A caller's own cancellation stays visible to errors.Is beside the kind.
func toPlatformError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *trading.PlatformError
	if errors.As(err, &pe) {
		if pe.Op == "" {
			cp := *pe
			cp.Op = op
			return &cp
		}
		return pe
	}
	out := &trading.PlatformError{
		Kind:     trading.ErrUnavailable,
		Platform: trading.PlatformMT5,
		Op:       op,
		Code:     "transport",
		Message:  err.Error(),
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", out, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", out, context.Canceled)
	}
	return out
}
