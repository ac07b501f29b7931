package tradelocker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// text is a JSON value the Brand API sends as a string but that some fields (ids, milliseconds) may carry as a
// number. It keeps the literal text, so a decimal never passes through float64.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		// Fast path: the decoder has already checked the token, and report rows carry thousands of these.
		if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
			*t = text(strings.TrimSpace(string(b[1 : len(b)-1])))
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(strings.TrimSpace(s))
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		if !json.Valid(b) {
			return fmt.Errorf("invalid number %q", b)
		}
		*t = text(b)
	default:
		return fmt.Errorf("want a string or a number, got %.20q", b)
	}
	return nil
}

// money parses an exact decimal. Length and exponent are bounded because "1e999999999" is a valid decimal whose
// String() would allocate a gigabyte: corrupt platform data must fail here, not in a report later.
func money(field string, t text) (decimal.Decimal, error) {
	if len(t) > 64 {
		return decimal.Decimal{}, fmt.Errorf("%s is %d characters long, not an amount", field, len(t))
	}
	d, err := decimal.NewFromString(string(t))
	if err != nil || d.Exponent() < -30 || d.Exponent() > 30 {
		return decimal.Decimal{}, fmt.Errorf("%s %q is not a decimal amount", field, string(t))
	}
	return d, nil
}

// moneyOr parses t, or returns def when the field is absent.
func moneyOr(field string, t text, def decimal.Decimal) (decimal.Decimal, error) {
	if t == "" {
		return def, nil
	}
	return money(field, t)
}

type userIDAnswer struct {
	UserID text `json:"userId"`
}

// parseUserID reads the answer of users/create and users/check-by-email.
func parseUserID(body []byte) (string, error) {
	var a userIDAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", err
	}
	if a.UserID == "" {
		return "", errors.New("no userId in the answer")
	}
	return string(a.UserID), nil
}

type accountIDAnswer struct {
	AccountID text `json:"accountId"`
}

func parseAccountID(body []byte) (string, error) {
	var a accountIDAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", err
	}
	if a.AccountID == "" {
		return "", errors.New("no accountId in the answer")
	}
	return string(a.AccountID), nil
}

type operationAnswer struct {
	OperationID text `json:"operationId"`
}

func parseOperationID(body []byte) (string, error) {
	var a operationAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", err
	}
	if a.OperationID == "" {
		return "", errors.New("no operationId in the answer")
	}
	return string(a.OperationID), nil
}

// accountDetails is v1/accounts/details. Money arrives as decimal strings.
type accountDetails struct {
	AccountID             text            `json:"accountId"`
	UserID                text            `json:"userId"`
	UserGroupID           text            `json:"userGroupId"`
	GroupID               text            `json:"groupId"`
	Status                string          `json:"status"`
	TradingDisabledReason json.RawMessage `json:"tradingDisabledReason"`
	Currency              string          `json:"currency"`
	Leverage              text            `json:"leverage"`
	Balance               text            `json:"balance"`
	Credit                text            `json:"credit"`
	Equity                text            `json:"equity"`
	MarginUsed            text            `json:"marginUsed"`
	MarginAvailable       text            `json:"marginAvailable"`
}

// details is the parsed account state; leverage is 0 when the platform did not say.
type details struct {
	account trading.Account
	userID  string
}

// parseDetails reads v1/accounts/details. Leverage and swap-free are filled in by the caller from the catalogue
// when the answer does not carry them.
func parseDetails(body []byte) (details, error) {
	var d accountDetails
	if err := json.Unmarshal(body, &d); err != nil {
		return details{}, err
	}
	if d.AccountID == "" {
		return details{}, errors.New("no accountId in the answer")
	}
	var err error
	a := trading.Account{
		Login:    string(d.AccountID),
		Group:    string(d.UserGroupID),
		Currency: strings.ToUpper(strings.TrimSpace(d.Currency)),
		Access:   accessOf(d.Status, d.TradingDisabledReason),
	}
	if a.Group == "" {
		a.Group = string(d.GroupID)
	}
	if d.Leverage != "" {
		lev, ok := parseLeverage(string(d.Leverage))
		if !ok {
			return details{}, fmt.Errorf("leverage %q is not 1:N", string(d.Leverage))
		}
		a.Leverage = lev
	}
	if d.Balance == "" {
		return details{}, errors.New("no balance in the answer")
	}
	if a.Balance, err = money("balance", d.Balance); err != nil {
		return details{}, err
	}
	if a.Credit, err = moneyOr("credit", d.Credit, decimal.Zero); err != nil {
		return details{}, err
	}
	if a.Equity, err = moneyOr("equity", d.Equity, a.Balance.Add(a.Credit)); err != nil {
		return details{}, err
	}
	if a.Margin, err = moneyOr("marginUsed", d.MarginUsed, decimal.Zero); err != nil {
		return details{}, err
	}
	if a.FreeMargin, err = moneyOr("marginAvailable", d.MarginAvailable, a.Equity.Sub(a.Margin)); err != nil {
		return details{}, err
	}
	return details{account: a, userID: string(d.UserID)}, nil
}

// accessOf maps the account status. ACTIVE with a tradingDisabledReason (a risk rule fired) can log in but not
// trade. A status we do not know reads as fully disabled: the safe side for a CRM deciding what a client may do.
func accessOf(status string, disabledReason json.RawMessage) trading.Access {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "ACTIVE":
		r := bytes.TrimSpace(disabledReason)
		return trading.Access{LoginEnabled: true, TradingEnabled: len(r) == 0 || string(r) == "null"}
	case "RESTRICTED":
		return trading.Access{LoginEnabled: true}
	default: // SUSPENDED and anything new
		return trading.Access{}
	}
}

// parseLeverage accepts "100", "1:100" and "100.00". It avoids general decimal parsing on purpose: an exponent
// such as "1e999999999" must not reach a big-number comparison.
func parseLeverage(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "1:"); ok {
		s = rest
	}
	if whole, frac, ok := strings.Cut(s, "."); ok {
		if strings.Trim(frac, "0") != "" {
			return 0, false
		}
		s = whole
	}
	if len(s) == 0 || len(s) > 7 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, false
	}
	return n, true
}

// positionRow is one entry of v1/positions/get-open-positions.
type positionRow struct {
	PositionID   text   `json:"positionId"`
	AccountID    text   `json:"accountId"`
	Lots         text   `json:"lots"`
	OpenDateTime string `json:"openDateTime"`
	PnL          text   `json:"pnl"`
	Swap         text   `json:"swap"`
	OpenPrice    text   `json:"openPrice"`
	Side         string `json:"side"`
	Instrument   string `json:"instrument"`
}

func parsePositions(body []byte, login string) ([]trading.Position, error) {
	var a struct {
		Data []positionRow `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	out := make([]trading.Position, 0, len(a.Data))
	for i, r := range a.Data {
		p, err := r.position(login)
		if err != nil {
			return nil, fmt.Errorf("position %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (r positionRow) position(login string) (trading.Position, error) {
	p := trading.Position{ID: string(r.PositionID), Login: login, Symbol: r.Instrument}
	if r.AccountID != "" {
		p.Login = string(r.AccountID)
	}
	switch strings.ToUpper(r.Side) {
	case "BUY", "BUY_TO_COVER":
		p.Side = trading.Buy
	case "SELL", "SHORT_SELL":
		p.Side = trading.Sell
	default:
		return p, fmt.Errorf("side %q", r.Side)
	}
	var err error
	if p.Volume, err = money("lots", r.Lots); err != nil {
		return p, err
	}
	if p.OpenPrice, err = money("openPrice", r.OpenPrice); err != nil {
		return p, err
	}
	if p.Profit, err = moneyOr("pnl", r.PnL, decimal.Zero); err != nil {
		return p, err
	}
	if p.Swap, err = moneyOr("swap", r.Swap, decimal.Zero); err != nil {
		return p, err
	}
	t, err := time.Parse(time.RFC3339Nano, r.OpenDateTime)
	if err != nil {
		return p, fmt.Errorf("openDateTime %q: %w", r.OpenDateTime, err)
	}
	p.OpenTime = t.UTC()
	return p, nil
}

// groupRow is one entry of v1/groups/all: only an id and a name, which is why the catalogue lives in Config.
type groupRow struct {
	ID   text   `json:"id"`
	Name string `json:"name"`
}

func parseGroups(body []byte) ([]groupRow, error) {
	var a struct {
		Data []groupRow `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	return a.Data, nil
}

// parseMillis reads epoch milliseconds (string or number) as a UTC time.
func parseMillis(t text) (time.Time, error) {
	ms, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("milliseconds %q", string(t))
	}
	// Outside years 1970..2200 is not a trade time but corrupt data; refuse it rather than sort it to the front.
	if ms < 0 || ms > 7258118400000 {
		return time.Time{}, fmt.Errorf("milliseconds %d out of range", ms)
	}
	return time.UnixMilli(ms).UTC(), nil
}
