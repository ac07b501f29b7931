package dxtrade

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
)

// parseOrdersReference is the order history decoded by encoding/json into the same types: what parseOrders must
// agree with.
func parseOrdersReference(body []byte) ([]wireOrder, error) {
	var l struct {
		Orders []wireOrder `json:"orders"`
	}
	if err := decode(body, &l); err != nil {
		return nil, err
	}
	return l.Orders, nil
}

// describeOrders prints orders with every decimal's digits and exponent and every time's instant and zone, so two
// decodings compare exactly.
func describeOrders(os []wireOrder) string {
	n := func(v num) string { return fmt.Sprintf("%t/%s/%d", v.ok, v.d.String(), v.d.Exponent()) }
	var b strings.Builder
	for _, o := range os {
		t := time.Time(o.TransactionTime)
		fmt.Fprintf(&b, "{%q %q %q %q %q %q %d %s |", o.Account, o.OrderID, o.OrderCode, o.Instrument, o.Status,
			o.Side, t.UnixNano(), t.Location())
		for _, l := range o.Legs {
			fmt.Fprintf(&b, " leg{%q %q %q %q %s %s %s %s}", l.Instrument, l.PositionEffect, l.PositionCode, l.Side,
				n(l.Price), n(l.Quantity), n(l.FilledQuantity), n(l.AveragePrice))
		}
		for _, c := range o.CashTransactions {
			fmt.Fprintf(&b, " cash{%q %s}", c.Type, n(c.Value))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func TestParseOrdersAgreesWithEncodingJSONOnTheFakesHistory(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	f.AddAccount("BD1", "USD")
	from := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	f.SeedDeals("BD1", 40, from, from.Add(40*time.Hour))
	body := f.HistoryBody("BD1")
	fast, err := parseOrders(body)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := parseOrdersReference(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(fast) != 40 || describeOrders(fast) != describeOrders(ref) {
		t.Fatalf("parseOrders and encoding/json disagree:\n%s\nvs\n%s", describeOrders(fast), describeOrders(ref))
	}
}

// historyCorners are answers where a hand-written reader could drift from encoding/json.
var historyCorners = []string{
	`{"orders":[{"orderId":1,"ORDERID":2,"Side":"BUY","side":null,"legs":[{"price":1},{"price":2}],"legs":[{"quantity":3}]}]}`,
	`{"orders":[null,{"account":"C:1"}],"orders":[{"status":"X"},{"status":"Y"}],"other":{"a":[1,2,{"b":null}]}}`,
	`{"orders":[{"instrument":"EUR\/USD","status":"\u0043OMPLETED","transactionTime":"2025-03-03T00:00:00.5+01:00"}]}`,
	`{"orders":[{"legs":null,"cashTransactions":[{"type":"COMMISSION","value":"-1.5"},null,{"value":2E-3}]}]}`,
	`{"orders":[{"transactionTime":1741000000123,"orderId":"77","legs":[]}]}`,
	`{"orders":[{"account":1}]}`, `{"orders":{}}`, `{"orders":[{"legs":{}}]}`, `{"orders":[{"orderId":true}]}`,
	`{"orders":[{"transactionTime":"yesterday"}]}`, `{"orders":[{"legs":[{"price":"1e400"}]}]}`,
	`null`, ` {} `, `[]`, `{"orders":[]} x`, `{"orders":[1,]}`, `{"a":01}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`,
	`{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":tru}`, `{"a" 1}`, `{,}`, `{"orders":[{"side":"BUY"}]`, ``, `  `,
}

func FuzzParseOrdersMatchesEncodingJSON(f *testing.F) {
	for _, s := range historyCorners {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ferr := parseOrders(body)
		if ferr == nil && !json.Valid(body) && strings.TrimSpace(string(body)) != "" {
			t.Fatalf("parseOrders accepted invalid JSON %q", body)
		}
		// Outside ASCII and \u escapes, encoding/json's Unicode case folding of keys is out of scope (DXtrade's keys
		// are ASCII camelCase); everywhere else the two must agree exactly.
		if strings.Contains(string(body), `\u`) {
			return
		}
		for _, c := range body {
			if c >= 0x80 {
				return
			}
		}
		ref, rerr := parseOrdersReference(body)
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("body %q: parseOrders error %v, encoding/json error %v", body, ferr, rerr)
		}
		if ferr == nil && describeOrders(fast) != describeOrders(ref) {
			t.Fatalf("body %q:\nparseOrders  %s\nencoding/json %s", body, describeOrders(fast), describeOrders(ref))
		}
	})
}

func TestSmallDecimalMatchesNewFromString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0", "-0", "7", "007", "1.5", "1.50", "-1.08345", "0.000000000000000001",
		"123456789012345678", "-99999999999999999.9", "1.", ".5", "+1", "1e3", "1-2", "-", "", "1..2",
		"1234567890123456789", "12345678901234567.89"} {
		want, wantErr := decimal.NewFromString(s)
		got, ok := smallDecimal([]byte(s))
		if !ok {
			continue // left to NewFromString
		}
		if wantErr != nil || got.String() != want.String() || got.Exponent() != want.Exponent() {
			t.Errorf("smallDecimal(%q) = %s e%d; NewFromString = %s e%d (%v)", s, got, got.Exponent(), want,
				want.Exponent(), wantErr)
		}
	}
}
