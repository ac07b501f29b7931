package trading

import (
	"errors"
	"fmt"
)

// The kinds of failure callers branch on. A connector returns a *PlatformError whose Kind is one of these.
var (
	ErrNotFound          = errors.New("not found on the trading platform")
	ErrAlreadyExists     = errors.New("already exists on the trading platform")
	ErrInvalidRequest    = errors.New("invalid request to the trading platform")
	ErrInsufficientFunds = errors.New("insufficient funds on the trading account")
	ErrRateLimited       = errors.New("trading platform rate limit")
	ErrUnavailable       = errors.New("trading platform unavailable")
	ErrAuthFailed        = errors.New("trading platform authentication failed")
	ErrUnsupported       = errors.New("not supported by the trading platform")
)

// PlatformError keeps the platform's own code and text for operators beside the kind callers branch on.
type PlatformError struct {
	Kind     error    // one of the sentinels above
	Platform Platform // which platform answered
	Op       string   // the connector operation, e.g. "balance_operation"
	Code     string   // the platform's code: MT5 retcode, HTTP status, DXtrade errorCode
	Message  string   // the platform's text
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("%s %s: %v (platform code %s: %s)", e.Platform, e.Op, e.Kind, e.Code, e.Message)
}

func (e *PlatformError) Unwrap() error { return e.Kind }

// Retryable reports whether trying the same call again later may succeed.
func Retryable(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnavailable)
}
