// Package dxfake is a protocol-faithful stand-in for DXtrade's two REST APIs (the register API under /dxweb/rest
// and the trading API under /dxsca-web), for tests: a server started on httptest with session tokens that expire,
// users, accounts with their categories (Margining for leverage, Financing for swap-free) and statuses, money
// movements keyed by the id the client picks (409 on a repeat), paged order history in UTC, and the faults a
// connector must survive (an answer lost after money moved, 429 with Retry-After, slow answers, failing reads,
// tokens expired or refused). The dxtrade connector's own tests, the contract suite and the trading desk's flows run
// against it, in the spirit of net/http/httptest.
package dxfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Server is a protocol-faithful DXtrade for tests: both REST APIs over real HTTP (httptest), session tokens
// that expire, a User-Agent requirement, users, accounts, categories and statuses, money movements keyed by the
// path id (409 on a repeat), errors as {errorCode, errorMessage} (register API) or {errorCode, description}
// (trading API), UTC times and paged order history. Its faults are the ones a connector must survive: 429 for the
// next n calls, an answer lost after a money movement was applied (the connection is hijacked and closed), slow
// answers, failing reads, tokens expired or refused at will.
//
// It keeps its own JSON shapes (maps, json.Number) rather than the connector's types, so a connector that drifts
// from the protocol fails here instead of agreeing with itself.
type Server struct {
	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux

	user, domain, password string
	broker, clearing       string
	tokenTTL               time.Duration
	retryAfter             string

	mu           sync.Mutex
	tokens       map[string]*fakeToken
	issued       []string // every token ever handed out, for the log-leak test
	logins       map[string]int
	logouts      int
	clients      map[string]*fakeClient // by login
	accounts     map[string]*Account
	catalog      map[string]map[string]bool // category domain -> values
	transferIDs  map[string]bool
	moneyOps     map[string]int
	orders       map[string][]Order
	positions    map[string][]Position
	nextOrderID  int64
	paths        []string // "METHOD path" of every request that reached a handler
	noUserAgent  int
	rateLimitN   int
	dropNext     bool
	slowN        int
	slowFor      time.Duration
	refuseTokens bool
	failGETs     int
}

type fakeToken struct {
	api     string
	expires time.Time
}

type fakeClient struct {
	domain, login, password, email, fullName, status string
}

// Account is an account as the platform holds it; Categories maps a category domain to its value.
type Account struct {
	Code, Currency, AccountType, Status, Owner string
	Balance, Credit                            decimal.Decimal
	Categories                                 map[string]string
	Metadata                                   map[string]json.RawMessage
	Version                                    int
}

// Order is a completed (or cancelled) order of the history: DXtrade's deals.
type Order struct {
	ID                               int64
	Status, Instrument, Side, Effect string
	Position                         string
	Qty, Price                       decimal.Decimal
	Profit, Commission, Swap         decimal.Decimal
	At                               time.Time
}

// Position is an open position.
type Position struct {
	Code, Symbol, Side  string
	Qty, OpenPrice, FPL decimal.Decimal
	Margin              decimal.Decimal
	Updated             time.Time
}

// The two APIs' roots, and the fake broker's API user, codes and Financing categories.
const (
	AdminAPI   = "/dxweb/rest"
	TradingAPI = "/dxsca-web"

	User              = "crm-api"
	Domain            = "default"
	Password          = "s3cret-Manager-pw"
	BrokerCode        = "BDBROKER"
	ClearingCode      = "BDCLR"
	FinancingStandard = "Standard"
	FinancingSwapFree = "SwapFree"
)

// fakeCategories is what the fake broker has configured: every leverage the tests map, two financing profiles and
// two account types in the Trading domain.
func fakeCategories() map[string]map[string]bool {
	c := map[string]map[string]bool{
		"Margining": {},
		"Financing": {FinancingStandard: true, FinancingSwapFree: true},
		"Trading":   {"Standard": true, "Pro": true},
		"Spreads":   {"Default": true},
	}
	for _, name := range Leverages() {
		c["Margining"][name] = true
	}
	return c
}

// New starts a fake on a local HTTP address (URL), closed when the test ends; log in as User@Domain with Password.
func New(t testing.TB) *Server {
	f := &Server{
		t: t, user: User, domain: Domain, password: Password,
		broker: BrokerCode, clearing: ClearingCode, tokenTTL: 30 * time.Minute, retryAfter: "1",
		tokens: map[string]*fakeToken{}, logins: map[string]int{}, clients: map[string]*fakeClient{},
		accounts: map[string]*Account{}, catalog: fakeCategories(), transferIDs: map[string]bool{},
		moneyOps: map[string]int{}, orders: map[string][]Order{}, positions: map[string][]Position{},
		nextOrderID: 700000,
	}
	m := http.NewServeMux()
	for _, api := range []string{AdminAPI, TradingAPI} {
		m.HandleFunc("POST "+api+"/login", f.handleLogin(api))
		m.HandleFunc("POST "+api+"/logout", f.authed(api, f.handleLogout))
	}
	a := AdminAPI + "/api/register"
	m.HandleFunc("POST "+a+"/client", f.authed(AdminAPI, f.handleRegister))
	m.HandleFunc("PUT "+a+"/client/{domain}/{login}", f.authed(AdminAPI, f.handleUpdateClient))
	m.HandleFunc("GET "+a+"/account/{cc}/{ac}", f.authed(AdminAPI, f.handleGetAccount))
	m.HandleFunc("PUT "+a+"/account/{cc}/{ac}", f.authed(AdminAPI, f.handleUpdateAccount))
	m.HandleFunc("PUT "+a+"/account/{cc}/{ac}/category/{domain}", f.authed(AdminAPI, f.handleSetCategory))
	for _, kind := range []string{"deposit", "withdrawal", "adjustment"} {
		m.HandleFunc("PUT "+a+"/account/{cc}/{ac}/"+kind+"/{id}", f.authed(AdminAPI, f.handleTransfer(kind)))
	}
	m.HandleFunc("POST "+TradingAPI+"/ping", f.authed(TradingAPI, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	m.HandleFunc("GET "+TradingAPI+"/accounts/{acc}/metrics", f.authed(TradingAPI, f.handleMetrics))
	m.HandleFunc("GET "+TradingAPI+"/accounts/{acc}/positions", f.authed(TradingAPI, f.handlePositions))
	m.HandleFunc("GET "+TradingAPI+"/accounts/{acc}/orders/history", f.authed(TradingAPI, f.handleHistory))
	f.mux = m
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

type fakeReqKey struct{}

// fakeReq is what a handler tells ServeHTTP about the request it handled.
type fakeReq struct{ money bool }

func markMoney(r *http.Request) {
	if st, ok := r.Context().Value(fakeReqKey{}).(*fakeReq); ok {
		st.money = true
	}
}

// ServeHTTP applies the faults around the real handlers: the answer is produced first (so a money movement is
// applied), then lost or delayed as asked.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") == "" {
		f.mu.Lock()
		f.noUserAgent++
		f.mu.Unlock()
		writeAdminError(w, http.StatusBadRequest, 40, "User-Agent header is required")
		return
	}
	f.mu.Lock()
	limited := f.rateLimitN > 0
	if limited {
		f.rateLimitN--
	}
	retryAfter := f.retryAfter
	f.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", retryAfter)
		writeAdminError(w, http.StatusTooManyRequests, 429, "Too many requests")
		return
	}
	f.mu.Lock()
	failGET := r.Method == http.MethodGet && f.failGETs > 0
	if failGET {
		f.failGETs--
	}
	f.mu.Unlock()
	if failGET {
		writeAdminError(w, http.StatusServiceUnavailable, 503, "Service temporarily unavailable")
		return
	}
	st := &fakeReq{}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), fakeReqKey{}, st)))

	f.mu.Lock()
	drop := st.money && f.dropNext
	if drop {
		f.dropNext = false
	}
	var slow time.Duration
	if f.slowN > 0 {
		f.slowN--
		slow = f.slowFor
	}
	f.mu.Unlock()
	if drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("fake: hijack to drop an answer: %v", err)
			return
		}
		conn.Close()
		return
	}
	if slow > 0 {
		timer := time.NewTimer(slow)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return // the client gave up; the effect (if any) stays applied, as on a real server
		}
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAdminError is the register API's error body; its errorCode is a number.
func writeAdminError(w http.ResponseWriter, status int, code int, msg string) {
	writeJSON(w, status, map[string]any{"errorCode": code, "errorMessage": msg})
}

// writeTradingError is the trading API's error body; its errorCode is a string.
func writeTradingError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errorCode": code, "description": msg})
}

// authed checks the DXAPI session token for api. Tokens are per API, expire after tokenTTL of idleness, and every
// accepted use extends them.
func (f *Server) authed(api string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DXAPI ")
		now := time.Now()
		f.mu.Lock()
		t := f.tokens[tok]
		valid := ok && t != nil && t.api == api && now.Before(t.expires) && !f.refuseTokens
		if valid {
			t.expires = now.Add(f.tokenTTL)
		}
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		if !valid {
			if api == AdminAPI {
				writeAdminError(w, http.StatusUnauthorized, 401, "Session is not valid")
			} else {
				writeTradingError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Session is not valid")
			}
			return
		}
		h(w, r)
	}
}

// decodeStrict reads a JSON body and refuses fields the API does not have: a connector typo must fail here.
func decodeStrict(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (f *Server) handleLogin(api string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Username, Domain, Password string }
		if err := decodeStrict(r, &body); err != nil {
			writeAdminError(w, http.StatusBadRequest, 40, "Malformed login request")
			return
		}
		if body.Username != f.user || body.Domain != f.domain || body.Password != f.password {
			writeAdminError(w, http.StatusUnauthorized, 401, "Invalid username, domain or password")
			return
		}
		var b [16]byte
		_, _ = rand.Read(b[:])
		tok := hex.EncodeToString(b[:])
		f.mu.Lock()
		f.tokens[tok] = &fakeToken{api: api, expires: time.Now().Add(f.tokenTTL)}
		f.issued = append(f.issued, tok)
		f.logins[api]++
		ttl := f.tokenTTL.Milliseconds()
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"sessionToken": tok, "timeout": ttl})
	}
}

func (f *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "DXAPI ")
	f.mu.Lock()
	delete(f.tokens, tok)
	f.logouts++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

var (
	fakeCurrencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	fakeStatuses   = map[string]bool{"FULL_TRADING": true, "CLOSE_ONLY": true, "NO_TRADING": true, "TERMINATED": true, "EXPIRED": true}
)

// fakeStrongPassword is the fake broker's password policy: 8+ characters with a letter and a digit.
func fakeStrongPassword(p string) bool {
	return len(p) >= 8 && strings.ContainsAny(p, "0123456789") &&
		strings.ContainsFunc(p, func(r rune) bool { return r >= 'A' && r <= 'z' })
}

func (f *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Domain, Login, Password, Email, FullName, BrokerCode string
		Accounts                                             []struct {
			ClearingCode, AccountCode, Currency, AccountType, Status string
			Categories                                               []struct{ Category, Value string }
			Metadata                                                 map[string]json.RawMessage
		}
	}
	if err := decodeStrict(r, &body); err != nil {
		writeAdminError(w, http.StatusBadRequest, 40, "Malformed client: "+err.Error())
		return
	}
	switch {
	case body.Domain != f.domain:
		writeAdminError(w, http.StatusBadRequest, 41, "Unknown domain")
		return
	case body.Login == "":
		writeAdminError(w, http.StatusBadRequest, 42, "Login is required")
		return
	case !fakeStrongPassword(body.Password):
		writeAdminError(w, http.StatusBadRequest, 43, "Password does not meet the password policy")
		return
	case len(body.Accounts) == 0:
		writeAdminError(w, http.StatusBadRequest, 44, "At least one account is required")
		return
	case body.BrokerCode != f.broker:
		writeAdminError(w, http.StatusNotFound, 404, "Broker not found")
		return
	}
	for _, a := range body.Accounts {
		switch {
		case a.AccountCode == "":
			writeAdminError(w, http.StatusBadRequest, 45, "Account code is required")
			return
		case !fakeCurrencyRE.MatchString(a.Currency):
			writeAdminError(w, http.StatusBadRequest, 46, "Invalid currency")
			return
		case a.AccountType != "LIVE" && a.AccountType != "DEMO":
			writeAdminError(w, http.StatusBadRequest, 47, "Invalid account type")
			return
		case !fakeStatuses[a.Status]:
			writeAdminError(w, http.StatusBadRequest, 48, "Invalid account status")
			return
		case a.ClearingCode != f.clearing:
			writeAdminError(w, http.StatusNotFound, 404, "Clearing not found")
			return
		}
		for _, c := range a.Categories {
			if !f.catalog[c.Category][c.Value] {
				writeAdminError(w, http.StatusNotFound, 404, fmt.Sprintf("Category %s/%s not found", c.Category, c.Value))
				return
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clients[body.Login] != nil {
		writeAdminError(w, http.StatusConflict, 409, "User "+body.Login+" already exists")
		return
	}
	for _, a := range body.Accounts {
		if f.accounts[a.AccountCode] != nil {
			writeAdminError(w, http.StatusConflict, 409, "Account "+a.AccountCode+" already exists")
			return
		}
	}
	f.clients[body.Login] = &fakeClient{domain: body.Domain, login: body.Login, password: body.Password,
		email: body.Email, fullName: body.FullName, status: "OFFLINE"}
	for _, a := range body.Accounts {
		acc := &Account{Code: a.AccountCode, Currency: a.Currency, AccountType: a.AccountType, Status: a.Status,
			Owner: body.Login, Categories: map[string]string{}, Metadata: a.Metadata, Version: 1}
		for _, c := range a.Categories {
			acc.Categories[c.Category] = c.Value
		}
		f.accounts[a.AccountCode] = acc
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": body.Domain, "login": body.Login, "brokerCode": f.broker})
}

func (f *Server) handleUpdateClient(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Password *string `json:"password"`
		Status   *string `json:"status"`
	}
	if err := decodeStrict(r, &body); err != nil {
		writeAdminError(w, http.StatusBadRequest, 40, "Malformed client update")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.clients[r.PathValue("login")]
	if c == nil || c.domain != r.PathValue("domain") {
		writeAdminError(w, http.StatusNotFound, 404, "User not found")
		return
	}
	if body.Password != nil {
		if !fakeStrongPassword(*body.Password) {
			writeAdminError(w, http.StatusBadRequest, 43, "Password does not meet the password policy")
			return
		}
		c.password = *body.Password
	}
	if body.Status != nil {
		c.status = *body.Status
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": c.domain, "login": c.login})
}

// account returns the account the path names, or writes 404. Call with f.mu held.
func (f *Server) account(w http.ResponseWriter, r *http.Request) *Account {
	a := f.accounts[r.PathValue("ac")]
	if r.PathValue("cc") != f.clearing || a == nil {
		writeAdminError(w, http.StatusNotFound, 404, "Account not found")
		return nil
	}
	return a
}

func (a *Account) etag() string { return `"` + strconv.Itoa(a.Version) + `"` }

func (f *Server) accountJSON(a *Account) map[string]any {
	cats := []map[string]string{}
	for _, d := range slices.Sorted(maps.Keys(a.Categories)) {
		cats = append(cats, map[string]string{"category": d, "value": a.Categories[d]})
	}
	out := map[string]any{
		"clearingCode": f.clearing, "accountCode": a.Code, "brokerCode": f.broker, "type": "CLIENT",
		"accountType": a.AccountType, "status": a.Status, "currency": a.Currency,
		"balance": json.Number(a.Balance.String()), "credit": json.Number(a.Credit.String()), "categories": cats,
	}
	if len(a.Metadata) > 0 {
		out["metadata"] = a.Metadata
	}
	return out
}

func (f *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(w, r)
	if a == nil {
		return
	}
	w.Header().Set("ETag", a.etag())
	writeJSON(w, http.StatusOK, f.accountJSON(a))
}

// handleUpdateAccount changes status, credit and metadata; fields left out stay as they are. With If-Match the
// update applies only to the version named.
func (f *Server) handleUpdateAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status   *string                    `json:"status"`
		Credit   json.RawMessage            `json:"credit"`
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := decodeStrict(r, &body); err != nil {
		writeAdminError(w, http.StatusBadRequest, 40, "Malformed account update")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(w, r)
	if a == nil {
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != a.etag() {
		writeAdminError(w, http.StatusPreconditionFailed, 412, "Account was modified")
		return
	}
	var credit *decimal.Decimal
	if body.Credit != nil {
		d, ok := fakeAmount(body.Credit)
		if !ok || d.IsNegative() {
			writeAdminError(w, http.StatusBadRequest, 49, "Invalid credit")
			return
		}
		credit = &d
	}
	if body.Status != nil && !fakeStatuses[*body.Status] {
		writeAdminError(w, http.StatusBadRequest, 48, "Invalid account status")
		return
	}
	if body.Status != nil {
		a.Status = *body.Status
	}
	if credit != nil && !credit.Equal(a.Credit) {
		a.Credit = *credit
		f.moneyOps[a.Code]++
		markMoney(r)
	}
	if body.Metadata != nil {
		a.Metadata = body.Metadata
	}
	a.Version++
	w.Header().Set("ETag", a.etag())
	writeJSON(w, http.StatusOK, f.accountJSON(a))
}

func (f *Server) handleSetCategory(w http.ResponseWriter, r *http.Request) {
	var body struct{ Value string }
	if err := decodeStrict(r, &body); err != nil {
		writeAdminError(w, http.StatusBadRequest, 40, "Malformed category")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(w, r)
	if a == nil {
		return
	}
	domain := r.PathValue("domain")
	if !f.catalog[domain][body.Value] {
		writeAdminError(w, http.StatusNotFound, 404, fmt.Sprintf("Category %s/%s not found", domain, body.Value))
		return
	}
	a.Categories[domain] = body.Value
	a.Version++
	writeJSON(w, http.StatusOK, map[string]any{})
}

// fakeAmount reads an amount, which DXtrade takes as a JSON number: a string is refused.
func fakeAmount(raw json.RawMessage) (decimal.Decimal, bool) {
	if len(raw) == 0 || raw[0] == '"' {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(string(raw))
	return d, err == nil
}

// handleTransfer applies a deposit, withdrawal or adjustment keyed by the path id; a used id is 409 before
// anything else is looked at, which is what makes a client's retry safe.
func (f *Server) handleTransfer(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Currency    string
			Amount      json.RawMessage
			Description string
		}
		if err := decodeStrict(r, &body); err != nil {
			writeAdminError(w, http.StatusBadRequest, 40, "Malformed "+kind)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		a := f.account(w, r)
		if a == nil {
			return
		}
		id := r.PathValue("id")
		if f.transferIDs[id] {
			writeAdminError(w, http.StatusConflict, 409, "Transfer with id "+id+" already exists")
			return
		}
		amount, ok := fakeAmount(body.Amount)
		switch {
		case body.Currency != a.Currency:
			writeAdminError(w, http.StatusBadRequest, 50, "Currency must be the account currency "+a.Currency)
			return
		case !ok || (kind != "adjustment" && !amount.IsPositive()) || amount.IsZero():
			writeAdminError(w, http.StatusBadRequest, 51, "Invalid amount")
			return
		case len(body.Description) > 255:
			writeAdminError(w, http.StatusBadRequest, 52, "Description too long")
			return
		}
		delta := amount
		if kind == "withdrawal" {
			delta = amount.Neg()
		}
		if a.Balance.Add(delta).IsNegative() {
			writeJSON(w, http.StatusBadRequest, map[string]any{"errorCode": "INSUFFICIENT_FUNDS",
				"errorMessage": "Amount exceeds the withdrawable amount"})
			return
		}
		a.Balance = a.Balance.Add(delta)
		a.Version++
		f.transferIDs[id] = true
		f.moneyOps[a.Code]++
		markMoney(r)
		writeJSON(w, http.StatusOK, map[string]any{"currency": body.Currency, "amount": json.Number(amount.String()),
			"description": body.Description})
	}
}

// tradingAccount resolves the trading API's "clearing:account" path segment, or writes 404. Call with f.mu held.
func (f *Server) tradingAccount(w http.ResponseWriter, r *http.Request) *Account {
	cc, ac, ok := strings.Cut(r.PathValue("acc"), ":")
	a := f.accounts[ac]
	if !ok || cc != f.clearing || a == nil {
		writeTradingError(w, http.StatusNotFound, "NOT_FOUND", "Account "+r.PathValue("acc")+" not found")
		return nil
	}
	return a
}

func (f *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.tradingAccount(w, r)
	if a == nil {
		return
	}
	openPL, margin := decimal.Zero, decimal.Zero
	var pms []map[string]any
	for _, p := range f.positions[a.Code] {
		openPL = openPL.Add(p.FPL)
		margin = margin.Add(p.Margin)
		pms = append(pms, map[string]any{"positionCode": p.Code, "symbol": p.Symbol,
			"fpl": json.Number(p.FPL.String()), "margin": json.Number(p.Margin.String()),
			"quantity": json.Number(p.Qty.String()), "openPrice": json.Number(p.OpenPrice.String())})
	}
	equity := a.Balance.Add(a.Credit).Add(openPL)
	m := map[string]any{
		"account": f.clearing + ":" + a.Code, "version": a.Version,
		"balance": json.Number(a.Balance.String()), "credit": json.Number(a.Credit.String()),
		"equity": json.Number(equity.String()), "margin": json.Number(margin.String()),
		"marginFree": json.Number(equity.Sub(margin).String()), "availableFunds": json.Number(equity.Sub(margin).String()),
		"openPL": json.Number(openPL.String()), "openPositionsCount": len(f.positions[a.Code]), "openOrdersCount": 0,
	}
	if r.URL.Query().Get("include-positions") == "true" {
		m["positions"] = pms
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": []any{m}})
}

func (f *Server) handlePositions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.tradingAccount(w, r)
	if a == nil {
		return
	}
	ps := []any{}
	for _, p := range f.positions[a.Code] {
		ps = append(ps, map[string]any{
			"account": f.clearing + ":" + a.Code, "version": 3, "positionCode": p.Code, "symbol": p.Symbol,
			"quantity": json.Number(p.Qty.String()), "side": p.Side,
			"quantityNotional": json.Number(p.Qty.Mul(decimal.NewFromInt(100000)).String()),
			"lastUpdateTime":   p.Updated.UTC().Format("2006-01-02T15:04:05.000Z"),
			"openPrice":        json.Number(p.OpenPrice.String()), "marginRate": json.Number("0.01"),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"positions": ps})
}

// handleHistory answers the order history oldest first, filtered by completion time (both bounds inclusive) and
// status, in zero-based pages.
func (f *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		return t, err == nil
	}
	from, ok1 := parse("completed-from")
	to, ok2 := parse("completed-to")
	page, err1 := strconv.Atoi(q.Get("page"))
	size, err2 := strconv.Atoi(q.Get("page-size"))
	if !ok1 || !ok2 || err1 != nil || err2 != nil || page < 0 || size < 1 || size > 1000 {
		writeTradingError(w, http.StatusBadRequest, "INVALID_PARAMETER", "Invalid history query")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.tradingAccount(w, r)
	if a == nil {
		return
	}
	var match []Order
	for _, o := range f.orders[a.Code] {
		if (from.IsZero() || !o.At.Before(from)) && (to.IsZero() || !o.At.After(to)) &&
			(q.Get("in-status") == "" || q.Get("in-status") == o.Status) {
			match = append(match, o)
		}
	}
	slices.SortStableFunc(match, func(x, y Order) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return int(x.ID - y.ID)
	})
	out := []any{}
	for i := page * size; i < len(match) && i < (page+1)*size; i++ {
		out = append(out, f.orderJSON(a, match[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out})
}

// orderJSON is a completed market order as DXtrade's history shows it: one leg, its fill as an execution, and the
// cash it moved.
func (f *Server) orderJSON(a *Account, o Order) map[string]any {
	acc := f.clearing + ":" + a.Code
	at := o.At.UTC().Format("2006-01-02T15:04:05.000Z")
	code := strconv.FormatInt(o.ID, 10)
	cash := []any{}
	for _, c := range []struct {
		typ string
		v   decimal.Decimal
	}{{"COMMISSION", o.Commission}, {"SETTLEMENT", o.Profit}, {"FINANCING", o.Swap}} {
		if !c.v.IsZero() {
			cash = append(cash, map[string]any{"account": acc, "transactionCode": code + "-" + c.typ, "orderCode": code,
				"type": c.typ, "value": json.Number(c.v.String()), "currency": a.Currency, "transactionTime": at,
				"positionCode": o.Position})
		}
	}
	return map[string]any{
		"account": acc, "version": 4, "orderId": o.ID, "orderCode": code, "clientOrderId": "web-" + code,
		"actionCode": "a-" + code, "legCount": 1, "type": "MARKET", "instrument": o.Instrument, "status": o.Status,
		"finalStatus": true, "side": o.Side, "tif": "GTC", "transactionTime": at, "marginRate": json.Number("0.01"),
		"legs": []any{map[string]any{
			"instrument": o.Instrument, "positionEffect": o.Effect, "positionCode": o.Position, "side": o.Side,
			"price": json.Number(o.Price.String()), "legRatio": 1, "quantity": json.Number(o.Qty.String()),
			"filledQuantity": json.Number(o.Qty.String()), "remainingQuantity": 0,
			"averagePrice": json.Number(o.Price.String()),
		}},
		"executions": []any{map[string]any{
			"account": acc, "executionCode": code + "-1", "orderCode": code, "version": 4, "instrument": o.Instrument,
			"status": o.Status, "finalStatus": true, "filledQuantity": json.Number(o.Qty.String()),
			"lastQuantity": json.Number(o.Qty.String()), "remainingQuantity": 0,
			"lastPrice": json.Number(o.Price.String()), "averagePrice": json.Number(o.Price.String()),
			"transactionTime": at,
		}},
		"cashTransactions": cash,
	}
}

// What tests and the contract Env use to steer and observe the fake.

// SeedDeals records n completed orders for login, order i at from + i*(to-from)/n, alternating opening buys and
// closing sells with exact prices, commissions, profits and swaps.
func (f *Server) SeedDeals(login string, n int, from, to time.Time) {
	symbols := []string{"EUR/USD", "GBP/USD", "USD/JPY", "XAU/USD"}
	span := big.NewInt(int64(to.Sub(from)))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		off := new(big.Int).Div(new(big.Int).Mul(span, big.NewInt(int64(i))), big.NewInt(int64(n)))
		f.nextOrderID++
		o := Order{
			ID: f.nextOrderID, Status: "COMPLETED", Instrument: symbols[i%len(symbols)], Side: "BUY", Effect: "OPEN",
			Position: "pos-" + strconv.Itoa(i/2), Qty: decimal.New(int64(1+i%5), -1),
			Price: decimal.New(108000+int64(i%97), -5), Commission: decimal.New(-35*int64(1+i%5), -3),
			At: from.Add(time.Duration(off.Int64())).UTC(),
		}
		if i%2 == 1 {
			o.Side, o.Effect = "SELL", "CLOSE"
			o.Profit = decimal.New(int64(i%13)*137-600, -2)
			o.Swap = decimal.New(-int64(i%3)*21, -2)
		}
		f.orders[login] = append(f.orders[login], o)
	}
}

// AddOrder records an order in login's history as it is.
func (f *Server) AddOrder(login string, o Order) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[login] = append(f.orders[login], o)
}

// AddPosition opens a position on login.
func (f *Server) AddPosition(login string, p Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.positions[login] = append(f.positions[login], p)
}

// BalanceOps is how many money movements (deposits, withdrawals, adjustments, credit changes) the account had.
func (f *Server) BalanceOps(login string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moneyOps[login]
}

// RateLimitNext answers the next n calls 429 with Retry-After.
func (f *Server) RateLimitNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimitN = n
}

// SetRetryAfter is the Retry-After sent with a 429 (default "1").
func (f *Server) SetRetryAfter(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = v
}

// FailNextGETs answers the next n reads with 503, leaving writes alone.
func (f *Server) FailNextGETs(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failGETs = n
}

// DropNextMoneyAnswer applies the next money movement and closes the connection instead of answering: the answer
// lost after the money moved.
func (f *Server) DropNextMoneyAnswer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNext = true
}

// MoneyDropPending says whether the drop DropNextMoneyAnswer asked for has yet to happen.
func (f *Server) MoneyDropPending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropNext
}

// SlowNext delays the next n answers by d (or until the client gives up); the effect stays applied.
func (f *Server) SlowNext(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slowN, f.slowFor = n, d
}

// ExpireTokens ends every session at once, as a server restart or an idle timeout would.
func (f *Server) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

// SetRefuseTokens makes every session token invalid (or valid again).
func (f *Server) SetRefuseTokens(refuse bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseTokens = refuse
}

// LoginCount is how many logins api (AdminAPI, TradingAPI) accepted.
func (f *Server) LoginCount(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins[api]
}

// SetStatus sets the account's status on the platform side (outside any connector).
func (f *Server) SetStatus(login, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[login].Status = status
	f.accounts[login].Version++
}

// Account is a copy of the account with code login.
func (f *Server) Account(login string) Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := *f.accounts[login]
	a.Categories = maps.Clone(a.Categories)
	return a
}

// RequestPaths lists "METHOD path" of every authenticated request, in order.
func (f *Server) RequestPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.paths)
}

// ClientPassword is the password of the user whose login is login ("" when there is none).
func (f *Server) ClientPassword(login string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.clients[login]; c != nil {
		return c.password
	}
	return ""
}

// AddAccount puts an account with code login and currency on the platform directly (no user, no connector).
func (f *Server) AddAccount(login, currency string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[login] = &Account{Code: login, Currency: currency, AccountType: "LIVE", Status: "FULL_TRADING",
		Categories: map[string]string{}, Version: 1}
}

// HistoryBody is the order-history answer for login exactly as the fake serves it: completed orders with one leg,
// one execution and their cash transactions.
func (f *Server) HistoryBody(login string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	orders := []any{}
	for _, o := range f.orders[login] {
		orders = append(orders, f.orderJSON(f.accounts[login], o))
	}
	b, err := json.Marshal(map[string]any{"orders": orders})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// Secrets are what must never appear in a connector's logs: the API user's password and every session token the
// fake handed out.
func (f *Server) Secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{f.password}, f.issued...)
}

// NoUserAgent is how many requests came without a User-Agent (and were refused).
func (f *Server) NoUserAgent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noUserAgent
}

// Sessions answers how many logouts the fake had and how many tokens are live.
func (f *Server) Sessions() (logouts, live int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logouts, len(f.tokens)
}

// URL is the server's base URL (the connector's BaseURL).
func (f *Server) URL() string { return f.srv.URL }

// Leverages is the Margining category of each leverage the fake broker has configured.
func Leverages() map[int]string {
	m := map[int]string{}
	for _, lev := range []int{1, 2, 5, 10, 20, 30, 50, 100, 200, 300, 400, 500} {
		m[lev] = "Leverage 1:" + strconv.Itoa(lev)
	}
	return m
}
