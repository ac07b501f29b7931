package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// BenchmarkAccountOpeningEndToEnd is issue 12's figure "account opening end to end (portal request to login
// shown)" against the process's simulator: one op is one demo account, from the portal's POST
// /api/v1/portal/trading/accounts until the portal's GET of the request shows the login, through everything in
// between as deployed in one process (the request's transaction and its outbox row, the relay, Redis, the worker's
// task, the simulator, the credentials email to Mailpit, the request marked done). Openings run one after another,
// the GET polled every 2 ms; it reports the median and the 99th percentile (nearest rank) of the ops.
//
//	go test -run '^$' -bench AccountOpeningEndToEnd -benchtime 200x ./cmd/brokerdesk/   (under brokerdesk services exec)
func BenchmarkAccountOpeningEndToEnd(b *testing.B) {
	a, base, _, ctx := startDesk(b, map[string]string{"BD_RATE_LIMIT_IP": "off", "BD_RATE_LIMIT_TOKEN": "off", "BD_LOG_LEVEL": "warn"})
	ten, _ := demoTenantNamed(b, a, "Opening FX")
	host := hostOf(ten)
	if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("bench"), tradingdesk.ServerInput{Slug: "sim-practice", Name: "Sim practice",
		Platform: trading.PlatformSimulator, Live: false, Enabled: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("bench"), tradingdesk.AccountTypeInput{Slug: "demo", Name: "Demo",
		Server: "sim-practice", Leverages: []int{100}, Enabled: true, Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}}); err != nil {
		b.Fatal(err)
	}
	r := request(b, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: identity.DemoTraderEmail(ten), Password: identity.DemoPassword})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		b.Fatalf("portal login: %d %s", r.status, r.body)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		r := request(b, base, host, "POST", "/api/v1/portal/trading/accounts", tok.AccessToken,
			tradingdesk.OpenAccountBody{Type: "demo", Currency: "USD", Leverage: 100}, "Idempotency-Key", uuid.NewString())
		var req tradingdesk.RequestResponse
		if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.status != 202 {
			b.Fatalf("open: %d %s", r.status, r.body)
		}
		for deadline := start.Add(30 * time.Second); req.Login == ""; {
			if time.Now().After(deadline) {
				b.Fatalf("no login after 30 s: %+v", req)
			}
			time.Sleep(2 * time.Millisecond)
			r = request(b, base, host, "GET", "/api/v1/portal/trading/requests/"+req.ID.String(), tok.AccessToken, nil)
			if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.status != 200 || req.Status == "failed" {
				b.Fatalf("the request: %d %s", r.status, r.body)
			}
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "median-ms")
	b.ReportMetric(ms(took[(len(took)*99+99)/100-1]), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}
