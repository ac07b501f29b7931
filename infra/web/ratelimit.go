package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
)

// Rate is a request budget: Limit requests per Period. The zero Rate is off.
type Rate struct {
	Limit  int
	Period time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Limit <= 0 || r.Period <= 0 }

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Period)
}

// ParseRate reads "300/m" (also /s, /h, /d, or a Go duration such as "10/30s"); "off" or "0" turns a limit off.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	limit, err := strconv.Atoi(n)
	if !ok || err != nil || limit < 1 || limit > 1_000_000 {
		return Rate{}, fmt.Errorf("want requests/period like 300/m, got %q", s)
	}
	var period time.Duration
	switch per {
	case "s":
		period = time.Second
	case "m":
		period = time.Minute
	case "h":
		period = time.Hour
	case "d":
		period = 24 * time.Hour
	default:
		if period, err = time.ParseDuration(per); err != nil || period < time.Second || period > 24*time.Hour {
			return Rate{}, fmt.Errorf("want a period of s, m, h, d or a duration from 1s to 24h, got %q", per)
		}
	}
	return Rate{Limit: limit, Period: period}, nil
}

// RateLimitOptions configure RateLimit.
type RateLimitOptions struct {
	// Redis runs the limiter's script; every replica shares the budgets through it.
	Redis redis.Scripter
	// PerIP limits each client address (c.IP(), so behind trusted proxies the forwarded one); PerToken limits each
	// credential (Authorization or X-API-Key header), whatever the address. Both apply; either may be off.
	PerIP, PerToken Rate
	// Prefix namespaces the Redis keys (default "bd:rl:").
	Prefix string
	// Exempt paths are never limited (health checks: load balancers probe often and must not be refused).
	Exempt []string
	// Own gives the paths under a prefix their own per-address budget in place of PerIP (and no per-credential
	// one): a payment processor calls back from a few addresses, in bursts, far above what one person sends.
	Own []PrefixRate
	// Now, when set, replaces the Redis server's clock (tests). Normally every replica reads Redis' TIME, so
	// clock skew between replicas cannot hand out extra requests.
	Now func() time.Time
	Log *slog.Logger
}

// PrefixRate is a budget per client address for the paths under Prefix.
type PrefixRate struct {
	Prefix string
	Rate   Rate
	// Name tells the budget apart in its Redis keys and in RateLimit-Policy ("webhooks").
	Name string
}

// DefaultExempt are the paths RateLimit never limits unless told otherwise.
var DefaultExempt = []string{"/healthz", "/readyz"}

// rateScript is GCRA (the generic cell rate algorithm) over any number of keys, all checked and, only if every
// one allows the request, all charged, in one atomic round trip. Each key holds its theoretical arrival time
// (TAT) in microseconds. With interval = period/limit, a request at now is allowed when TAT+interval-period <=
// now, so a fresh key takes exactly limit requests at once and then one per interval: the budget refills
// smoothly instead of resetting at window edges, where a fixed window would let 2x through.
//
// The interval is rounded down to whole microseconds and the burst is limit intervals, so the budget holds exactly
// limit requests and is whole again within the period (at most limit µs early).
//
// KEYS: the budgets. ARGV[1]: now in µs, or 0 for the server's TIME; then per key its period µs and limit.
// Returns {allowed, then per key: remaining, retry-after µs, full-reset µs}.
var rateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local allowed = 1
local out = {0}
local tats = {}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[2*i])
  local limit = tonumber(ARGV[2*i+1])
  local interval = math.max(1, math.floor(period / limit))
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local newtat = tat + interval
  local allowAt = newtat - interval * limit
  if allowAt > now then
    allowed = 0
    out[#out+1] = 0
    out[#out+1] = allowAt - now
    out[#out+1] = tat - now
  else
    out[#out+1] = math.floor((now - allowAt) / interval)
    out[#out+1] = 0
    out[#out+1] = newtat - now
  end
  tats[i] = newtat
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
out[1] = allowed
return out
`)

// RateLimit returns middleware that spends one unit of the client's per-IP and per-token budgets on each
// request and refuses it with 429 (problem+json, Retry-After) when either is spent. Every answer carries
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds until the budget is full again) of the
// tighter budget, and RateLimit-Policy naming both.
//
// When Redis cannot be reached within half a second the request is let through and the failure logged: an outage of the limiter's
// store should not become an outage of the API.
func RateLimit(o RateLimitOptions) fiber.Handler {
	if o.Prefix == "" {
		o.Prefix = "bd:rl:"
	}
	if o.Exempt == nil {
		o.Exempt = DefaultExempt
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	exempt := map[string]bool{}
	for _, p := range o.Exempt {
		exempt[p] = true
	}
	var policy []string
	if !o.PerIP.Off() {
		policy = append(policy, fmt.Sprintf("%d;w=%d;comment=\"ip\"", o.PerIP.Limit, int(o.PerIP.Period.Seconds())))
	}
	if !o.PerToken.Off() {
		policy = append(policy, fmt.Sprintf("%d;w=%d;comment=\"token\"", o.PerToken.Limit, int(o.PerToken.Period.Seconds())))
	}
	policyHeader := strings.Join(policy, ", ")
	ownPolicy := make([]string, len(o.Own)) // each own budget's RateLimit-Policy, written once
	for i, own := range o.Own {
		ownPolicy[i] = fmt.Sprintf("%d;w=%d;comment=%q", own.Rate.Limit, int(own.Rate.Period.Seconds()), own.Name)
	}
	return func(c *fiber.Ctx) error {
		if exempt[c.Path()] {
			return c.Next()
		}
		for i, own := range o.Own {
			if strings.HasPrefix(c.Path(), own.Prefix) {
				if own.Rate.Off() {
					return c.Next()
				}
				return o.spend(c, ownPolicy[i], []string{o.Prefix + own.Name + ":" + c.IP()}, []Rate{own.Rate})
			}
		}
		if len(policy) == 0 {
			return c.Next()
		}
		var keys []string
		var rates []Rate
		if !o.PerIP.Off() {
			keys, rates = append(keys, o.Prefix+"ip:"+c.IP()), append(rates, o.PerIP)
		}
		if cred := credential(c); cred != "" && !o.PerToken.Off() {
			keys, rates = append(keys, o.Prefix+"tok:"+cred), append(rates, o.PerToken)
		}
		if len(keys) == 0 {
			return c.Next()
		}
		return o.spend(c, policyHeader, keys, rates)
	}
}

// spend charges one request to every budget of keys and answers 429 when one is spent.
func (o RateLimitOptions) spend(c *fiber.Ctx, policyHeader string, keys []string, rates []Rate) error {
	// A slow Redis must not slow every request down: past the deadline the request goes through.
	ctx, cancel := context.WithTimeout(c.UserContext(), 500*time.Millisecond)
	d, err := o.decide(ctx, keys, rates)
	cancel()
	if err != nil {
		o.Log.WarnContext(c.UserContext(), "rate limiter unavailable; request let through", "err", err)
		return c.Next()
	}
	c.Set("RateLimit-Policy", policyHeader)
	c.Set("RateLimit-Limit", strconv.Itoa(d.limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(d.remaining))
	c.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.reset)))
	if !d.allowed {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, ceilSeconds(d.retryAfter))))
		return NewProblem(fiber.StatusTooManyRequests, "rate-limited",
			"Too many requests. Wait as long as the Retry-After header says, then try again.")
	}
	return c.Next()
}

type decision struct {
	allowed           bool
	limit, remaining  int
	retryAfter, reset time.Duration
}

func (o RateLimitOptions) decide(ctx context.Context, keys []string, rates []Rate) (decision, error) {
	var now int64
	if o.Now != nil {
		now = o.Now().UnixMicro()
	}
	args := []any{now}
	for _, r := range rates {
		args = append(args, r.Period.Microseconds(), r.Limit)
	}
	res, err := rateScript.Run(ctx, o.Redis, keys, args...).Int64Slice()
	if err != nil {
		return decision{}, fmt.Errorf("rate limit script: %w", err)
	}
	if len(res) != 1+3*len(keys) {
		return decision{}, errors.New("rate limit script: unexpected reply")
	}
	d := decision{allowed: res[0] == 1, remaining: math.MaxInt}
	// Report the budget that binds: the refused one if any, else the one with least left.
	for i, r := range rates {
		rem, retry, reset := int(res[1+3*i]), time.Duration(res[2+3*i])*time.Microsecond, time.Duration(res[3+3*i])*time.Microsecond
		binding := rem < d.remaining
		if !d.allowed {
			binding = retry > d.retryAfter
		}
		if binding {
			d.limit, d.remaining, d.retryAfter, d.reset = r.Limit, rem, retry, reset
		}
	}
	return d, nil
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// credential identifies the caller's credential for its budget without keeping it: a hash of the Authorization
// or X-API-Key header. The limiter runs before authentication, so a forged credential gets a budget too, but
// only within its address's budget.
func credential(c *fiber.Ctx) string {
	v := c.Get(fiber.HeaderAuthorization)
	if v == "" {
		v = c.Get("X-API-Key")
	}
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:16])
}
