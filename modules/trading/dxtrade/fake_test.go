package dxtrade

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

// fakeServer is a protocol-faithful DXtrade for tests: both REST APIs over real HTTP (httptest), session tokens
// that expire, a User-Agent requirement, users, accounts, categories and statuses, money movements keyed by the
// path id (409 on a repeat), errors as {errorCode, errorMessage} (register API) or {errorCode, description}
// (trading API), UTC times and paged order history. Its faults are the ones a connector must survive: 429 for the
// next n calls, an answer lost after a money movement was applied (the connection is hijacked and closed), slow
// answers, failing reads, tokens expired or refused at will.
//
// It keeps its own JSON shapes (maps, json.Number) rather than the connector's types, so a connector that drifts
// from the protocol fails here instead of agreeing with itself.
type fakeServer struct {
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
	accounts     map[string]*fakeAccount
	catalog      map[string]map[string]bool // category domain -> values
	transferIDs  map[string]bool
	moneyOps     map[string]int
	orders       map[string][]fakeOrder
	positions    map[string][]fakePosition
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

type fakeAccount struct {
	code, currency, accountType, status, owner string
	balance, credit                            decimal.Decimal
	categories                                 map[string]string
	metadata                                   map[string]json.RawMessage
	version                                    int
}

type fakeOrder struct {
	id                               int64
	status, instrument, side, effect string
	position                         string
	qty, price                       decimal.Decimal
	profit, commission, swap         decimal.Decimal
	at                               time.Time
}

type fakePosition struct {
	code, symbol, side  string
	qty, openPrice, fpl decimal.Decimal
	margin              decimal.Decimal
	updated             time.Time
}

const (
	fakeAdmin   = "/dxweb/rest"
	fakeTrading = "/dxsca-web"
)

// fakeCategories is what the fake broker has configured: every leverage the tests map, two financing profiles and
// two account types in the Trading domain.
func fakeCategories() map[string]map[string]bool {
	c := map[string]map[string]bool{
		"Margining": {},
		"Financing": {"Standard": true, "SwapFree": true},
		"Trading":   {"Standard": true, "Pro": true},
		"Spreads":   {"Default": true},
	}
	for _, name := range testLeverages() {
		c["Margining"][name] = true
	}
	return c
}

func testLeverages() map[int]string {
	m := map[int]string{}
	for _, lev := range []int{1, 2, 5, 10, 20, 30, 50, 100, 200, 300, 400, 500} {
		m[lev] = "Leverage 1:" + strconv.Itoa(lev)
	}
	return m
}

func newFakeServer(t testing.TB) *fakeServer {
	f := &fakeServer{
		t: t, user: "crm-api", domain: "default", password: "s3cret-Manager-pw",
		broker: "BDBROKER", clearing: "BDCLR", tokenTTL: 30 * time.Minute, retryAfter: "1",
		tokens: map[string]*fakeToken{}, logins: map[string]int{}, clients: map[string]*fakeClient{},
		accounts: map[string]*fakeAccount{}, catalog: fakeCategories(), transferIDs: map[string]bool{},
		moneyOps: map[string]int{}, orders: map[string][]fakeOrder{}, positions: map[string][]fakePosition{},
		nextOrderID: 700000,
	}
	m := http.NewServeMux()
	for _, api := range []string{fakeAdmin, fakeTrading} {
		m.HandleFunc("POST "+api+"/login", f.handleLogin(api))
		m.HandleFunc("POST "+api+"/logout", f.authed(api, f.handleLogout))
	}
	a := fakeAdmin + "/api/register"
	m.HandleFunc("POST "+a+"/client", f.authed(fakeAdmin, f.handleRegister))
	m.HandleFunc("PUT "+a+"/client/{domain}/{login}", f.authed(fakeAdmin, f.handleUpdateClient))
	m.HandleFunc("GET "+a+"/account/{cc}/{ac}", f.authed(fakeAdmin, f.handleGetAccount))
	m.HandleFunc("PUT "+a+"/account/{cc}/{ac}", f.authed(fakeAdmin, f.handleUpdateAccount))
	m.HandleFunc("PUT "+a+"/account/{cc}/{ac}/category/{domain}", f.authed(fakeAdmin, f.handleSetCategory))
	for _, kind := range []string{"deposit", "withdrawal", "adjustment"} {
		m.HandleFunc("PUT "+a+"/account/{cc}/{ac}/"+kind+"/{id}", f.authed(fakeAdmin, f.handleTransfer(kind)))
	}
	m.HandleFunc("POST "+fakeTrading+"/ping", f.authed(fakeTrading, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	m.HandleFunc("GET "+fakeTrading+"/accounts/{acc}/metrics", f.authed(fakeTrading, f.handleMetrics))
	m.HandleFunc("GET "+fakeTrading+"/accounts/{acc}/positions", f.authed(fakeTrading, f.handlePositions))
	m.HandleFunc("GET "+fakeTrading+"/accounts/{acc}/orders/history", f.authed(fakeTrading, f.handleHistory))
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
func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (f *fakeServer) authed(api string, h http.HandlerFunc) http.HandlerFunc {
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
			if api == fakeAdmin {
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

func (f *fakeServer) handleLogin(api string) http.HandlerFunc {
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

func (f *fakeServer) handleLogout(w http.ResponseWriter, r *http.Request) {
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

func (f *fakeServer) handleRegister(w http.ResponseWriter, r *http.Request) {
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
		acc := &fakeAccount{code: a.AccountCode, currency: a.Currency, accountType: a.AccountType, status: a.Status,
			owner: body.Login, categories: map[string]string{}, metadata: a.Metadata, version: 1}
		for _, c := range a.Categories {
			acc.categories[c.Category] = c.Value
		}
		f.accounts[a.AccountCode] = acc
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": body.Domain, "login": body.Login, "brokerCode": f.broker})
}

func (f *fakeServer) handleUpdateClient(w http.ResponseWriter, r *http.Request) {
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
func (f *fakeServer) account(w http.ResponseWriter, r *http.Request) *fakeAccount {
	a := f.accounts[r.PathValue("ac")]
	if r.PathValue("cc") != f.clearing || a == nil {
		writeAdminError(w, http.StatusNotFound, 404, "Account not found")
		return nil
	}
	return a
}

func (a *fakeAccount) etag() string { return `"` + strconv.Itoa(a.version) + `"` }

func (f *fakeServer) accountJSON(a *fakeAccount) map[string]any {
	cats := []map[string]string{}
	for _, d := range slices.Sorted(maps.Keys(a.categories)) {
		cats = append(cats, map[string]string{"category": d, "value": a.categories[d]})
	}
	out := map[string]any{
		"clearingCode": f.clearing, "accountCode": a.code, "brokerCode": f.broker, "type": "CLIENT",
		"accountType": a.accountType, "status": a.status, "currency": a.currency,
		"balance": json.Number(a.balance.String()), "credit": json.Number(a.credit.String()), "categories": cats,
	}
	if len(a.metadata) > 0 {
		out["metadata"] = a.metadata
	}
	return out
}

func (f *fakeServer) handleGetAccount(w http.ResponseWriter, r *http.Request) {
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
func (f *fakeServer) handleUpdateAccount(w http.ResponseWriter, r *http.Request) {
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
		a.status = *body.Status
	}
	if credit != nil && !credit.Equal(a.credit) {
		a.credit = *credit
		f.moneyOps[a.code]++
		markMoney(r)
	}
	if body.Metadata != nil {
		a.metadata = body.Metadata
	}
	a.version++
	w.Header().Set("ETag", a.etag())
	writeJSON(w, http.StatusOK, f.accountJSON(a))
}

func (f *fakeServer) handleSetCategory(w http.ResponseWriter, r *http.Request) {
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
	a.categories[domain] = body.Value
	a.version++
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
func (f *fakeServer) handleTransfer(kind string) http.HandlerFunc {
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
		case body.Currency != a.currency:
			writeAdminError(w, http.StatusBadRequest, 50, "Currency must be the account currency "+a.currency)
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
		if a.balance.Add(delta).IsNegative() {
			writeJSON(w, http.StatusBadRequest, map[string]any{"errorCode": "INSUFFICIENT_FUNDS",
				"errorMessage": "Amount exceeds the withdrawable amount"})
			return
		}
		a.balance = a.balance.Add(delta)
		a.version++
		f.transferIDs[id] = true
		f.moneyOps[a.code]++
		markMoney(r)
		writeJSON(w, http.StatusOK, map[string]any{"currency": body.Currency, "amount": json.Number(amount.String()),
			"description": body.Description})
	}
}

// tradingAccount resolves the trading API's "clearing:account" path segment, or writes 404. Call with f.mu held.
func (f *fakeServer) tradingAccount(w http.ResponseWriter, r *http.Request) *fakeAccount {
	cc, ac, ok := strings.Cut(r.PathValue("acc"), ":")
	a := f.accounts[ac]
	if !ok || cc != f.clearing || a == nil {
		writeTradingError(w, http.StatusNotFound, "NOT_FOUND", "Account "+r.PathValue("acc")+" not found")
		return nil
	}
	return a
}

func (f *fakeServer) handleMetrics(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.tradingAccount(w, r)
	if a == nil {
		return
	}
	openPL, margin := decimal.Zero, decimal.Zero
	var pms []map[string]any
	for _, p := range f.positions[a.code] {
		openPL = openPL.Add(p.fpl)
		margin = margin.Add(p.margin)
		pms = append(pms, map[string]any{"positionCode": p.code, "symbol": p.symbol,
			"fpl": json.Number(p.fpl.String()), "margin": json.Number(p.margin.String()),
			"quantity": json.Number(p.qty.String()), "openPrice": json.Number(p.openPrice.String())})
	}
	equity := a.balance.Add(a.credit).Add(openPL)
	m := map[string]any{
		"account": f.clearing + ":" + a.code, "version": a.version,
		"balance": json.Number(a.balance.String()), "credit": json.Number(a.credit.String()),
		"equity": json.Number(equity.String()), "margin": json.Number(margin.String()),
		"marginFree": json.Number(equity.Sub(margin).String()), "availableFunds": json.Number(equity.Sub(margin).String()),
		"openPL": json.Number(openPL.String()), "openPositionsCount": len(f.positions[a.code]), "openOrdersCount": 0,
	}
	if r.URL.Query().Get("include-positions") == "true" {
		m["positions"] = pms
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": []any{m}})
}

func (f *fakeServer) handlePositions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.tradingAccount(w, r)
	if a == nil {
		return
	}
	ps := []any{}
	for _, p := range f.positions[a.code] {
		ps = append(ps, map[string]any{
			"account": f.clearing + ":" + a.code, "version": 3, "positionCode": p.code, "symbol": p.symbol,
			"quantity": json.Number(p.qty.String()), "side": p.side,
			"quantityNotional": json.Number(p.qty.Mul(decimal.NewFromInt(100000)).String()),
			"lastUpdateTime":   p.updated.UTC().Format("2006-01-02T15:04:05.000Z"),
			"openPrice":        json.Number(p.openPrice.String()), "marginRate": json.Number("0.01"),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"positions": ps})
}

// handleHistory answers the order history oldest first, filtered by completion time (both bounds inclusive) and
// status, in zero-based pages.
func (f *fakeServer) handleHistory(w http.ResponseWriter, r *http.Request) {
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
	var match []fakeOrder
	for _, o := range f.orders[a.code] {
		if (from.IsZero() || !o.at.Before(from)) && (to.IsZero() || !o.at.After(to)) &&
			(q.Get("in-status") == "" || q.Get("in-status") == o.status) {
			match = append(match, o)
		}
	}
	slices.SortStableFunc(match, func(x, y fakeOrder) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return int(x.id - y.id)
	})
	out := []any{}
	for i := page * size; i < len(match) && i < (page+1)*size; i++ {
		out = append(out, f.orderJSON(a, match[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out})
}

// orderJSON is a completed market order as DXtrade's history shows it: one leg, its fill as an execution, and the
// cash it moved.
func (f *fakeServer) orderJSON(a *fakeAccount, o fakeOrder) map[string]any {
	acc := f.clearing + ":" + a.code
	at := o.at.UTC().Format("2006-01-02T15:04:05.000Z")
	code := strconv.FormatInt(o.id, 10)
	cash := []any{}
	for _, c := range []struct {
		typ string
		v   decimal.Decimal
	}{{"COMMISSION", o.commission}, {"SETTLEMENT", o.profit}, {"FINANCING", o.swap}} {
		if !c.v.IsZero() {
			cash = append(cash, map[string]any{"account": acc, "transactionCode": code + "-" + c.typ, "orderCode": code,
				"type": c.typ, "value": json.Number(c.v.String()), "currency": a.currency, "transactionTime": at,
				"positionCode": o.position})
		}
	}
	return map[string]any{
		"account": acc, "version": 4, "orderId": o.id, "orderCode": code, "clientOrderId": "web-" + code,
		"actionCode": "a-" + code, "legCount": 1, "type": "MARKET", "instrument": o.instrument, "status": o.status,
		"finalStatus": true, "side": o.side, "tif": "GTC", "transactionTime": at, "marginRate": json.Number("0.01"),
		"legs": []any{map[string]any{
			"instrument": o.instrument, "positionEffect": o.effect, "positionCode": o.position, "side": o.side,
			"price": json.Number(o.price.String()), "legRatio": 1, "quantity": json.Number(o.qty.String()),
			"filledQuantity": json.Number(o.qty.String()), "remainingQuantity": 0,
			"averagePrice": json.Number(o.price.String()),
		}},
		"executions": []any{map[string]any{
			"account": acc, "executionCode": code + "-1", "orderCode": code, "version": 4, "instrument": o.instrument,
			"status": o.status, "finalStatus": true, "filledQuantity": json.Number(o.qty.String()),
			"lastQuantity": json.Number(o.qty.String()), "remainingQuantity": 0,
			"lastPrice": json.Number(o.price.String()), "averagePrice": json.Number(o.price.String()),
			"transactionTime": at,
		}},
		"cashTransactions": cash,
	}
}

// --- what tests and the contract Env use to steer and observe the fake ---

// seedDeals records n completed orders for login, order i at from + i*(to-from)/n, alternating opening buys and
// closing sells with exact prices, commissions, profits and swaps.
func (f *fakeServer) seedDeals(login string, n int, from, to time.Time) {
	symbols := []string{"EUR/USD", "GBP/USD", "USD/JPY", "XAU/USD"}
	span := big.NewInt(int64(to.Sub(from)))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		off := new(big.Int).Div(new(big.Int).Mul(span, big.NewInt(int64(i))), big.NewInt(int64(n)))
		f.nextOrderID++
		o := fakeOrder{
			id: f.nextOrderID, status: "COMPLETED", instrument: symbols[i%len(symbols)], side: "BUY", effect: "OPEN",
			position: "pos-" + strconv.Itoa(i/2), qty: decimal.New(int64(1+i%5), -1),
			price: decimal.New(108000+int64(i%97), -5), commission: decimal.New(-35*int64(1+i%5), -3),
			at: from.Add(time.Duration(off.Int64())).UTC(),
		}
		if i%2 == 1 {
			o.side, o.effect = "SELL", "CLOSE"
			o.profit = decimal.New(int64(i%13)*137-600, -2)
			o.swap = decimal.New(-int64(i%3)*21, -2)
		}
		f.orders[login] = append(f.orders[login], o)
	}
}

func (f *fakeServer) addOrder(login string, o fakeOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[login] = append(f.orders[login], o)
}

func (f *fakeServer) addPosition(login string, p fakePosition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.positions[login] = append(f.positions[login], p)
}

func (f *fakeServer) balanceOps(login string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moneyOps[login]
}

func (f *fakeServer) rateLimitNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimitN = n
}

func (f *fakeServer) setRetryAfter(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = v
}

// failNextGETs answers the next n reads with 503, leaving writes alone.
func (f *fakeServer) failNextGETs(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failGETs = n
}

func (f *fakeServer) dropNextMoneyAnswer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNext = true
}

func (f *fakeServer) slowNext(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slowN, f.slowFor = n, d
}

// expireTokens ends every session at once, as a server restart or an idle timeout would.
func (f *fakeServer) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *fakeServer) setRefuseTokens(refuse bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseTokens = refuse
}

func (f *fakeServer) loginCount(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins[api]
}

func (f *fakeServer) setStatus(login, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[login].status = status
	f.accounts[login].version++
}

func (f *fakeServer) snapshot(login string) fakeAccount {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := *f.accounts[login]
	return a
}

func (f *fakeServer) requestPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.paths)
}

// config is a Config for a connector talking to this fake.
func (f *fakeServer) config() Config {
	return Config{
		BaseURL: f.srv.URL, Username: f.user, Domain: f.domain, Password: f.password,
		BrokerCode: f.broker, ClearingCode: f.clearing, AccountCodes: AccountCodeScheme{Prefix: "BD", Digits: 8},
		Timeout: 5 * time.Second, RetryBaseDelay: 5 * time.Millisecond,
		LeverageCategories: testLeverages(), FinancingStandard: "Standard", FinancingSwapFree: "SwapFree",
	}
}

// newTestConnector is a connector on f, closed when the test ends.
func newTestConnector(t testing.TB, f *fakeServer, adjust ...func(*Config)) *Connector {
	t.Helper()
	cfg := f.config()
	for _, fn := range adjust {
		fn(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
