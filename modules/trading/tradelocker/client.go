package tradelocker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// request is one Brand API call as the connector's methods describe it; call turns it into HTTP attempts.
type request struct {
	op     string // the connector operation, for errors and logs
	method string
	path   string // below /brand-api/, e.g. "v1/accounts/details"
	body   any
	// idemKey is sent as Idempotency-Key; the platform then answers a repeat with the stored first answer.
	idemKey string
	// resendable says sending the request again after a lost answer cannot do harm: reads, set-to-value updates
	// and anything carrying an Idempotency-Key.
	resendable bool
	// money marks deposit, withdraw and credit, whose 400 answers may mean insufficient funds.
	money bool
	// secrets are values (passwords) scrubbed from any error text before it leaves the connector.
	secrets []string
}

// answer is a successful (2xx) reply.
type answer struct {
	status int
	body   []byte
	// replayed is the platform saying it answered from its idempotency store instead of acting again.
	replayed bool
}

// maxAnswerBytes bounds what one answer may hold; a 31-day report of a busy account is the largest we expect.
const maxAnswerBytes = 64 << 20

// replayedHeader is how the platform marks an answer served from its idempotency store. TradeLocker does not
// document a name; this is the de-facto convention (inferred), and the connector also recognises a replay by a
// ticket it has already seen for the key (see replayMemory).
const replayedHeader = "Idempotent-Replayed"

// call sends r, retrying where that is safe: once after a transport failure or a gateway error when r is
// resendable, and after 429 answers up to Config.RateLimitRetries times, honouring Retry-After.
func (c *Connector) call(ctx context.Context, r request) (answer, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return answer{}, clientError(r.op, trading.ErrInvalidRequest, "encode request: %v", err)
		}
	}
	resends := 0
	if r.resendable {
		resends = 1
	}
	rateRetries := c.cfg.RateLimitRetries
	backoff := c.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return answer{}, transportError(r.op, err)
		}
		start := time.Now()
		a, hdr, err := c.send(ctx, r, payload)
		c.log.LogAttrs(ctx, slog.LevelDebug, "tradelocker call",
			slog.String("op", r.op), slog.String("path", r.path), slog.Int("attempt", attempt),
			slog.Int("status", a.status), slog.Duration("took", time.Since(start)),
			slog.String("idempotency_key", r.idemKey), slog.Bool("replayed", a.replayed))
		if err != nil {
			if ctx.Err() == nil && resends > 0 {
				resends--
				c.log.LogAttrs(ctx, slog.LevelWarn, "tradelocker call lost its answer; sending it again",
					slog.String("op", r.op), slog.String("idempotency_key", r.idemKey), slog.String("error", err.Error()))
				continue
			}
			return answer{}, transportError(r.op, err)
		}
		switch {
		case a.status >= 200 && a.status < 300:
			return a, nil
		case a.status == http.StatusTooManyRequests:
			wait, given := retryAfter(hdr.Get("Retry-After"), time.Now())
			if !given {
				wait = backoff
				backoff *= 2
			}
			if rateRetries > 0 && wait <= c.cfg.MaxRetryWait {
				rateRetries--
				c.log.LogAttrs(ctx, slog.LevelWarn, "tradelocker rate limit; waiting",
					slog.String("op", r.op), slog.Duration("wait", wait))
				if err := sleepCtx(ctx, wait); err != nil {
					return answer{}, transportError(r.op, err)
				}
				continue
			}
		case a.status == http.StatusBadGateway || a.status == http.StatusServiceUnavailable ||
			a.status == http.StatusGatewayTimeout:
			// A gateway error may hide an applied request just like a dropped connection.
			if resends > 0 && ctx.Err() == nil {
				resends--
				continue
			}
		}
		reason := clip(redact(parseErrorReason(a.body), r.secrets))
		return answer{}, platformError(r.op, a.status, reason, r.money)
	}
}

// send makes one HTTP attempt. An error means no complete answer arrived (the platform may still have acted).
func (c *Connector) send(ctx context.Context, r request, payload []byte) (answer, http.Header, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.cfg.BaseURL+"/brand-api/"+r.path, body)
	if err != nil {
		return answer{}, nil, err
	}
	req.Header.Set("brand-api-key", c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "brokerdesk-tradelocker")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.idemKey != "" {
		req.Header.Set("Idempotency-Key", r.idemKey)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return answer{}, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{status: resp.StatusCode}, nil, fmt.Errorf("read answer: %w", err)
	}
	if len(data) > maxAnswerBytes {
		return answer{status: resp.StatusCode}, nil, fmt.Errorf("answer larger than %d bytes", maxAnswerBytes)
	}
	return answer{
		status:   resp.StatusCode,
		body:     data,
		replayed: strings.EqualFold(strings.TrimSpace(resp.Header.Get(replayedHeader)), "true"),
	}, resp.Header, nil
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepCtx waits d or until ctx ends, so a cancelled caller never waits out a rate limit.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// unreadable is a 2xx answer the connector cannot parse. It is Retryable on purpose: for a money call the platform
// has acted, and the caller's retry with the same OperationID gets the stored answer back.
func unreadable(op string, a answer, err error) error {
	pe := &trading.PlatformError{
		Kind:     trading.ErrUnavailable,
		Platform: trading.PlatformTradeLocker,
		Op:       op,
		Code:     strconv.Itoa(a.status),
		Message:  clip("unreadable answer: " + err.Error()),
	}
	return fmt.Errorf("%w: %w", pe, err)
}

// replayMemory remembers the ticket each Idempotency-Key got, so a repeat that comes back with the same ticket is
// reported as Replayed even if the platform does not mark replays. It is bounded and per process: after a restart
// only the platform's own marker tells.
type replayMemory struct {
	mu    sync.Mutex
	seen  map[string]string
	order []string
	next  int
}

const replayMemorySize = 4096

func newReplayMemory() *replayMemory {
	return &replayMemory{seen: make(map[string]string, 64)}
}

// note records key -> ticket and reports whether the same ticket had been recorded for key before.
func (m *replayMemory) note(key, ticket string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.seen[key]; ok {
		return prev == ticket
	}
	if len(m.order) < replayMemorySize {
		m.order = append(m.order, key)
	} else {
		delete(m.seen, m.order[m.next])
		m.order[m.next] = key
		m.next = (m.next + 1) % replayMemorySize
	}
	m.seen[key] = ticket
	return false
}
