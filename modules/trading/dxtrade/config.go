package dxtrade

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Config is one DXtrade server and the manager user BrokerDesk acts as. Parse it once in main and pass it to New.
type Config struct {
	// BaseURL is the server's scheme and host, e.g. https://dxtrade.example-broker.com.
	BaseURL string
	// AdminPath and TradingPath locate the two APIs under BaseURL (defaults /dxweb/rest and /dxsca-web).
	AdminPath   string
	TradingPath string

	// Username, Domain and Password are the API user's credentials (POST /login {username, domain, password}).
	// New users registered by CreateAccount are placed in the same Domain.
	Username string
	Domain   string
	Password string

	// BrokerCode owns the users CreateAccount registers; ClearingCode is the clearing every account lives in.
	BrokerCode   string
	ClearingCode string

	// AccountCodes decides the account code (the CRM's login) CreateAccount uses when no login is requested.
	AccountCodes AccountCodeScheme

	// UserAgent is sent on every call; DXtrade rejects calls without one. Default "BrokerDesk-DXtrade/1".
	UserAgent string
	// HTTPClient carries the calls (default: a client with its own keep-alive transport). Timeout bounds each
	// attempt (default 30s), whatever the client's own timeout.
	HTTPClient *http.Client
	Timeout    time.Duration

	// RateLimit and RateBurst cap this connector's calls per second to the server (default 20/s, burst 20), so a
	// sync job cannot earn the whole manager user a 429. rate.Inf disables the limit.
	RateLimit rate.Limit
	RateBurst int
	// MaxRetries is how often a call refused with 429, a 5xx or a transport failure is tried again (default 4,
	// negative for never);
	// RetryBaseDelay is the first back-off (default 250ms), doubling up to 10s, never shorter than Retry-After.
	MaxRetries     int
	RetryBaseDelay time.Duration

	// LeverageCategories maps leverage N (1:N) to the name of its Margining category on the server. Only these
	// leverages can be set; the largest is Capabilities().MaxLeverage.
	LeverageCategories map[int]string
	// FinancingStandard and FinancingSwapFree are the Financing categories for normal swaps and for swap-free.
	FinancingStandard string
	FinancingSwapFree string
	// GroupDomain is the category domain whose value is the CRM's "group" (default "Trading").
	GroupDomain string

	// InsufficientFundsCodes are the errorCode values that mean "not enough money" on a withdrawal (default
	// INSUFFICIENT_FUNDS). Devexperts does not publish this code: check a refused withdrawal on your staging server.
	InsufficientFundsCodes []string

	// Logger receives one line per retry, re-login and failure; never passwords or session tokens.
	Logger *slog.Logger
}

// AccountCodeScheme generates account codes for accounts the CRM opens without asking for a login: Prefix followed
// by Digits decimal digits (default 10, first digit never 0). With an OperationID the digits are derived from it,
// so a retried CreateAccount asks for the same code and finds the account it made; without one they are random.
type AccountCodeScheme struct {
	Prefix string
	Digits int
}

// code returns the attempt-th candidate code. Attempts past 0 exist because another account may already hold a
// derived code; the sequence is deterministic per OperationID, so a retry walks the same candidates.
func (s AccountCodeScheme) code(operationID string, attempt int) (string, error) {
	digits := s.Digits
	// 10^(digits-1) .. 10^digits-1 keeps every code the same length.
	low := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits-1)), nil)
	span := new(big.Int).Sub(new(big.Int).Mul(low, big.NewInt(10)), low)
	var n *big.Int
	if operationID == "" {
		r, err := rand.Int(rand.Reader, span)
		if err != nil {
			return "", fmt.Errorf("random account code: %w", err)
		}
		n = r
	} else {
		var salt [8]byte
		binary.BigEndian.PutUint64(salt[:], uint64(attempt))
		h := sha256.Sum256(append(append([]byte("brokerdesk/dxtrade/account/"), salt[:]...), operationID...))
		n = new(big.Int).Mod(new(big.Int).SetBytes(h[:]), span)
	}
	return s.Prefix + n.Add(n, low).String(), nil
}

// Defaults for Config; exported values are documented on the fields.
const (
	defaultAdminPath      = "/dxweb/rest"
	defaultTradingPath    = "/dxsca-web"
	defaultUserAgent      = "BrokerDesk-DXtrade/1"
	defaultTimeout        = 30 * time.Second
	defaultRateLimit      = 20
	defaultMaxRetries     = 4
	defaultRetryBaseDelay = 250 * time.Millisecond
	defaultGroupDomain    = "Trading"
	defaultCodeDigits     = 10
	maxRetryDelay         = 10 * time.Second

	domainMargining = "Margining"
	domainFinancing = "Financing"
)

// codeRE is what the connector accepts as a code that goes into a URL path: DXtrade codes are plain identifiers,
// and refusing anything else keeps "/" or ".." out of the paths we build.
var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// withDefaults checks c and fills in defaults; New calls it once.
func (c Config) withDefaults() (Config, error) {
	var problems []string
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		problems = append(problems, "BaseURL must be an http(s) URL with a host")
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.AdminPath == "" {
		c.AdminPath = defaultAdminPath
	}
	if c.TradingPath == "" {
		c.TradingPath = defaultTradingPath
	}
	c.AdminPath = "/" + strings.Trim(c.AdminPath, "/")
	c.TradingPath = "/" + strings.Trim(c.TradingPath, "/")
	for name, v := range map[string]string{
		"Username": c.Username, "Domain": c.Domain, "Password": c.Password,
		"FinancingStandard": c.FinancingStandard, "FinancingSwapFree": c.FinancingSwapFree,
	} {
		if v == "" {
			problems = append(problems, name+" is required")
		}
	}
	for name, v := range map[string]string{"BrokerCode": c.BrokerCode, "ClearingCode": c.ClearingCode} {
		if !codeRE.MatchString(v) {
			problems = append(problems, name+" must be a plain code (letters, digits, . _ -)")
		}
	}
	if c.FinancingStandard != "" && c.FinancingStandard == c.FinancingSwapFree {
		problems = append(problems, "FinancingStandard and FinancingSwapFree must differ, or swap-free cannot be read back")
	}
	if len(c.LeverageCategories) == 0 {
		problems = append(problems, "LeverageCategories needs at least one leverage")
	}
	seen := map[string]int{}
	for lev, name := range c.LeverageCategories {
		if lev < 1 || name == "" {
			problems = append(problems, fmt.Sprintf("LeverageCategories: 1:%d -> %q is not a leverage and a name", lev, name))
		}
		if other, dup := seen[name]; dup {
			problems = append(problems, fmt.Sprintf("LeverageCategories: %q is used for 1:%d and 1:%d", name, other, lev))
		}
		seen[name] = lev
	}
	if c.AccountCodes.Digits == 0 {
		c.AccountCodes.Digits = defaultCodeDigits
	}
	if c.AccountCodes.Digits < 6 || c.AccountCodes.Digits > 18 {
		problems = append(problems, "AccountCodes.Digits must be 6..18")
	}
	if c.AccountCodes.Prefix != "" && !codeRE.MatchString(c.AccountCodes.Prefix) {
		problems = append(problems, "AccountCodes.Prefix must be letters, digits, . _ -")
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.RateLimit == 0 {
		c.RateLimit = defaultRateLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = defaultRateLimit
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = defaultMaxRetries
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = defaultRetryBaseDelay
	}
	if c.GroupDomain == "" {
		c.GroupDomain = defaultGroupDomain
	}
	if c.GroupDomain == domainMargining || c.GroupDomain == domainFinancing {
		problems = append(problems, "GroupDomain must not be Margining or Financing: leverage and swap-free own those")
	}
	if len(c.InsufficientFundsCodes) == 0 {
		c.InsufficientFundsCodes = []string{"INSUFFICIENT_FUNDS"}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(problems) > 0 {
		sort.Strings(problems) // map iteration above has no order; operators diff these messages
		return c, fmt.Errorf("dxtrade config: %w", errors.New(strings.Join(problems, "; ")))
	}
	return c, nil
}
