// Package mt5fake is a protocol-faithful stand-in for the MT5 Manager Web API, for tests: a server started on
// httptest (real HTTPS, one login per TCP connection) that answers as the vendor documents, keeps accounts, groups,
// balance deals and trade deals in the server's own time zone, and injects the faults a connector must survive (an
// answer lost after the server acted, rate limits, dropped connections, slow and held calls). The mt5 connector's
// own tests, the contract suite and the trading desk's flows run against it, in the spirit of net/http/httptest.
//
// It imports nothing of the connector: what it says on the wire comes from the documentation
// (../shared/platforms.md and the notes below), so a connector that drifts from the protocol fails against it.
package mt5fake

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/shopspring/decimal"
)

// Server is a protocol-faithful stand-in for the MT5 Manager Web API, served over real HTTPS. It keeps the
// login per TCP connection (a call on a connection that has not completed the handshake gets HTTP 403), answers
// with the documented envelope and retcodes, sends numbers as JSON strings, stores times in the server's own
// zone, and can inject the faults a connector must survive.
type Server struct {
	t    testing.TB
	srv  *httptest.Server
	opts Options
	hash [md5.Size]byte

	mu           sync.Mutex
	epoch        int // bumping it forgets every connection's login, as a server restart would
	groups       map[string]Group
	users        map[uint64]*User
	deals        []*Deal // in ticket order
	positions    map[uint64][]Position
	nextLogin    uint64
	nextTicket   uint64
	balanceOps   map[uint64]int
	requests     map[string]int
	total        int
	conns        int
	live         map[net.Conn]bool
	rateLimit    int
	rateLimitFor map[string]int
	notAuthNext  int
	dropNext     map[string]int
	slowNext     map[string]time.Duration
	holdNext     map[string]chan struct{}
	authStarts   int
	lastComments []string
}

type Options struct {
	Password     string
	ManagerLogin uint64
	// Offset is the server's zone: local = UTC + Offset.
	Offset time.Duration
	// Zone, when set, is the server's zone with its daylight-saving rules, and Offset is added to it.
	Zone *time.Location
	// BadCliRandAnswer makes the server answer the client's challenge wrongly (an impostor).
	BadCliRandAnswer bool
	// PlainNumbers sends numbers as JSON numbers instead of strings, as some builds do for some fields.
	PlainNumbers bool
}

type Group struct {
	Name     string
	Currency string
}

type User struct {
	Login        uint64
	Group        string
	Name         string
	FirstName    string
	LastName     string
	Email        string
	Comment      string
	Leverage     int64
	Rights       uint64
	PassMain     string
	PassInvestor string
	Balance      decimal.Decimal
	Credit       decimal.Decimal
}

type Deal struct {
	Ticket     uint64
	Login      uint64
	Order      uint64
	PositionID uint64
	Action     int64
	Entry      int64
	LocalMsc   int64 // server-local milliseconds
	Symbol     string
	Price      string
	Volume     int64 // 1/10,000 lot
	VolumeExt  int64 // 1/10^8 lot
	Profit     decimal.Decimal
	Commission decimal.Decimal
	Storage    decimal.Decimal
	Comment    string
}

type Position struct {
	Position  uint64
	Login     uint64
	Symbol    string
	Action    int64
	LocalSec  int64
	PriceOpen string
	VolumeExt int64
	Profit    decimal.Decimal
	Storage   decimal.Decimal
}

type connKey struct{}

// connState is the server's memory of one TCP connection.
type connState struct {
	mu      sync.Mutex
	srvRand []byte
	authed  bool
	epoch   int
}

// The manager account every fake has unless Options say otherwise.
const (
	ManagerLogin    = 1001
	ManagerPassword = "Mgr!Pass9"
)

// Groups every fake has; backslashes as MT5 names them.
var Groups = []Group{
	{`real\standard`, "USD"},
	{`real\standard-sf`, "USD"},
	{`real\pro`, "USD"},
	{`real\euro`, "EUR"},
}

// New starts a fake on a local HTTPS address, closed when the test ends. Connect to Addr trusting ClientTLS's
// roots, as ManagerLogin with the password of opts (default ManagerPassword).
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Password == "" {
		opts.Password = ManagerPassword
	}
	if opts.ManagerLogin == 0 {
		opts.ManagerLogin = ManagerLogin
	}
	f := &Server{
		t: t, opts: opts, hash: passwordHash(opts.Password),
		groups:       map[string]Group{},
		users:        map[uint64]*User{},
		positions:    map[uint64][]Position{},
		nextLogin:    100000,
		nextTicket:   5000000,
		balanceOps:   map[uint64]int{},
		requests:     map[string]int{},
		live:         map[net.Conn]bool{},
		dropNext:     map[string]int{},
		rateLimitFor: map[string]int{},
		slowNext:     map[string]time.Duration{},
		holdNext:     map[string]chan struct{}{},
	}
	for _, g := range Groups {
		f.groups[g.Name] = g
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connState{})
	}
	f.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch s {
		case http.StateNew:
			f.conns++
			f.live[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(f.live, c)
		}
	}
	f.srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // dropped connections are the point
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// Addr is the Web API's access point (host:port).
func (f *Server) Addr() string { return f.srv.Listener.Addr().String() }

// ClientTLS is a client configuration that trusts the fake's certificate.
func (f *Server) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// Login and Password are the manager's credentials.
func (f *Server) Login() uint64    { return f.opts.ManagerLogin }
func (f *Server) Password() string { return f.opts.Password }

// passwordHash is the documented H = MD5(MD5(UTF-16LE(password)) || "WebAPI").
func passwordHash(password string) [md5.Size]byte {
	units := utf16.Encode([]rune(password))
	le := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(le[2*i:], u)
	}
	h1 := md5.Sum(le)
	return md5.Sum(append(h1[:], "WebAPI"...))
}

// Fault injection and inspection.

func (f *Server) RateLimitNext(n int) { f.mu.Lock(); f.rateLimit = n; f.mu.Unlock() }

// RateLimitPath answers the next n calls to path with retcode 12.
func (f *Server) RateLimitPath(path string, n int) {
	f.mu.Lock()
	f.rateLimitFor[path] = n
	f.mu.Unlock()
}

// DropNextAnswer makes the server handle the next call to path (applying it, for a balance operation) and then
// close the connection without answering.
func (f *Server) DropNextAnswer(path string) { f.mu.Lock(); f.dropNext[path]++; f.mu.Unlock() }

func (f *Server) DropNextBalanceAnswer() { f.DropNextAnswer("/api/trade/balance") }

// DropsPending is how many answers to path are still to be dropped: 0 once every drop asked for has happened.
func (f *Server) DropsPending(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropNext[path]
}

// SlowNext makes the server wait d (or until the client gives up) before answering the next call to path.
func (f *Server) SlowNext(path string, d time.Duration) {
	f.mu.Lock()
	f.slowNext[path] = d
	f.mu.Unlock()
}

// HoldNext makes the server sit on the next call to path, before executing it, until release is called, whether
// or not the client is still waiting: a server slower than the client's timeout.
func (f *Server) HoldNext(path string) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.holdNext[path] = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	f.t.Cleanup(release) // before the server's Close, which waits for handlers
	return release
}

// ForgetLogins makes every connection unauthenticated, as after a server restart of the Web API.
func (f *Server) ForgetLogins() { f.mu.Lock(); f.epoch++; f.mu.Unlock() }

// NotAuthenticatedNext answers the next authenticated call with retcode 1008 instead of HTTP 403.
func (f *Server) NotAuthenticatedNext() { f.mu.Lock(); f.notAuthNext++; f.mu.Unlock() }

// CloseConnections drops every open connection from the server side.
func (f *Server) CloseConnections() {
	f.mu.Lock()
	conns := make([]net.Conn, 0, len(f.live))
	for c := range f.live {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (f *Server) Requests(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// Comments lists the balance operations' comments as the server stored them.
func (f *Server) Comments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lastComments...)
}

func (f *Server) Total() int           { f.mu.Lock(); defer f.mu.Unlock(); return f.total }
func (f *Server) Connections() int     { f.mu.Lock(); defer f.mu.Unlock(); return f.conns }
func (f *Server) LiveConnections() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.live) }
func (f *Server) AuthStarts() int      { f.mu.Lock(); defer f.mu.Unlock(); return f.authStarts }

func (f *Server) BalanceOps(login string) int {
	n, _ := strconv.ParseUint(login, 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.balanceOps[n]
}

func (f *Server) User(login string) User {
	n, _ := strconv.ParseUint(login, 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[n]
	if !ok {
		f.t.Fatalf("fake has no user %s", login)
	}
	return *u
}

// Logins lists every account's login, in order.
func (f *Server) Logins() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, 0, len(f.users))
	for l := range f.users {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// AddUser creates an account directly on the server (not through the connector).
func (f *Server) AddUser(group string, balance string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	login := f.freeLogin()
	f.users[login] = &User{Login: login, Group: group, Name: "Seeded", Leverage: 100, Rights: 483,
		PassMain: "Seed!Pass1", PassInvestor: "Seed!Pass2", Balance: decimal.RequireFromString(balance)}
	return login
}

// AddPosition opens a position directly on the server at the UTC instant open.
func (f *Server) AddPosition(login uint64, symbol string, sell bool, volumeExt int64, price, profit, storage string, open time.Time) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextTicket++
	action := int64(0)
	if sell {
		action = 1
	}
	f.positions[login] = append(f.positions[login], Position{
		Position: f.nextTicket, Login: login, Symbol: symbol, Action: action,
		LocalSec: floorDiv(f.localMsc(open), 1000), PriceOpen: price, VolumeExt: volumeExt,
		Profit: decimal.RequireFromString(profit), Storage: decimal.RequireFromString(storage),
	})
	return f.nextTicket
}

// SeedDeals records n closed trade deals for login, deal i at from + i*(to-from)/n (UTC), stored in server time.
func (f *Server) SeedDeals(login string, n int, from, to time.Time) {
	l, err := strconv.ParseUint(login, 10, 64)
	if err != nil {
		f.t.Fatalf("SeedDeals: login %q", login)
	}
	span := big.NewInt(int64(to.Sub(from)))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		step := new(big.Int).Mul(span, big.NewInt(int64(i)))
		at := from.Add(time.Duration(step.Div(step, big.NewInt(int64(n))).Int64()))
		f.nextTicket++
		d := &Deal{
			Ticket: f.nextTicket, Login: l, Order: f.nextTicket + 100000, PositionID: 7000000 + uint64(i/2),
			Action: int64(i % 2), Entry: int64(i % 2), LocalMsc: f.localMsc(at),
			Symbol: "EURUSD", Price: "1.08345", Volume: 1000, VolumeExt: 10000000,
			Commission: decimal.RequireFromString("-0.70"),
		}
		if d.Entry == 1 {
			d.Profit = decimal.RequireFromString("12.30")
			d.Storage = decimal.RequireFromString("-0.45")
		}
		f.deals = append(f.deals, d)
	}
	sort.Slice(f.deals, func(i, j int) bool { return f.deals[i].Ticket < f.deals[j].Ticket })
}

// AmendDeal changes a deal's profit and comment, as a dealer's correction on the server does (MT5 allows updating
// a deal after the fact); false when there is no such deal.
func (f *Server) AmendDeal(ticket uint64, profit, comment string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deals {
		if d.Ticket == ticket {
			d.Profit, d.Comment = decimal.RequireFromString(profit), comment
			return true
		}
	}
	return false
}

// DeleteDeal removes a deal from the server's history, as a dealer's deletion (or a gateway's cancellation) does;
// false when there is no such deal.
func (f *Server) DeleteDeal(ticket uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.deals {
		if d.Ticket == ticket {
			f.deals = append(f.deals[:i], f.deals[i+1:]...)
			return true
		}
	}
	return false
}

// localMsc is the server's wall-clock reading at t, in milliseconds counted as if it were UTC: how MT5 stores times.
func (f *Server) localMsc(t time.Time) int64 {
	offset := f.opts.Offset
	if f.opts.Zone != nil {
		_, secs := t.In(f.opts.Zone).Zone()
		offset += time.Duration(secs) * time.Second
	}
	return t.Add(offset).UnixMilli()
}

// timeConfig is the /api/time/get answer at now: TimeZone is the zone's standard offset in minutes, Daylight says
// whether the server follows daylight saving, DaylightState whether it is in force now; Days is the week's
// hour-by-hour working table.
func (f *Server) timeConfig(now time.Time) map[string]any {
	standard, daylight, inForce := f.opts.Offset, false, false
	if z := f.opts.Zone; z != nil {
		_, secs := now.In(z).Zone()
		standard, inForce = standard+time.Duration(secs)*time.Second, now.In(z).IsDST()
		if inForce {
			standard -= time.Hour
		}
		year := now.In(z).Year()
		_, jan := time.Date(year, 1, 1, 0, 0, 0, 0, z).Zone()
		_, jul := time.Date(year, 7, 1, 0, 0, 0, 0, z).Zone()
		daylight = jan != jul
	}
	flag := func(b bool) any {
		if b {
			return f.num("1")
		}
		return f.num("0")
	}
	days := make([]any, 7)
	for d := range days {
		hours := make([]any, 24)
		for h := range hours {
			hours[h] = f.num("1")
		}
		days[d] = hours
	}
	return map[string]any{"Daylight": flag(daylight), "DaylightState": flag(inForce),
		"TimeZone": f.num(strconv.FormatInt(int64(standard/time.Minute), 10)), "TimeServer": "time.broker.example", "Days": days}
}

// The wire.

func (f *Server) num(v string) any {
	if f.opts.PlainNumbers {
		return json.Number(v)
	}
	return v
}

func (f *Server) reply(w http.ResponseWriter, retcode string, extra map[string]any) {
	body := map[string]any{"retcode": retcode}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (f *Server) answer(w http.ResponseWriter, answer any) {
	f.reply(w, "0 Done", map[string]any{"answer": answer})
}

func (f *Server) fail(w http.ResponseWriter, retcode string) { f.reply(w, retcode, nil) }

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	st := r.Context().Value(connKey{}).(*connState)
	path := r.URL.Path
	f.mu.Lock()
	f.requests[path]++
	f.total++
	limited := f.rateLimit > 0
	if limited {
		f.rateLimit--
	} else if f.rateLimitFor[path] > 0 {
		limited = true
		f.rateLimitFor[path]--
	}
	slow := f.slowNext[path]
	delete(f.slowNext, path)
	hold := f.holdNext[path]
	delete(f.holdNext, path)
	drop := f.dropNext[path] > 0
	if drop {
		f.dropNext[path]--
	}
	epoch := f.epoch
	f.mu.Unlock()

	if limited {
		f.fail(w, "12 Too frequent requests")
		return
	}
	switch path {
	case "/api/auth/start":
		f.authStart(w, r, st)
		return
	case "/api/auth/answer":
		f.authAnswer(w, r, st, epoch)
		return
	}
	st.mu.Lock()
	authed := st.authed && st.epoch == epoch
	st.mu.Unlock()
	if !authed {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	f.mu.Lock()
	notAuth := f.notAuthNext > 0
	if notAuth {
		f.notAuthNext--
	}
	f.mu.Unlock()
	if notAuth {
		st.mu.Lock()
		st.authed = false
		st.mu.Unlock()
		f.fail(w, "1008 Not authenticated")
		return
	}

	if hold != nil {
		<-hold
	}
	var rec bytes.Buffer
	out := &capture{header: http.Header{}, buf: &rec, code: http.StatusOK}
	f.route(out, r)
	if slow > 0 {
		t := time.NewTimer(slow)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}
	if drop {
		// Applied (for a balance operation), but the answer never leaves: hijack and close.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		f.t.Errorf("fake: cannot hijack the connection to drop the answer")
	}
	for k, v := range out.header {
		w.Header()[k] = v
	}
	w.WriteHeader(out.code)
	_, _ = w.Write(rec.Bytes())
}

// capture holds a handler's answer so a fault can decide whether it is sent.
type capture struct {
	header http.Header
	buf    *bytes.Buffer
	code   int
}

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) Write(b []byte) (int, error) { return c.buf.Write(b) }
func (c *capture) WriteHeader(code int)        { c.code = code }

func (f *Server) authStart(w http.ResponseWriter, r *http.Request, st *connState) {
	q := r.URL.Query()
	f.mu.Lock()
	f.authStarts++
	f.mu.Unlock()
	version, err := strconv.Atoi(q.Get("version"))
	agent := q.Get("agent")
	if err != nil || version < 484 || agent == "" || strings.ContainsAny(agent, " ") || q.Get("type") != "manager" {
		f.fail(w, "3 Invalid parameters")
		return
	}
	if q.Get("login") != strconv.FormatUint(f.opts.ManagerLogin, 10) {
		f.fail(w, "1001 Invalid account")
		return
	}
	rnd := make([]byte, 16)
	_, _ = rand.Read(rnd)
	st.mu.Lock()
	st.srvRand, st.authed = rnd, false
	st.mu.Unlock()
	f.reply(w, "0 Done", map[string]any{"srv_rand": hex.EncodeToString(rnd)})
}

func (f *Server) authAnswer(w http.ResponseWriter, r *http.Request, st *connState, epoch int) {
	q := r.URL.Query()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.srvRand == nil {
		f.fail(w, "3 Invalid parameters")
		return
	}
	want := md5.Sum(append(f.hash[:], st.srvRand...))
	st.srvRand = nil // one answer per challenge
	got, err := hex.DecodeString(q.Get("srv_rand_answer"))
	if err != nil || !bytes.Equal(got, want[:]) {
		f.fail(w, "3006 Invalid password")
		return
	}
	cli, err := hex.DecodeString(q.Get("cli_rand"))
	if err != nil || len(cli) != 16 {
		f.fail(w, "3 Invalid parameters")
		return
	}
	key := f.hash[:]
	if f.opts.BadCliRandAnswer {
		key = make([]byte, md5.Size) // an impostor that does not know the password
	}
	ans := md5.Sum(append(append([]byte(nil), key...), cli...))
	st.authed, st.epoch = true, epoch
	f.reply(w, "0 Done", map[string]any{"cli_rand_answer": hex.EncodeToString(ans[:])})
}

func (f *Server) route(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/api/test/access":
		f.reply(w, "0 Done", nil)
	case "/api/time/server":
		// As documented: the server's wall clock twice, in seconds and in words; no zone, no UTC.
		local := floorDiv(f.localMsc(time.Now()), 1000)
		f.answer(w, map[string]any{"Time": fmt.Sprintf("%d %s", local, time.Unix(local, 0).UTC().Format("2006.01.02 15:04:05"))})
	case "/api/time/get":
		f.answer(w, f.timeConfig(time.Now()))
	case "/api/group/get":
		g, ok := f.groups[q.Get("group")]
		if !ok {
			f.fail(w, "13 Not found")
			return
		}
		f.answer(w, map[string]any{"Group": g.Name, "Currency": g.Currency, "CurrencyDigits": f.num("2"), "Company": "Fake Broker"})
	case "/api/user/add":
		f.userAdd(w, r)
	case "/api/user/get":
		u, ok := f.lookup(w, q)
		if ok {
			f.answer(w, f.userJSON(u))
		}
	case "/api/user/update":
		f.userUpdate(w, r)
	case "/api/user/change_password":
		u, ok := f.lookup(w, q)
		if !ok {
			return
		}
		pw := q.Get("password")
		if !StrongPassword(pw) {
			f.fail(w, "3006 Invalid password")
			return
		}
		switch q.Get("type") {
		case "main":
			u.PassMain = pw
		case "investor":
			u.PassInvestor = pw
		case "api":
		default:
			f.fail(w, "3 Invalid parameters")
			return
		}
		f.reply(w, "0 Done", nil)
	case "/api/user/account/get":
		u, ok := f.lookup(w, q)
		if ok {
			f.answer(w, f.accountJSON(u))
		}
	case "/api/trade/balance":
		f.tradeBalance(w, q)
	case "/api/deal/get_batch", "/api/deal/get_total", "/api/deal/get_page":
		f.dealQuery(w, r.URL.Path, q)
	case "/api/position/get_batch":
		u, ok := f.lookup(w, q)
		if !ok {
			return
		}
		list := []any{}
		for _, p := range f.positions[u.Login] {
			list = append(list, map[string]any{
				"Position": f.num(strconv.FormatUint(p.Position, 10)), "Login": f.num(strconv.FormatUint(p.Login, 10)),
				"Symbol": p.Symbol, "Action": f.num(strconv.FormatInt(p.Action, 10)),
				"TimeCreate": f.num(strconv.FormatInt(p.LocalSec, 10)), "PriceOpen": f.num(p.PriceOpen),
				"PriceCurrent": f.num(p.PriceOpen), "Volume": f.num(strconv.FormatInt(p.VolumeExt/10000, 10)),
				"VolumeExt": f.num(strconv.FormatInt(p.VolumeExt, 10)), "Profit": f.num(p.Profit.StringFixed(2)),
				"Storage": f.num(p.Storage.StringFixed(2)), "Digits": f.num("5"),
			})
		}
		f.answer(w, list)
	default:
		http.NotFound(w, r)
	}
}

// lookup finds the login of the query; unknown logins are retcode 13, as the server answers.
func (f *Server) lookup(w http.ResponseWriter, q map[string][]string) (*User, bool) {
	vals := q["login"]
	if len(vals) != 1 {
		f.fail(w, "3 Invalid parameters")
		return nil, false
	}
	n, err := strconv.ParseUint(vals[0], 10, 64)
	if err != nil {
		f.fail(w, "3 Invalid parameters")
		return nil, false
	}
	u, ok := f.users[n]
	if !ok {
		f.fail(w, "13 Not found")
		return nil, false
	}
	return u, true
}

func (f *Server) freeLogin() uint64 {
	for {
		f.nextLogin++
		if _, taken := f.users[f.nextLogin]; !taken {
			return f.nextLogin
		}
	}
}

// StrongPassword is MT5's rule: 8-16 characters from all four classes.
func StrongPassword(pw string) bool {
	if n := len([]rune(pw)); n < 8 || n > 16 {
		return false
	}
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	return lower && upper && digit && other
}

func (f *Server) userJSON(u *User) map[string]any {
	return map[string]any{
		"Login": f.num(strconv.FormatUint(u.Login, 10)), "Group": u.Group, "CertSerialNumber": f.num("0"),
		"Rights": f.num(strconv.FormatUint(u.Rights, 10)), "Registration": f.num("1700000000"),
		"Name": u.Name, "FirstName": u.FirstName, "LastName": u.LastName, "Company": "", "Country": "",
		"Email": u.Email, "Comment": u.Comment, "Leverage": f.num(strconv.FormatInt(u.Leverage, 10)),
		"Agent": f.num("0"), "Balance": f.num(u.Balance.StringFixed(2)), "Credit": f.num(u.Credit.StringFixed(2)),
		"Color": f.num("4278190080"), "LeadSource": "",
	}
}

func (f *Server) equity(u *User) decimal.Decimal {
	eq := u.Balance.Add(u.Credit)
	for _, p := range f.positions[u.Login] {
		eq = eq.Add(p.Profit).Add(p.Storage)
	}
	return eq
}

func (f *Server) accountJSON(u *User) map[string]any {
	eq := f.equity(u)
	return map[string]any{
		"Login": f.num(strconv.FormatUint(u.Login, 10)), "CurrencyDigits": f.num("2"),
		"Balance": f.num(u.Balance.StringFixed(2)), "Credit": f.num(u.Credit.StringFixed(2)),
		"Margin": f.num("0.00"), "MarginFree": f.num(eq.StringFixed(2)), "MarginLevel": f.num("0.00"),
		"MarginLeverage": f.num(strconv.FormatInt(u.Leverage, 10)), "Profit": f.num(eq.Sub(u.Balance).Sub(u.Credit).StringFixed(2)),
		"Storage": f.num("0.00"), "Floating": f.num("0.00"), "Equity": f.num(eq.StringFixed(2)),
	}
}

// bodyFields reads a JSON object body; values may be strings or numbers.
func bodyFields(r *http.Request) (map[string]string, bool) {
	out := map[string]string{}
	if r.Body == nil {
		return out, true
	}
	var raw map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, false
	}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		}
	}
	return out, true
}

func (f *Server) userAdd(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.fail(w, "3 Invalid parameters")
		return
	}
	q := r.URL.Query()
	body, ok := bodyFields(r)
	if !ok {
		f.fail(w, "3 Invalid parameters")
		return
	}
	g, ok := f.groups[q.Get("group")]
	if !ok {
		f.fail(w, "3 Invalid parameters")
		return
	}
	lev, err := strconv.ParseInt(q.Get("leverage"), 10, 64)
	if err != nil || lev < 1 || lev > 500 {
		f.fail(w, "3 Invalid parameters")
		return
	}
	if !StrongPassword(body["PassMain"]) || !StrongPassword(body["PassInvestor"]) {
		f.fail(w, "3006 Invalid password")
		return
	}
	login, err := strconv.ParseUint(q.Get("login"), 10, 64)
	if err != nil {
		f.fail(w, "3 Invalid parameters")
		return
	}
	if login == 0 {
		login = f.freeLogin()
	} else if _, taken := f.users[login]; taken {
		f.fail(w, "3004 User exists")
		return
	}
	u := &User{Login: login, Group: g.Name, Name: q.Get("name"), FirstName: body["FirstName"], LastName: body["LastName"],
		Email: q.Get("email"), Comment: body["Comment"], Leverage: lev, Rights: 483,
		PassMain: body["PassMain"], PassInvestor: body["PassInvestor"]}
	f.users[login] = u
	f.answer(w, f.userJSON(u))
}

// userUpdate replaces the record: a field given neither in the query nor in the body falls back to its default,
// which is why a connector must read, modify and write back the whole record.
func (f *Server) userUpdate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.fail(w, "3 Invalid parameters")
		return
	}
	q := r.URL.Query()
	u, ok := f.lookup(w, q)
	if !ok {
		return
	}
	body, ok := bodyFields(r)
	if !ok {
		f.fail(w, "3 Invalid parameters")
		return
	}
	field := func(query, key, def string) string {
		if v := q.Get(query); v != "" {
			return v
		}
		if v, ok := body[key]; ok {
			return v
		}
		return def
	}
	group := field("group", "Group", "")
	g, ok := f.groups[group]
	if !ok {
		f.fail(w, "3 Invalid parameters")
		return
	}
	if g.Currency != f.groups[u.Group].Currency {
		f.fail(w, "3010 Group with different currency")
		return
	}
	lev, err := strconv.ParseInt(field("leverage", "Leverage", "100"), 10, 64)
	if err != nil || lev < 1 || lev > 500 {
		f.fail(w, "3 Invalid parameters")
		return
	}
	rights, err := strconv.ParseUint(field("rights", "Rights", "0"), 10, 64)
	if err != nil {
		f.fail(w, "3 Invalid parameters")
		return
	}
	u.Group, u.Leverage, u.Rights = group, lev, rights
	u.Name = field("name", "Name", "")
	u.Email = field("email", "Email", "")
	u.FirstName = field("first_name", "FirstName", "")
	u.LastName = field("last_name", "LastName", "")
	u.Comment = field("comment", "Comment", "")
	f.answer(w, f.userJSON(u))
}

func (f *Server) tradeBalance(w http.ResponseWriter, q map[string][]string) {
	u, ok := f.lookup(w, q)
	if !ok {
		return
	}
	get := func(k string) string {
		if v := q[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	typ, err := strconv.ParseInt(get("type"), 10, 64)
	if err != nil || typ < 2 || typ > 6 {
		f.fail(w, "3 Invalid parameters")
		return
	}
	amount, err := decimal.NewFromString(get("balance"))
	if err != nil || amount.IsZero() {
		f.fail(w, "3 Invalid parameters")
		return
	}
	// The deal's comment field holds 32 UTF-16 characters with the terminating NUL: the server keeps 31 and cuts
	// the rest without a word.
	comment := get("comment")
	if units := utf16.Encode([]rune(comment)); len(units) > 31 {
		comment = string(utf16.Decode(units[:31]))
	}
	f.lastComments = append(f.lastComments, comment)
	switch typ {
	case 3:
		if u.Credit.Add(amount).IsNegative() {
			f.fail(w, "10019 Not enough money")
			return
		}
		u.Credit = u.Credit.Add(amount)
	default:
		if amount.IsNegative() && u.Balance.Add(amount).IsNegative() {
			f.fail(w, "10019 Not enough money")
			return
		}
		u.Balance = u.Balance.Add(amount)
	}
	f.nextTicket++
	f.deals = append(f.deals, &Deal{Ticket: f.nextTicket, Login: u.Login, Action: typ,
		LocalMsc: f.localMsc(time.Now()), Profit: amount, Comment: comment})
	f.balanceOps[u.Login]++
	f.answer(w, map[string]any{"Ticket": f.num(strconv.FormatUint(f.nextTicket, 10))})
}

func (f *Server) dealQuery(w http.ResponseWriter, path string, q map[string][]string) {
	u, ok := f.lookup(w, q)
	if !ok {
		return
	}
	num := func(k string) (int64, bool) {
		v := q[k]
		if len(v) != 1 {
			return 0, false
		}
		n, err := strconv.ParseInt(v[0], 10, 64)
		return n, err == nil
	}
	from, ok1 := num("from")
	to, ok2 := num("to")
	if !ok1 || !ok2 {
		f.fail(w, "3 Invalid parameters")
		return
	}
	var match []*Deal
	for _, d := range f.deals {
		// from and to are server-local seconds, both inclusive.
		if sec := floorDiv(d.LocalMsc, 1000); d.Login == u.Login && sec >= from && sec <= to {
			match = append(match, d)
		}
	}
	sort.SliceStable(match, func(i, j int) bool {
		if match[i].LocalMsc != match[j].LocalMsc {
			return match[i].LocalMsc < match[j].LocalMsc
		}
		return match[i].Ticket < match[j].Ticket
	})
	switch path {
	case "/api/deal/get_total":
		f.answer(w, map[string]any{"Total": f.num(strconv.Itoa(len(match)))})
		return
	case "/api/deal/get_page":
		off, ok1 := num("offset")
		n, ok2 := num("total")
		if !ok1 || !ok2 || off < 0 || n < 1 || n > 100 {
			f.fail(w, "3 Invalid parameters")
			return
		}
		if off > int64(len(match)) {
			off = int64(len(match))
		}
		match = match[off:min(off+n, int64(len(match)))]
	}
	list := make([]any, 0, len(match))
	for _, d := range match {
		list = append(list, f.DealJSON(d))
	}
	f.answer(w, list)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (f *Server) DealJSON(d *Deal) map[string]any {
	u := func(v uint64) any { return f.num(strconv.FormatUint(v, 10)) }
	i := func(v int64) any { return f.num(strconv.FormatInt(v, 10)) }
	price := d.Price
	if price == "" {
		price = "0.00000"
	}
	return map[string]any{
		"Deal": u(d.Ticket), "ExternalID": "", "Login": u(d.Login), "Dealer": i(0), "Order": u(d.Order),
		"Action": i(d.Action), "Entry": i(d.Entry), "Reason": i(0), "Digits": i(5), "DigitsCurrency": i(2),
		"ContractSize": f.num("100000.00"), "Time": i(floorDiv(d.LocalMsc, 1000)), "TimeMsc": i(d.LocalMsc),
		"Symbol": d.Symbol, "Price": f.num(price), "PriceSL": f.num("0.00000"), "PriceTP": f.num("0.00000"),
		"Volume": i(d.Volume), "VolumeExt": i(d.VolumeExt), "VolumeClosed": i(0), "VolumeClosedExt": i(0),
		"Profit": f.num(d.Profit.StringFixed(2)), "Storage": f.num(d.Storage.StringFixed(2)),
		"Commission": f.num(d.Commission.StringFixed(2)), "Fee": f.num("0.00"), "RateProfit": f.num("1.00000000"),
		"RateMargin": f.num("1.08345000"), "ExpertID": i(0), "PositionID": u(d.PositionID), "Comment": d.Comment,
		"ProfitRaw": f.num(d.Profit.StringFixed(2)), "PricePosition": f.num(price), "TickValue": f.num("1.00000000"),
		"TickSize": f.num("0.00001000"), "Flags": i(0), "Gateway": "", "PriceGateway": f.num("0.00000"),
	}
}
