package tradelocker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Environment is the TradeLocker cluster an account lives on. The Brand API calls it "type" and asks for it on
// account creation, groups and reports; one Connector serves one environment, so a broker with demo and live
// accounts runs two connectors with the same key.
type Environment string

const (
	Demo Environment = "DEMO"
	Live Environment = "LIVE"
)

// Group is one TradeLocker group as the CRM sees it. On TradeLocker leverage and swaps are properties of the group,
// and groups/all only returns ids and names, so the broker declares here which group serves which account type,
// leverage and swap-free variant. SetLeverage and SetSwapFree then become moves between siblings: groups with the
// same AccountType that differ in Leverage or SwapFree.
type Group struct {
	// ID is TradeLocker's groupId; it is also the group name the CRM stores on the account.
	ID string
	// AccountType is the broker's product (e.g. "standard", "pro"); siblings share it.
	AccountType string
	Leverage    int
	SwapFree    bool
}

// Config is everything New needs. Zero values get the defaults documented on each field.
type Config struct {
	// BaseURL is the API host, e.g. https://api.tradelocker.com (production) or https://api-dev.tradelocker.com.
	// A trailing /brand-api is accepted and ignored.
	BaseURL string
	// APIKey is the brand API key, sent as the brand-api-key header. It never appears in logs or errors.
	APIKey      string
	Environment Environment

	// HTTPClient is used when set (its Timeout is then the caller's business); otherwise a client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one HTTP attempt (default 30s). A money call that times out is retried once with the same
	// Idempotency-Key, so a slow platform cannot make money move twice.
	Timeout time.Duration

	// RateLimit is the most requests per second this connector sends (default 5); RateBurst the burst (default 5).
	// TradeLocker limits per brand key, so connectors sharing a key must share the budget between them.
	RateLimit rate.Limit
	RateBurst int
	// RateLimitRetries is how often a 429 answer is retried before ErrRateLimited reaches the caller (default 3).
	RateLimitRetries int
	// RetryBackoff is the first wait after a 429 without Retry-After; it doubles per retry (default 500ms).
	RetryBackoff time.Duration
	// MaxRetryWait caps one wait; a Retry-After longer than this is returned to the caller as ErrRateLimited
	// instead of blocking a worker (default 10s).
	MaxRetryWait time.Duration

	// Groups is the group catalogue (see Group). It must not be empty.
	Groups []Group
	// MaxLeverage is the largest leverage accepted; 0 means the largest in Groups.
	MaxLeverage int

	// IdempotencyPrefix starts every Idempotency-Key this connector derives (default "brokerdesk"). Give each
	// CRM installation sharing one brand key its own prefix, so their operation ids cannot collide.
	IdempotencyPrefix string

	// Logger receives one debug line per HTTP attempt and warnings on retries (default: discard).
	Logger *slog.Logger
}

const (
	defaultTimeout          = 30 * time.Second
	defaultRateLimit        = rate.Limit(5)
	defaultRateBurst        = 5
	defaultRateLimitRetries = 3
	defaultRetryBackoff     = 500 * time.Millisecond
	defaultMaxRetryWait     = 10 * time.Second
	defaultIdempotency      = "brokerdesk"
)

// withDefaults validates c and fills in defaults; the result is what the connector runs with.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	u, err := url.Parse(strings.TrimSpace(c.BaseURL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an http(s) URL", c.BaseURL))
	} else {
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/brand-api")
		u.RawQuery, u.Fragment = "", ""
		c.BaseURL = strings.TrimSuffix(u.String(), "/")
	}
	if strings.TrimSpace(c.APIKey) == "" {
		errs = append(errs, errors.New("APIKey is empty"))
	}
	if c.Environment != Demo && c.Environment != Live {
		errs = append(errs, fmt.Errorf("Environment %q is neither DEMO nor LIVE", c.Environment))
	}
	if len(c.Groups) == 0 {
		errs = append(errs, errors.New("Groups is empty: TradeLocker leverage and swap-free come from groups, so the catalogue is required"))
	}
	if _, err := newCatalogue(c.Groups); err != nil {
		errs = append(errs, err)
	}
	if c.MaxLeverage < 0 {
		errs = append(errs, fmt.Errorf("MaxLeverage %d is negative", c.MaxLeverage))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("tradelocker config: %w", errors.Join(errs...))
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.Timeout}
	}
	if c.RateLimit <= 0 {
		c.RateLimit = defaultRateLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = defaultRateBurst
	}
	if c.RateLimitRetries == 0 {
		c.RateLimitRetries = defaultRateLimitRetries
	}
	if c.RateLimitRetries < 0 {
		c.RateLimitRetries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = defaultRetryBackoff
	}
	if c.MaxRetryWait <= 0 {
		c.MaxRetryWait = defaultMaxRetryWait
	}
	if c.IdempotencyPrefix == "" {
		c.IdempotencyPrefix = defaultIdempotency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// catalogue answers the questions group moves ask: what is this group, and which sibling has that leverage or
// that swap-free setting.
type catalogue struct {
	byID     map[string]Group
	siblings map[siblingKey]Group
	maxLev   int
}

type siblingKey struct {
	accountType string
	leverage    int
	swapFree    bool
}

func newCatalogue(groups []Group) (*catalogue, error) {
	c := &catalogue{byID: map[string]Group{}, siblings: map[siblingKey]Group{}}
	var errs []error
	for _, g := range groups {
		switch {
		case strings.TrimSpace(g.ID) == "":
			errs = append(errs, errors.New("a group has an empty ID"))
			continue
		case g.Leverage < 1:
			errs = append(errs, fmt.Errorf("group %s: leverage %d is below 1", g.ID, g.Leverage))
			continue
		}
		if _, dup := c.byID[g.ID]; dup {
			errs = append(errs, fmt.Errorf("group %s is listed twice", g.ID))
			continue
		}
		k := siblingKey{g.AccountType, g.Leverage, g.SwapFree}
		// Two groups with the same type, leverage and swap setting would make a leverage change ambiguous.
		if other, dup := c.siblings[k]; dup {
			errs = append(errs, fmt.Errorf("groups %s and %s are both account type %q, 1:%d, swap-free %t",
				other.ID, g.ID, g.AccountType, g.Leverage, g.SwapFree))
			continue
		}
		c.byID[g.ID] = g
		c.siblings[k] = g
		c.maxLev = max(c.maxLev, g.Leverage)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *catalogue) group(id string) (Group, bool) {
	g, ok := c.byID[id]
	return g, ok
}

// sibling finds the group of g's account type with the given leverage and swap-free setting.
func (c *catalogue) sibling(g Group, leverage int, swapFree bool) (Group, bool) {
	s, ok := c.siblings[siblingKey{g.AccountType, leverage, swapFree}]
	return s, ok
}
