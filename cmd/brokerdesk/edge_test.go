package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/operators"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// edgeAnswer is what the battery looks at in an answer.
type edgeAnswer struct {
	status int
	ctype  string
	body   string
}

func (r edgeAnswer) problem() (p struct {
	Type   string           `json:"type"`
	Errors []web.FieldError `json:"errors"`
}) {
	_ = json.Unmarshal([]byte(r.body), &p)
	return p
}

func (r edgeAnswer) fields() []string {
	var out []string
	for _, f := range r.problem().Errors {
		out = append(out, f.Field)
	}
	return out
}

// rawSend sends one request over its own TCP connection, written by hand so that nothing (Go's client included)
// fixes what the battery breaks, and reads the answer even when the server answers before the body is sent (a 413
// from the Content-Length) and closes the connection.
func rawSend(t *testing.T, base, host, method, target string, header map[string]string, body []byte, padTo int) edgeAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	size := len(body)
	if padTo > size {
		size = padTo
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, v := range header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	if size > 0 || method == http.MethodPost || method == http.MethodPut {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", size)
	}
	head.WriteString("\r\n")
	go func() {
		if _, err := conn.Write(head.Bytes()); err != nil {
			return
		}
		if _, err := conn.Write(body); err != nil {
			return
		}
		for left := size - len(body); left > 0; {
			n := min(left, 64<<10)
			if _, err := conn.Write(make([]byte, n)); err != nil {
				return
			}
			left -= n
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.120s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return edgeAnswer{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: string(b)}
}

// rowCounter counts the rows of every table of the tenant's schema and of the platform schema: the battery must
// change none of them. The tables are listed once; each count is one statement per database (a UNION ALL of every
// table's count), on a connection kept for the test.
type rowCounter struct {
	conns   []*pgx.Conn
	queries []string
}

func newRowCounter(t *testing.T, p *tenanttest.Platform, ten tenants.Tenant) *rowCounter {
	t.Helper()
	ctx := context.Background()
	rc := &rowCounter{}
	for _, where := range []struct{ url, schema string }{{p.URLs["main"], "platform"}, {p.URLs[ten.Cluster], ten.Schema}} {
		conn, err := pgx.Connect(ctx, where.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`, where.schema)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(tables))
		for i, tb := range tables {
			name := "'" + strings.ReplaceAll(where.schema+"."+tb, "'", "''") + "'"
			parts[i] = fmt.Sprintf(`SELECT %s, count(*) FROM %s`, name, pgx.Identifier{where.schema, tb}.Sanitize())
		}
		rc.conns, rc.queries = append(rc.conns, conn), append(rc.queries, strings.Join(parts, " UNION ALL "))
	}
	return rc
}

func (rc *rowCounter) counts(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for i, conn := range rc.conns {
		rows, err := conn.Query(context.Background(), rc.queries[i])
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func diffCounts(before, after map[string]int64) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, fmt.Sprintf("%s %d -> %d", k, before[k], v))
		}
	}
	sort.Strings(out)
	return out
}

// exampleOf is a body of the route's request type that has every field and the right shape: the type's own example
// (web.Exampler, also the OpenAPI document's), else its zero value.
func exampleOf(t *testing.T, req any) map[string]any {
	t.Helper()
	v := req
	if ex, ok := reflect.New(reflect.TypeOf(req)).Interface().(web.Exampler); ok {
		v = ex.Example()
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return map[string]any{} // not an object (a list): the battery's cases that need fields do not apply
	}
	return m
}

// stringLeaf finds the first string value in v (keys in order), with its field name as the API names it.
func stringLeaf(v any, path string) (string, []any, bool) {
	switch x := v.(type) {
	case string:
		return path, nil, true
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			at := k
			if path != "" {
				at = path + "." + k
			}
			if p, steps, ok := stringLeaf(x[k], at); ok {
				return p, append([]any{k}, steps...), true
			}
		}
	case []any:
		for i, e := range x {
			if p, steps, ok := stringLeaf(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, append([]any{i}, steps...), true
			}
		}
	}
	return "", nil, false
}

// setLeaf returns a deep copy of v with the value at steps replaced.
func setLeaf(v any, steps []any, to any) any {
	if len(steps) == 0 {
		return to
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		out[steps[0].(string)] = setLeaf(x[steps[0].(string)], steps[1:], to)
		return out
	case []any:
		out := slices.Clone(x)
		out[steps[0].(int)] = setLeaf(x[steps[0].(int)], steps[1:], to)
		return out
	}
	return v
}

// everyString replaces every string of v with s.
func everyString(v any, s string) any {
	switch x := v.(type) {
	case string:
		return s
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = everyString(e, s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = everyString(e, s)
		}
		return out
	}
	return v
}

func marshal(v any) []byte { b, _ := json.Marshal(v); return b }

// withMember puts a raw member ("key":value) first in the object obj.
func withMember(obj []byte, member string) []byte {
	if string(obj) == "{}" {
		return []byte("{" + member + "}")
	}
	return append([]byte("{"+member+","), obj[1:]...)
}

// wrongTypeFor is a JSON value of another kind than v.
func wrongTypeFor(v any) any {
	switch v.(type) {
	case string:
		return 12345
	case json.Number:
		return "twelve"
	case bool:
		return "yes"
	case []any, map[string]any:
		return "x"
	}
	return nil
}

// bodyCase is one malformed or ill-fitting body and what the contract says of it.
type bodyCase struct {
	name   string
	ctype  string
	body   []byte
	status int      // 0: any 4xx
	typ    string   // the problem type, when status is set
	fields []string // every one of these must be named (422)
}

func bodyBattery(t *testing.T, req any) []bodyCase {
	ex := exampleOf(t, req)
	good := marshal(ex)
	cases := []bodyCase{
		{"truncated JSON", "application/json", good[:len(good)-1], 400, "/problems/malformed-json", nil},
		{"empty body", "application/json", nil, 400, "/problems/malformed-json", nil},
		{"byte order mark", "application/json", append([]byte("\xef\xbb\xbf"), good...), 400, "/problems/malformed-json", nil},
		{"trailing data", "application/json", append(slices.Clone(good), []byte(` {"more":1}`)...), 400, "/problems/malformed-json", nil},
		{"UTF-16", "application/json", utf16LE(string(good)), 400, "/problems/malformed-json", nil},
		{"wrong Content-Type", "text/plain", good, 415, "/problems/unsupported-media-type", nil},
		{"form instead of JSON", "application/x-www-form-urlencoded", []byte("a=b"), 415, "/problems/unsupported-media-type", nil},
		{"unknown field", "application/json", withMember(good, `"zz_not_a_field":1`), 422, "/problems/validation", []string{"zz_not_a_field"}},
		{"NUL in a key", "application/json", withMember(good, `"a\u0000b":1`), 422, "/problems/validation", []string{"(key)"}},
		{"invalid UTF-8 in a key", "application/json", withMember(good, "\"a\xff\xfeb\":1"), 422, "/problems/validation", []string{"(key)"}},
		{"deep nesting", "application/json", withMember(good, `"zz_deep":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)), 400, "/problems/json-too-deep", nil},
		{"huge array", "application/json", withMember(good, `"zz_items":[`+strings.Repeat("0,", web.MaxJSONArray+10)+`0]`), 422, "/problems/validation", nil},
	}
	if _, _, ok := stringLeaf(ex, ""); ok {
		cases = append(cases, bodyCase{"control characters in every string", "application/json", marshal(everyString(ex, "x\x01y\x1b[2Jz")), 0, "", nil})
	}
	if len(ex) > 0 {
		keys := make([]string, 0, len(ex))
		wrong := map[string]any{}
		for k, v := range ex {
			keys = append(keys, k)
			if w := wrongTypeFor(v); w != nil {
				wrong[k] = w
			}
		}
		sort.Strings(keys)
		first, _ := json.Marshal(ex[keys[0]])
		cases = append(cases, bodyCase{"duplicate key", "application/json", withMember(good, fmt.Sprintf("%q:%s", keys[0], first)), 422, "/problems/validation", []string{keys[0]}})
		if len(wrong) > 0 {
			all := map[string]any{}
			for k, v := range ex {
				all[k] = v
			}
			var names []string
			for k, w := range wrong {
				all[k] = w
				names = append(names, k)
			}
			cases = append(cases, bodyCase{"every field of the wrong type", "application/json", marshal(all), 422, "/problems/validation", names})
		}
	}
	if field, steps, ok := stringLeaf(ex, ""); ok {
		const mark = "\"zz-sentinel\""
		withMark := marshal(setLeaf(ex, steps, "zz-sentinel"))
		cases = append(cases,
			bodyCase{"NUL in " + field, "application/json", bytes.Replace(withMark, []byte(mark), []byte(`"a\u0000b"`), 1), 422, "/problems/validation", []string{field}},
			bodyCase{"invalid UTF-8 in " + field, "application/json", bytes.Replace(withMark, []byte(mark), []byte("\"a\xc0\xafb\""), 1), 422, "/problems/validation", []string{field}})
	}
	return cases
}

func utf16LE(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}

var edgeParam = regexp.MustCompile(`:[A-Za-z0-9_]+`)

// The edge battery, generated from the route tables (the tenant API, the console API and every page), so a route
// added later is covered without editing this test: NUL, invalid UTF-8 and control characters in the query and the
// path, an oversized head and an oversized body against every route; against every JSON route, besides, malformed
// JSON (truncated, empty, byte order mark, trailing data, UTF-16), the wrong Content-Type, every field of the
// wrong type, an unknown field, a duplicate key, NUL and invalid UTF-8 in a key and in a string field, control
// characters, deep nesting and a huge array. Every answer must be a 4xx (problem+json on the API, the page's 4xx on
// pages) saying what the contract says, and the database must not change: every table of the tenant's schema and of
// the platform schema keeps its row count.
//
// The requests carry a valid credential for the route (an admin's token, the demo trader's, an operator's; signed-in
// sessions for pages), and path parameters name real objects where the tenant has one (a client, a staff user, a
// KYC case, a document, the tenant's slug on the console), so that the body is what is refused, not the id.
// Parameters with no real object get a random id; a route that looks its object up before reading the body answers
// 404 then, which is accepted (and counted) for those parameters only. The payment webhook is a public route whose
// body is the gateway's signed payload, not a JSON body of the API: it gets the head battery and the oversized
// body, and must refuse anything unsigned with a 4xx.
func TestEdgeBatteryFromTheRouteTables(t *testing.T) {
	t.Parallel()
	a, base, p := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	ten, admin := demoTenant(t, a)
	uploadForMatrix(t, a, ten)  // a document and its KYC case
	tradingForMatrix(t, a, ten) // a trading account, whose deals' routes are tried with its id
	withdrawalsForMatrix(t, a, ten)
	host := hostOf(ten)
	adminTok := staffLogin(t, base, ten, "admin").AccessToken
	tr := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: identity.DemoTraderEmail(ten), Password: identity.DemoPassword})
	var trader identity.TokenResponse
	if err := json.Unmarshal([]byte(tr.body), &trader); err != nil || tr.status != 200 {
		t.Fatalf("trader login: %d %s", tr.status, tr.body)
	}
	createOperator(t, a, "ops@brokerdesk.test")
	oc := newConsoleClient(t, base)
	or := oc.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	var opTok operators.TokenResponse
	if err := json.Unmarshal([]byte(or.body), &opTok); err != nil || or.status != 200 {
		t.Fatalf("operator login: %d %s", or.status, or.body)
	}
	// Real ids of the tenant, by the route's path.
	realIDs := map[string]string{"/api/v1/staff/:id": admin.ID.String(), "/backoffice/staff/:id": admin.ID.String()}
	err = a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		var client, doc, kase string
		if err := tx.QueryRow(ctx, `SELECT d.client_id::text, d.id::text, k.id::text FROM documents d JOIN kyc_cases k ON k.document_id = d.id LIMIT 1`).Scan(&client, &doc, &kase); err != nil {
			return err
		}
		var account, withdrawal string
		if err := tx.QueryRow(ctx, `SELECT id::text FROM trading_accounts WHERE login = '700001'`).Scan(&account); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id::text FROM withdrawals LIMIT 1`).Scan(&withdrawal); err != nil {
			return err
		}
		for prefix, id := range map[string]string{"/clients/:id": client, "/documents/:id": doc, "/kyc/cases/:id": kase,
			"/trading/accounts/:id": account, "/api/v1/withdrawals/:id": withdrawal} {
			realIDs[prefix] = id
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fill := func(path string) (string, bool) {
		random := false
		out := edgeParam.ReplaceAllStringFunc(path, func(m string) string {
			switch {
			case m == ":slug" && strings.HasPrefix(path, "/api/v1/console/tenants/"):
				return ten.Slug
			case m == ":id":
				for prefix, id := range realIDs {
					if strings.Contains(path, prefix) {
						return id
					}
				}
			}
			random = true
			if m == ":id" {
				return uuid.NewString()
			}
			return "nosuch"
		})
		return out, random
	}
	// Sessions for the pages.
	backoffice := newPageClient(t, base, ten)
	backoffice.login("/backoffice", demoEmail(ten, "admin"), identity.DemoPassword)
	portal := newPageClient(t, base, ten)
	portal.login("/portal", identity.DemoTraderEmail(ten), identity.DemoPassword)
	cookieHeader := func(pc *pageClient) string {
		var parts []string
		for _, ck := range pc.cookies {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
		return strings.Join(parts, "; ")
	}

	type target struct {
		kind, method, path string // kind: api, console, page
		host               string
		header             map[string]string
		request            any
		limit              int // the route's body limit
		stream             bool
		pages              bool
		randomID           bool
		paged              bool
	}
	var targets []target
	streams := map[string]bool{}
	for _, r := range documents.StreamRoutes() {
		streams[r.Method+" "+r.Path] = true
	}
	add := func(kind string, r web.Route, hst string) {
		path, random := fill(r.Path)
		h := map[string]string{"Accept": "application/json"}
		switch {
		case kind == "console" && r.Permission != web.Public:
			h["Authorization"] = "Bearer " + opTok.AccessToken
		case r.Permission == web.Public:
		case strings.HasPrefix(string(r.Permission), "portal."):
			h["Authorization"] = "Bearer " + trader.AccessToken
		default:
			h["Authorization"] = "Bearer " + adminTok
		}
		limit := r.BodyLimit
		if limit == 0 {
			limit = web.DefaultMaxBody
		}
		stream := streams[r.Method+" "+r.Path]
		if stream {
			limit = int(a.cfg.UploadMaxBytes)
		}
		paged := false
		if r.Response != nil {
			if rt := reflect.TypeOf(r.Response); rt.Kind() == reflect.Struct {
				_, paged = rt.FieldByName("NextCursor")
			}
		}
		targets = append(targets, target{kind: kind, method: r.Method, path: path, host: hst, header: h, request: r.Request,
			limit: limit, stream: stream, randomID: random, paged: paged})
		if r.Idempotent {
			targets[len(targets)-1].header["Idempotency-Key"] = "edge-battery"
		}
	}
	for _, r := range s.api.Routes() {
		add("api", r, host)
	}
	for _, r := range s.console.Routes() {
		add("console", r, consoleHost)
	}
	for _, r := range s.pages.Routes() {
		path, random := fill(r.Path)
		h := map[string]string{"Accept": "text/html"}
		switch {
		case strings.HasPrefix(r.Path, "/backoffice"):
			h["Cookie"] = cookieHeader(backoffice)
		case strings.HasPrefix(r.Path, "/portal"):
			h["Cookie"] = cookieHeader(portal)
		}
		limit := r.BodyLimit
		if limit == 0 {
			limit = web.DefaultMaxBody
		}
		targets = append(targets, target{kind: "page", method: r.Method, path: path, host: host, header: h, pages: true,
			limit: limit, stream: streams[r.Method+" "+r.Path], randomID: random})
	}

	// What the edge answers before any route is chosen: a random id cannot make those a 404.
	edge := map[string]bool{"NUL in the query": true, "invalid UTF-8 in the query": true, "overlong UTF-8 in the query": true,
		"control character in the query": true, "line break in the query": true, "NUL in the path": true,
		"invalid UTF-8 in the path": true, "1,000 query parameters": true, "1 MB cursor": true, "100 kB Idempotency-Key": true,
		"oversized body": true, "NUL in a form field": true, "invalid UTF-8 in a form field": true}
	counter := newRowCounter(t, p, ten)
	before := counter.counts(t)
	var counts struct{ requests, strict, idRefusals, bodyRoutes, routes int }
	check := func(tg target, what string, r edgeAnswer, status int, typ string, fields []string) {
		t.Helper()
		counts.requests++
		switch {
		case r.status >= 500 || r.status < 400:
			t.Errorf("%s %s %s (%s): %d, want a 4xx: %.300s", tg.kind, tg.method, tg.path, what, r.status, r.body)
			return
		case !tg.pages && r.ctype != "application/problem+json":
			t.Errorf("%s %s %s (%s): %d %s is not problem+json", tg.kind, tg.method, tg.path, what, r.status, r.ctype)
			return
		case tg.pages && r.ctype != "application/problem+json" && !strings.HasPrefix(r.ctype, "text/html"):
			t.Errorf("%s %s %s (%s): %d %s is neither a page nor a problem", tg.kind, tg.method, tg.path, what, r.status, r.ctype)
			return
		}
		if status == 0 {
			return
		}
		if r.status == 404 && tg.randomID && !edge[what] {
			counts.idRefusals++ // refused for its (random) id before the body was read
			return
		}
		if r.status != status || (typ != "" && !tg.pages && r.problem().Type != typ) {
			t.Errorf("%s %s %s (%s): %d %s, want %d %s", tg.kind, tg.method, tg.path, what, r.status, r.problem().Type, status, typ)
			return
		}
		if tg.pages { // a page shows the problem in words; its status is what is checked
			counts.strict++
			return
		}
		got := r.fields()
		for _, f := range fields {
			if !slices.Contains(got, f) {
				t.Errorf("%s %s %s (%s): fields %v do not name %q", tg.kind, tg.method, tg.path, what, got, f)
			}
		}
		counts.strict++
	}
	for _, tg := range targets {
		counts.routes++
		send := func(query string, header map[string]string, body []byte, pad int) edgeAnswer {
			h := map[string]string{}
			for k, v := range tg.header {
				h[k] = v
			}
			for k, v := range header {
				h[k] = v
			}
			return rawSend(t, base, tg.host, tg.method, tg.path+query, h, body, pad)
		}
		// The head: query and path text, an oversized query, an oversized head.
		for _, q := range []struct{ name, query, field string }{
			{"NUL in the query", "?q=a%00b", "q"},
			{"invalid UTF-8 in the query", "?q=%FF%FE", "q"},
			{"overlong UTF-8 in the query", "?q=%C0%AF", "q"},
			{"control character in the query", "?q=a%01b", "q"},
			{"line break in the query", "?next=%0d%0aSet-Cookie:x", "next"},
		} {
			check(tg, q.name, send(q.query, nil, nil, 0), 400, "/problems/invalid-text", []string{q.field})
		}
		check(tg, "NUL in the path", rawSend(t, base, tg.host, tg.method, tg.path+"%00", tg.header, nil, 0), 400, "/problems/invalid-text", []string{"path"})
		check(tg, "invalid UTF-8 in the path", rawSend(t, base, tg.host, tg.method, tg.path+"%FF", tg.header, nil, 0), 400, "/problems/invalid-text", []string{"path"})
		many := make(url.Values)
		for i := range 1000 {
			many.Set(fmt.Sprintf("p%d", i), "1")
		}
		check(tg, "1,000 query parameters", send("?"+many.Encode(), nil, nil, 0), 431, "/problems/head-too-large", nil)
		check(tg, "1 MB cursor", send("?cursor="+strings.Repeat("A", 1<<20), nil, nil, 0), 431, "/problems/head-too-large", nil)
		check(tg, "100 kB Idempotency-Key", send("", map[string]string{"Idempotency-Key": strings.Repeat("k", 100<<10)}, nil, 0), 431, "/problems/head-too-large", nil)
		if _, idem := tg.header["Idempotency-Key"]; idem {
			check(tg, "300-byte Idempotency-Key", send("", map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, []byte("{}"), 0),
				400, "/problems/invalid-header", []string{"Idempotency-Key"})
		}
		if tg.paged {
			check(tg, "2 kB cursor", send("?cursor="+strings.Repeat("A", 2000), nil, nil, 0), 400, "/problems/invalid-query", []string{"cursor"})
		}
		// The body: over the route's limit, refused while (or before) being read.
		big := map[string]string{"Content-Type": "application/json"}
		if tg.pages {
			big["Content-Type"] = "application/x-www-form-urlencoded"
		}
		want := 413
		if tg.stream {
			want = 0 // an upload's handler judges its own stream against its own limit: a 4xx
		}
		check(tg, "oversized body", send("", big, nil, tg.limit+1), want, "", nil)
		if tg.pages && tg.method == http.MethodPost && !tg.stream {
			form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			check(tg, "NUL in a form field", send("", form, []byte("csrf=x&note=a%00b"), 0), 400, "", nil)
			check(tg, "invalid UTF-8 in a form field", send("", form, []byte("csrf=x&note=%FF%FE"), 0), 400, "", nil)
		}
		if tg.request != nil {
			counts.bodyRoutes++
			for _, bc := range bodyBattery(t, tg.request) {
				check(tg, bc.name, send("", map[string]string{"Content-Type": bc.ctype}, bc.body, 0), bc.status, bc.typ, bc.fields)
			}
		}
		if tg.method != http.MethodGet {
			if after := counter.counts(t); !maps.Equal(before, after) {
				t.Errorf("%s %s %s changed the database: %v", tg.kind, tg.method, tg.path, diffCounts(before, after))
				before = after
			}
		}
	}
	if after := counter.counts(t); !maps.Equal(before, after) {
		t.Errorf("the battery changed the database: %v", diffCounts(before, after))
	}
	t.Logf("edge battery: %d routes (%d with JSON bodies), %d requests, %d answers checked exactly, %d refused for a random id first",
		counts.routes, counts.bodyRoutes, counts.requests, counts.strict, counts.idRefusals)
	if counts.bodyRoutes == 0 || counts.strict < counts.requests/2 {
		t.Fatalf("the battery checked too little: %+v", counts)
	}
}

// Ids have one form: the canonical lower-case hyphenated one. On every route of the tables with an :id, an existing
// object's id written in upper case, as urn:uuid:..., in braces or without hyphens answers 404 (the canonical one
// answers 200 on the GET routes, so the 404 is about the form), and so do the pages.
func TestIdsHaveOneCanonicalForm(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	ten, admin := demoTenant(t, a)
	uploadForMatrix(t, a, ten)
	host := hostOf(ten)
	tok := staffLogin(t, base, ten, "admin").AccessToken
	ids := map[string]string{"/staff/:id": admin.ID.String()}
	err = a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		var client, doc, kase string
		if err := tx.QueryRow(ctx, `SELECT d.client_id::text, d.id::text, k.id::text FROM documents d JOIN kyc_cases k ON k.document_id = d.id LIMIT 1`).Scan(&client, &doc, &kase); err != nil {
			return err
		}
		ids["/clients/:id"], ids["/documents/:id"], ids["/kyc/cases/:id"] = client, doc, kase
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	variants := func(id string) map[string]string {
		return map[string]string{"upper case": strings.ToUpper(id), "urn": "urn:uuid:" + id, "braces": "%7B" + id + "%7D",
			"no hyphens": strings.ReplaceAll(id, "-", "")}
	}
	backoffice := newPageClient(t, base, ten)
	backoffice.login("/backoffice", demoEmail(ten, "admin"), identity.DemoPassword)
	controls, refused := 0, 0
	for _, r := range s.api.Routes() {
		for prefix, id := range ids {
			if !strings.Contains(r.Path, prefix) || strings.HasPrefix(r.Path, "/api/v1/portal/") {
				continue
			}
			var body any
			var headers []string
			if r.Method != http.MethodGet && r.Method != http.MethodDelete {
				body = map[string]any{}
			}
			if r.Idempotent {
				headers = []string{"Idempotency-Key", uuid.NewString()}
			}
			if r.Method == http.MethodGet {
				if c := request(t, base, host, r.Method, strings.Replace(r.Path, ":id", id, 1), tok, nil); c.status == 200 {
					controls++
				}
			}
			for name, v := range variants(id) {
				c := request(t, base, host, r.Method, strings.Replace(r.Path, ":id", v, 1), tok, body, headers...)
				if c.status != 404 {
					t.Errorf("%s %s with the id in %s: %d %.200s", r.Method, r.Path, name, c.status, c.body)
				}
				refused++
			}
		}
	}
	for _, r := range s.pages.Routes() {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/backoffice/") {
			continue
		}
		for prefix, id := range ids {
			if !strings.Contains(r.Path, prefix) {
				continue
			}
			for name, v := range variants(id) {
				if res := backoffice.get(strings.Replace(r.Path, ":id", v, 1)); res.status != 404 {
					t.Errorf("page %s with the id in %s: %d", r.Path, name, res.status)
				}
				refused++
			}
		}
	}
	if controls == 0 || refused == 0 {
		t.Fatalf("%d controls, %d refusals: the test exercised nothing", controls, refused)
	}
}
