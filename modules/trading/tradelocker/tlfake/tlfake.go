// Package tlfake is a protocol-faithful stand-in for the TradeLocker Brand API, for tests: a server started on
// httptest that speaks the documented paths, headers (brand-api-key, Idempotency-Key), JSON shapes and statuses,
// keeps users, accounts, groups (leverage and swap-free are properties of the group), balance operations and
// closed trades, and injects the faults a connector must survive (a money answer lost after the money moved, rate
// limits with Retry-After, slow answers). The tradelocker connector's own tests, the contract suite and the
// trading desk's flows run against it, in the spirit of net/http/httptest.
//
// It imports nothing of the connector, so a connector that drifts from the protocol fails against it.
package tlfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Server is a protocol-faithful TradeLocker Brand API over real HTTP: the same paths, headers, JSON shapes (decimal
// strings, NestJS-style error bodies), statuses and rules the connector meets in production, so the connector's
// code paths are the production ones. What the public documentation does not say is marked "inferred" and decided
// the way docs/trading/tradelocker.md describes.
type Server struct {
	srv    *httptest.Server
	apiKey string

	mu          sync.Mutex
	users       map[string]*User
	userByEmail map[string]string
	accounts    map[string]*Account
	groups      map[string]Group
	idem        map[string]fakeStored
	deals       map[string][]fakeDeal
	moves       map[string]int
	seq         int
	calls       []Call
	windows     []Window

	// Fault injection and protocol switches.
	rateLimitNext  int
	retryAfter     string
	dropNextMoney  int
	slowNext       int
	release        chan struct{}
	reportPageSize int  // > 0: the report pages inside a window with links.next (inferred to exist)
	noReplayMarker bool // answer replays without the Idempotent-Replayed header
}

// User is a user of the brand, as the platform holds it.
type User struct {
	ID, Email, Password, FirstName, LastName string
}

// Account is a trading account as the platform holds it; Group is its group's id.
type Account struct {
	ID, UserID, Name, Group, Currency, Type, Status string
	Balance, Credit                                 decimal.Decimal
}

// Group is one of the brand's groups: leverage and swap-free are the group's.
type Group struct {
	ID, Name string
	Leverage int
	SwapFree bool
}

type fakeStored struct {
	fingerprint string
	status      int
	body        []byte
}

type fakeDeal struct {
	close time.Time
	row   map[string]string
}

// Call is one request the fake answered (or dropped), for tests that check what went over the wire.
type Call struct {
	Path, IdemKey string
	Status        int // 0: the answer was dropped
	Replayed      bool
}

// Window is one report query's [start, end].
type Window struct{ Start, End time.Time }

// fakeResp is a route's answer. moved says money moved, which makes the answer droppable.
type fakeResp struct {
	status int
	body   any
	moved  bool
}

// APIKey is the brand API key the fake accepts.
const APIKey = "tl-test-key-9f8e7d6c5b4a"

// ReplayedHeader marks an answer replayed for a repeated Idempotency-Key (inferred; docs/trading/tradelocker.md).
const ReplayedHeader = "Idempotent-Replayed"

// Groups is the fake brand's group set.
var Groups = []Group{
	{"1001", "Standard 1:100", 100, false},
	{"1002", "Standard 1:100 swap-free", 100, true},
	{"1003", "Standard 1:50", 50, false},
	{"1004", "Standard 1:50 swap-free", 50, true},
	{"1005", "Standard 1:500", 500, false},
	{"1006", "Standard 1:500 swap-free", 500, true},
	{"2001", "Pro 1:100", 100, false},
	{"2002", "Pro 1:100 swap-free", 100, true},
}

// Family is the group's offer as a CRM's account type names it ("standard", "pro"): the first word of its name.
// A connector's group catalogue maps account type, leverage and swap-free to these groups.
func (g Group) Family() string {
	name, _, _ := strings.Cut(g.Name, " ")
	return strings.ToLower(name)
}

// New starts a fake brand API on a local HTTP address, closed when the test ends; its base URL is URL() and the
// key it accepts APIKey.
func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{
		apiKey:      APIKey,
		users:       map[string]*User{},
		userByEmail: map[string]string{},
		accounts:    map[string]*Account{},
		groups:      map[string]Group{},
		idem:        map[string]fakeStored{},
		deals:       map[string][]fakeDeal{},
		moves:       map[string]int{},
		retryAfter:  "0",
		release:     make(chan struct{}),
	}
	for _, g := range Groups {
		f.groups[g.ID] = g
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

var moneyPaths = map[string]bool{
	"/brand-api/v1/account-operations/deposit":  true,
	"/brand-api/v1/account-operations/withdraw": true,
	"/brand-api/v1/account-operations/credit":   true,
}

// keyedPaths are the calls that honour Idempotency-Key (platforms.md).
var keyedPaths = map[string]bool{
	"/brand-api/v1/users/create":                true,
	"/brand-api/v1/accounts/create":             true,
	"/brand-api/v1/account-operations/deposit":  true,
	"/brand-api/v1/account-operations/withdraw": true,
	"/brand-api/v1/account-operations/credit":   true,
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	key := r.Header.Get("Idempotency-Key")

	f.mu.Lock()
	resp, hdr := f.answer(r, body, key)
	call := Call{Path: r.URL.Path, IdemKey: key, Status: resp.status, Replayed: hdr.Get(ReplayedHeader) == "true"}
	// A replayed money answer can be lost too; only refusals (nothing moved) always get through.
	drop := f.dropNextMoney > 0 && (resp.moved || (call.Replayed && moneyPaths[r.URL.Path]))
	if drop {
		f.dropNextMoney--
		call.Status = 0
	}
	slow := !drop && f.slowNext > 0
	if slow {
		f.slowNext--
	}
	f.calls = append(f.calls, call)
	f.mu.Unlock()

	if drop {
		// The money has moved and the answer is stored for replay; the client only sees the connection die.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if slow {
		select {
		case <-r.Context().Done():
			return
		case <-f.release:
		}
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

// answer decides the reply under f.mu: auth, rate limit, idempotency store, then the route.
func (f *Server) answer(r *http.Request, body []byte, key string) (fakeResp, http.Header) {
	hdr := http.Header{}
	if r.URL.Path != "/brand-api/alive" && r.Header.Get("brand-api-key") != f.apiKey {
		return fakeErr(http.StatusUnauthorized, "Invalid brand api key"), hdr
	}
	if f.rateLimitNext > 0 {
		f.rateLimitNext--
		hdr.Set("Retry-After", f.retryAfter)
		return fakeErr(http.StatusTooManyRequests, "ThrottlerException: Too Many Requests"), hdr
	}
	keyed := key != "" && keyedPaths[r.URL.Path]
	fingerprint := r.Method + " " + r.URL.Path + " " + string(body)
	if keyed {
		if s, ok := f.idem[key]; ok {
			if s.fingerprint != fingerprint {
				return fakeErr(http.StatusConflict, "Idempotency-Key was already used with a different request"), hdr
			}
			if !f.noReplayMarker {
				hdr.Set(ReplayedHeader, "true")
			}
			return fakeResp{status: s.status, body: json.RawMessage(s.body)}, hdr
		}
	}
	resp := f.route(r, body)
	if keyed && resp.status >= 200 && resp.status < 300 {
		// Only successes are stored (inferred): a refused withdrawal may be retried once the money is there.
		b, _ := json.Marshal(resp.body)
		f.idem[key] = fakeStored{fingerprint: fingerprint, status: resp.status, body: b}
	}
	return resp, hdr
}

func fakeErr(status int, msg string) fakeResp {
	return fakeResp{status: status, body: map[string]any{
		"statusCode": status, "message": msg, "error": http.StatusText(status),
	}}
}

// decodeStrict mirrors the platform's validation pipe: unknown fields are refused, so a connector that misspells a
// field fails here as it would in production.
func decodeStrict(body []byte, v any) *fakeResp {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r := fakeErr(http.StatusBadRequest, "invalid body: "+err.Error())
		return &r
	}
	return nil
}

func (f *Server) route(r *http.Request, body []byte) fakeResp {
	type route struct {
		method string
		fn     func([]byte) fakeResp
	}
	routes := map[string]route{
		"/brand-api/alive":                                  {http.MethodGet, func([]byte) fakeResp { return fakeResp{status: 200, body: map[string]string{"status": "ok"}} }},
		"/brand-api/v1/groups/all":                          {http.MethodPost, f.groupsAll},
		"/brand-api/v1/users/check-by-email":                {http.MethodPost, f.checkByEmail},
		"/brand-api/v1/users/create":                        {http.MethodPost, f.createUser},
		"/brand-api/v1/users/set-password":                  {http.MethodPost, f.setPassword},
		"/brand-api/v1/accounts/create":                     {http.MethodPost, f.createAccount},
		"/brand-api/v1/accounts/details":                    {http.MethodPost, f.details},
		"/brand-api/v1/accounts/set-group":                  {http.MethodPut, f.setGroup},
		"/brand-api/v1/accounts/activate":                   {http.MethodPut, f.status("ACTIVE")},
		"/brand-api/v1/accounts/restrict":                   {http.MethodPut, f.status("RESTRICTED")},
		"/brand-api/v1/accounts/suspend":                    {http.MethodPut, f.status("SUSPENDED")},
		"/brand-api/v1/account-operations/deposit":          {http.MethodPost, f.money("deposit")},
		"/brand-api/v1/account-operations/withdraw":         {http.MethodPost, f.money("withdraw")},
		"/brand-api/v1/account-operations/credit":           {http.MethodPost, f.money("credit")},
		"/brand-api/v1/positions/get-open-positions":        {http.MethodPost, f.openPositions},
		"/brand-api/v2/reports/close-trades-history-report": {http.MethodPost, f.closeTradesReport},
	}
	rt, ok := routes[r.URL.Path]
	if !ok {
		return fakeErr(http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	}
	if r.Method != rt.method {
		return fakeErr(http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	}
	return rt.fn(body)
}

func (f *Server) nextID(base int) string {
	f.seq++
	return strconv.Itoa(base + f.seq)
}

func validType(t string) bool { return t == "DEMO" || t == "LIVE" }

func (f *Server) groupsAll(body []byte) fakeResp {
	var req struct {
		Type string `json:"type"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	if !validType(req.Type) {
		return fakeErr(400, "type must be one of the following values: DEMO, LIVE")
	}
	var data []map[string]string
	for _, g := range Groups {
		data = append(data, map[string]string{"id": g.ID, "name": g.Name})
	}
	return fakeResp{status: 200, body: map[string]any{"data": data}}
}

func (f *Server) checkByEmail(body []byte) fakeResp {
	var req struct {
		Email string `json:"email"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	id, ok := f.userByEmail[strings.ToLower(req.Email)]
	if !ok {
		return fakeErr(404, "User not found")
	}
	return fakeResp{status: 200, body: map[string]string{"userId": id}}
}

// weakPassword is the fake's password rule (inferred from the platform's sign-up rules): at least 8 characters.
func weakPassword(p string) bool { return len(p) < 8 }

func (f *Server) createUser(body []byte) fakeResp {
	var req struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	if !strings.Contains(req.Email, "@") {
		return fakeErr(400, "email must be an email")
	}
	if weakPassword(req.Password) {
		return fakeErr(400, "password must be longer than or equal to 8 characters")
	}
	if _, dup := f.userByEmail[strings.ToLower(req.Email)]; dup {
		return fakeErr(409, "User with this email already exists")
	}
	u := &User{ID: "u-" + f.nextID(0), Email: req.Email, Password: req.Password, FirstName: req.FirstName, LastName: req.LastName}
	f.users[u.ID] = u
	f.userByEmail[strings.ToLower(req.Email)] = u.ID
	return fakeResp{status: 201, body: map[string]string{"userId": u.ID}}
}

func (f *Server) setPassword(body []byte) fakeResp {
	var req struct {
		UserID   string `json:"userId"`
		Password string `json:"password"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	u, ok := f.users[req.UserID]
	if !ok {
		return fakeErr(404, "User not found")
	}
	if weakPassword(req.Password) {
		return fakeErr(400, "password must be longer than or equal to 8 characters")
	}
	u.Password = req.Password
	return fakeResp{status: 200, body: map[string]any{}}
}

func (f *Server) createAccount(body []byte) fakeResp {
	var req struct {
		UserID      string `json:"userId"`
		AccountName string `json:"accountName"`
		Type        string `json:"type"`
		Currency    string `json:"currency"`
		GroupID     string `json:"groupId"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	if !validType(req.Type) {
		return fakeErr(400, "type must be one of the following values: DEMO, LIVE")
	}
	if len(req.Currency) != 3 || strings.ToUpper(req.Currency) != req.Currency {
		return fakeErr(400, "currency must be a valid ISO 4217 currency code")
	}
	if _, ok := f.users[req.UserID]; !ok {
		return fakeErr(404, "User not found")
	}
	if _, ok := f.groups[req.GroupID]; !ok {
		return fakeErr(400, "Group "+req.GroupID+" does not exist")
	}
	a := &Account{ID: f.nextID(700000), UserID: req.UserID, Name: req.AccountName, Group: req.GroupID,
		Currency: req.Currency, Type: req.Type, Status: "ACTIVE"}
	f.accounts[a.ID] = a
	return fakeResp{status: 201, body: map[string]string{"accountId": a.ID, "accountName": a.Name}}
}

// accountFor is the platform's lookup of an accountId: 404 when unknown (inferred; see the docs).
func (f *Server) accountFor(body []byte) (*Account, *fakeResp) {
	var req struct {
		AccountID string `json:"accountId"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return nil, e
	}
	a, ok := f.accounts[req.AccountID]
	if !ok {
		r := fakeErr(404, "Account "+req.AccountID+" not found")
		return nil, &r
	}
	return a, nil
}

func (f *Server) details(body []byte) fakeResp {
	a, e := f.accountFor(body)
	if e != nil {
		return *e
	}
	equity := a.Balance.Add(a.Credit)
	return fakeResp{status: 200, body: map[string]any{
		"accountId": a.ID, "accountName": a.Name, "userId": a.UserID, "userGroupId": a.Group, "type": a.Type,
		"status": a.Status, "tradingDisabledReason": nil, "currency": a.Currency,
		"leverage": strconv.Itoa(f.groups[a.Group].Leverage),
		"balance":  a.Balance.StringFixed(2), "credit": a.Credit.StringFixed(2), "equity": equity.StringFixed(2),
		"pnl": "0.00", "marginAvailable": equity.StringFixed(2), "marginUsed": "0.00",
		"createdDateTime": "2025-01-01T00:00:00.000Z",
	}}
}

func (f *Server) setGroup(body []byte) fakeResp {
	var req struct {
		AccountID  string `json:"accountId"`
		NewGroupID string `json:"newGroupId"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	a, ok := f.accounts[req.AccountID]
	if !ok {
		return fakeErr(404, "Account "+req.AccountID+" not found")
	}
	if _, ok := f.groups[req.NewGroupID]; !ok {
		return fakeErr(400, "Group "+req.NewGroupID+" does not exist")
	}
	a.Group = req.NewGroupID
	return fakeResp{status: 200, body: map[string]any{"accountId": a.ID, "groupId": a.Group}}
}

func (f *Server) status(s string) func([]byte) fakeResp {
	return func(body []byte) fakeResp {
		a, e := f.accountFor(body)
		if e != nil {
			return *e
		}
		a.Status = s
		return fakeResp{status: 200, body: map[string]string{"accountId": a.ID, "status": s}}
	}
}

// money applies deposit, withdraw and credit. A withdrawal (or credit removal) beyond what the account holds is a
// 400 whose message says so (inferred: the platform declares only 400 for these calls).
func (f *Server) money(kind string) func([]byte) fakeResp {
	return func(body []byte) fakeResp {
		var req struct {
			AccountID string `json:"accountId"`
			Amount    string `json:"amount"`
			Note      string `json:"note"`
		}
		if e := decodeStrict(body, &req); e != nil {
			return *e
		}
		amount, err := decimal.NewFromString(req.Amount)
		if err != nil {
			return fakeErr(400, "amount must be a number string")
		}
		a, ok := f.accounts[req.AccountID]
		if !ok {
			return fakeErr(404, "Account "+req.AccountID+" not found")
		}
		switch kind {
		case "deposit":
			if !amount.IsPositive() {
				return fakeErr(400, "amount must be a positive number")
			}
			a.Balance = a.Balance.Add(amount)
		case "withdraw":
			if !amount.IsPositive() {
				return fakeErr(400, "amount must be a positive number")
			}
			if amount.GreaterThan(a.Balance) {
				return fakeErr(400, "Insufficient funds: available balance is "+a.Balance.StringFixed(2))
			}
			a.Balance = a.Balance.Sub(amount)
		case "credit":
			if amount.IsZero() {
				return fakeErr(400, "amount must not be zero")
			}
			if a.Credit.Add(amount).IsNegative() {
				return fakeErr(400, "Insufficient credit: available credit is "+a.Credit.StringFixed(2))
			}
			a.Credit = a.Credit.Add(amount)
		}
		f.moves[a.ID]++
		return fakeResp{status: 200, body: map[string]string{"operationId": f.nextID(900000)}, moved: true}
	}
}

func (f *Server) openPositions(body []byte) fakeResp {
	var req struct {
		Type      string `json:"type"`
		AccountID string `json:"accountId"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	if !validType(req.Type) {
		return fakeErr(400, "type must be one of the following values: DEMO, LIVE")
	}
	if _, ok := f.accounts[req.AccountID]; !ok {
		return fakeErr(404, "Account "+req.AccountID+" not found")
	}
	return fakeResp{status: 200, body: map[string]any{"data": []any{}}}
}

// closeTradesReport enforces the 31-day window rule and answers the closed trades whose close time lies within
// [startDateTime, endDateTime], newest first. The end is inclusive here on purpose (the documentation does not say):
// the connector must not count a trade at a window boundary twice either way.
func (f *Server) closeTradesReport(body []byte) fakeResp {
	var req struct {
		Type          string   `json:"type"`
		AccountIDs    []string `json:"accountIds"`
		StartDateTime string   `json:"startDateTime"`
		EndDateTime   string   `json:"endDateTime"`
		Cursor        string   `json:"cursor"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return *e
	}
	if !validType(req.Type) {
		return fakeErr(400, "type must be one of the following values: DEMO, LIVE")
	}
	start, err1 := time.Parse(time.RFC3339Nano, req.StartDateTime)
	end, err2 := time.Parse(time.RFC3339Nano, req.EndDateTime)
	if err1 != nil || err2 != nil || !strings.HasSuffix(req.StartDateTime, "Z") || !strings.HasSuffix(req.EndDateTime, "Z") {
		return fakeErr(400, "startDateTime and endDateTime must be UTC ISO 8601 date strings")
	}
	if end.Before(start) {
		return fakeErr(400, "endDateTime must be after startDateTime")
	}
	if end.Sub(start) > 31*24*time.Hour {
		return fakeErr(400, "The range between startDateTime and endDateTime can be a maximum of 31 days")
	}
	f.windows = append(f.windows, Window{start, end})
	var rows []fakeDeal
	for _, id := range req.AccountIDs {
		if _, ok := f.accounts[id]; !ok {
			return fakeErr(404, "Account "+id+" not found")
		}
		for _, d := range f.deals[id] {
			if !d.close.Before(start) && !d.close.After(end) {
				rows = append(rows, d)
			}
		}
	}
	slices.SortFunc(rows, func(a, b fakeDeal) int { return b.close.Compare(a.close) })
	data := make([]map[string]string, 0, len(rows))
	for _, d := range rows {
		data = append(data, d.row)
	}
	links := map[string]any{"next": nil}
	if f.reportPageSize > 0 {
		off := 0
		if req.Cursor != "" {
			var err error
			if off, err = strconv.Atoi(req.Cursor); err != nil || off < 0 || off > len(data) {
				return fakeErr(400, "cursor must be an integer string")
			}
		}
		endAt := min(off+f.reportPageSize, len(data))
		if endAt < len(data) {
			links["next"] = map[string]any{"params": map[string]any{"cursor": strconv.Itoa(endAt)}}
		}
		data = data[off:endAt]
	}
	return fakeResp{status: 200, body: map[string]any{"data": data, "links": links}}
}

// Fault injection and inspection, for the tests and the contract Env.

// RateLimitNext answers the next n calls 429 with Retry-After.

func (f *Server) RateLimitNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimitNext = n
}

// DropNextMoneyAnswers applies the next n money operations (or replays) and closes the connection instead of
// answering: the answer lost after the money moved.
func (f *Server) DropNextMoneyAnswers(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNextMoney = n
}

// MoneyDropsPending is how many money answers are still to be dropped: 0 once every drop asked for has happened.
func (f *Server) MoneyDropsPending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropNextMoney
}

// SlowNext holds the next n answers until the client gives up (or the test ends).
func (f *Server) SlowNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slowNext = n
}

// SetRetryAfter is the Retry-After the fake sends with a 429 (default "0").
func (f *Server) SetRetryAfter(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = v
}

// SetReportPageSize makes the closed-trades report page inside a window with links.next (inferred to exist); 0
// answers a window in one page.
func (f *Server) SetReportPageSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reportPageSize = n
}

// OmitReplayMarker answers replays without the Idempotent-Replayed header, as a platform that does not send it.
func (f *Server) OmitReplayMarker() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noReplayMarker = true
}

// SeedDeals books n closed trades for login, trade i closing at from + i*(to-from)/n (whole milliseconds, the
// platform's precision).
func (f *Server) SeedDeals(login string, n int, from, to time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	span := to.Sub(from)
	for i := range n {
		// span/n*i plus the remainder's share keeps i*span/n exact without overflowing on long spans.
		off := span/time.Duration(n)*time.Duration(i) + span%time.Duration(n)*time.Duration(i)/time.Duration(n)
		at := from.Add(off).Truncate(time.Millisecond).UTC()
		id := f.nextID(5_000_000)
		side := "Buy"
		if i%2 == 1 {
			side = "Sell"
		}
		f.deals[login] = append(f.deals[login], fakeDeal{close: at, row: map[string]string{
			"accountId": login, "instrument": "EURUSD", "orderType": "Market", "positionSide": side,
			"openMilliseconds":  strconv.FormatInt(at.Add(-time.Hour).UnixMilli(), 10),
			"closeMilliseconds": strconv.FormatInt(at.UnixMilli(), 10), "closeAmount": "0.10",
			"openAmount": "0.10", "averageOpenPrice": "1.08210", "closePrice": "1.08345",
			"closeTradeId": id, "openTradeId": "o" + id, "closeOrderId": "co" + id, "openOrderId": "oo" + id,
			"positionId": "p" + id, "commission": "-0.70", "swap": "-0.12", "profit": "13.50", "netProfit": "12.68",
		}})
	}
}

// BalanceOps is how many money operations moved money on the account.
func (f *Server) BalanceOps(login string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moves[login]
}

// Account is a copy of the account with this id (its login); the zero Account when there is none.
func (f *Server) Account(login string) Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[login]
	if !ok {
		return Account{}
	}
	return *a
}

// User is a copy of the user with this id; the zero User when there is none.
func (f *Server) User(id string) User {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[id]; ok {
		return *u
	}
	return User{}
}

// CallsTo lists the calls to path (under /brand-api/) in the order they came.
func (f *Server) CallsTo(path string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if c.Path == "/brand-api/"+path {
			out = append(out, c)
		}
	}
	return out
}

// ReportWindows lists the closed-trades report windows asked for.
func (f *Server) ReportWindows() []Window {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.windows)
}

// URL is the base URL (the connector adds /brand-api/).
func (f *Server) URL() string { return f.srv.URL }

func (f *Server) String() string { return fmt.Sprintf("fake TradeLocker at %s", f.srv.URL) }
