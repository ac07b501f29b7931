package tradelocker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// statusTable is the one place an HTTP status becomes a trading error kind. Rows are checked in order; the first
// whose range holds the status wins.
var statusTable = []struct {
	from, to int
	kind     error
}{
	{400, 400, trading.ErrInvalidRequest},
	{401, 401, trading.ErrAuthFailed},
	{403, 403, trading.ErrAuthFailed},
	{404, 404, trading.ErrNotFound},
	{408, 408, trading.ErrUnavailable},
	{409, 409, trading.ErrAlreadyExists},
	{429, 429, trading.ErrRateLimited},
	// Any other 4xx (405, 413, 422, ...) means the request is wrong in a way retrying cannot fix.
	{402, 499, trading.ErrInvalidRequest},
	{500, 599, trading.ErrUnavailable},
}

// bodyRules refine a status by the platform's text. The Brand API has no dedicated status for a withdrawal or a
// credit removal larger than what the account holds: it answers 400 with the reason in the body (inferred from the
// published error list, which declares only 400 and 403 for the account operations). Matching is on lower-cased
// text, so a reworded message needs a new row here, not a code change elsewhere.
// The rules only apply to money operations, where "insufficient" cannot mean anything else.
var bodyRules = []struct {
	status   int
	contains string
	kind     error
}{
	{400, "insufficient", trading.ErrInsufficientFunds},
	{400, "not enough", trading.ErrInsufficientFunds},
	{400, "exceeds available", trading.ErrInsufficientFunds},
}

// kindFor maps a status and the body's reason to an error kind; money says the call moved (or tried to move) money.
func kindFor(status int, reason string, money bool) error {
	if money {
		lower := strings.ToLower(reason)
		for _, r := range bodyRules {
			if r.status == status && strings.Contains(lower, r.contains) {
				return r.kind
			}
		}
	}
	for _, row := range statusTable {
		if status >= row.from && status <= row.to {
			return row.kind
		}
	}
	// 1xx/3xx never reach here through net/http's redirect handling in a healthy setup: a proxy is misbehaving.
	return trading.ErrUnavailable
}

// maxReasonLen keeps a huge HTML error page from a proxy out of logs and databases.
const maxReasonLen = 512

// errorBody is the Brand API's error answer (NestJS style): message is a string, or a list of validation
// messages for a 400.
type errorBody struct {
	StatusCode json.RawMessage `json:"statusCode"`
	Message    json.RawMessage `json:"message"`
	Error      json.RawMessage `json:"error"`
}

// parseErrorReason extracts the human reason from an error answer. Anything that is not the expected JSON (a proxy's
// HTML page, an empty body) is returned as trimmed text, so operators still see what came back.
func parseErrorReason(body []byte) string {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil {
		var parts []string
		if m := jsonText(eb.Message); m != "" {
			parts = append(parts, m)
		}
		if e := jsonText(eb.Error); e != "" && len(parts) == 0 {
			parts = append(parts, e)
		}
		if len(parts) > 0 {
			return clip(strings.Join(parts, "; "))
		}
	}
	return clip(strings.TrimSpace(string(body)))
}

// jsonText renders a JSON string, or a list of strings joined with "; ", and ignores anything else.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.TrimSpace(strings.Join(list, "; "))
	}
	return ""
}

// clip shortens s to maxReasonLen bytes without splitting a UTF-8 sequence and drops invalid bytes and control
// characters, so the text is safe to log.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxReasonLen {
		return s
	}
	cut := maxReasonLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// platformError builds the error every connector method returns for a platform answer.
func platformError(op string, status int, reason string, money bool) *trading.PlatformError {
	return &trading.PlatformError{
		Kind:     kindFor(status, reason, money),
		Platform: trading.PlatformTradeLocker,
		Op:       op,
		Code:     strconv.Itoa(status),
		Message:  reason,
	}
}

// clientError is a request the connector refuses before sending; Code "client" tells operators the platform never
// saw it.
func clientError(op string, kind error, format string, args ...any) *trading.PlatformError {
	return &trading.PlatformError{
		Kind:     kind,
		Platform: trading.PlatformTradeLocker,
		Op:       op,
		Code:     "client",
		Message:  fmt.Sprintf(format, args...),
	}
}

// transportError is a call that got no usable answer. cause is kept for errors.Is (context.Canceled and the like).
func transportError(op string, cause error) error {
	pe := &trading.PlatformError{
		Kind:     trading.ErrUnavailable,
		Platform: trading.PlatformTradeLocker,
		Op:       op,
		Code:     "transport",
		Message:  clip(cause.Error()),
	}
	return fmt.Errorf("%w: %w", pe, cause)
}

// redact removes secrets the platform might echo back in an error text (a validation message quoting the password).
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func isKind(err, kind error) bool { return err != nil && errors.Is(err, kind) }
