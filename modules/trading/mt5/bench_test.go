package mt5

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

// realisticDealsAnswer is a get_page answer of n trade deals with every field a real server sends, numbers as
// strings, built by the fake so the benchmark and the fake agree on the wire form.
func realisticDealsAnswer(tb testing.TB, n int) string {
	f := mt5fake.New(tb, mt5fake.Options{Offset: 2 * time.Hour})
	list := make([]any, 0, n)
	for i := range n {
		d := &mt5fake.Deal{Ticket: 5000000 + uint64(i), Login: 100001, Order: 6000000 + uint64(i), PositionID: 7000000 + uint64(i/2),
			Action: int64(i % 2), Entry: int64(i % 2), LocalMsc: 1740960000000 + int64(i)*13824000, Symbol: "EURUSD",
			Price: "1.08345", Volume: 1000, VolumeExt: 10000000, Profit: decimal.RequireFromString("12.30"),
			Commission: decimal.RequireFromString("-0.70"), Storage: decimal.RequireFromString("-0.45"), Comment: "tp hit"}
		list = append(list, f.DealJSON(d))
	}
	b, _ := json.Marshal(map[string]any{"retcode": "0 Done", "answer": list})
	return string(b)
}

// BenchmarkMT5ParseDeals parses and normalises full get_page answers (100 deals each): envelope, records, exact
// decimals, units and UTC times.
func BenchmarkMT5ParseDeals(b *testing.B) {
	body := []byte(realisticDealsAnswer(b, maxPage))
	clk := serverClock{offset: 2 * time.Hour}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	deals := 0
	out := make([]trading.Deal, 0, maxPage)
	for b.Loop() {
		env, err := parseEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		recs, err := parseDeals(env.Answer)
		if err != nil {
			b.Fatal(err)
		}
		out = out[:0]
		for _, r := range recs {
			out = append(out, r.toDeal(clk))
		}
		deals += len(out)
	}
	if len(out) != maxPage || !out[1].Volume.Equal(decimal.RequireFromString("0.1")) {
		b.Fatalf("parsed %d deals, last volume %s", len(out), out[1].Volume)
	}
	b.ReportMetric(float64(deals)/b.Elapsed().Seconds(), "deals/s")
}

// BenchmarkMT5BalanceRoundTrips reports the HTTP requests one balance operation costs on a warm session, on a
// caller's retry of an operation already done, and when the answer is lost after the money moved.
func BenchmarkMT5BalanceRoundTrips(b *testing.B) {
	f := mt5fake.New(b, mt5fake.Options{Offset: 2 * time.Hour})
	c := newTestConnector(b, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	ctx := b.Context()
	if err := c.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	var warm, replay, dropped, ops int
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", ops)
		ops++
		op := trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: decimal.RequireFromString("1"), OperationID: id}
		before := f.Total()
		if _, err := c.BalanceOperation(ctx, op); err != nil {
			b.Fatal(err)
		}
		warm += f.Total() - before
		before = f.Total()
		if _, err := c.BalanceOperation(ctx, op); err != nil {
			b.Fatal(err)
		}
		replay += f.Total() - before
		op.OperationID += "-drop"
		f.DropNextBalanceAnswer()
		before = f.Total()
		if _, err := c.BalanceOperation(ctx, op); err != nil {
			b.Fatal(err)
		}
		dropped += f.Total() - before
	}
	b.ReportMetric(float64(warm)/float64(ops), "requests/op-warm")
	b.ReportMetric(float64(replay)/float64(ops), "requests/op-replay")
	b.ReportMetric(float64(dropped)/float64(ops), "requests/op-dropped")
}
