package generic_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
)

func TestSortedJSONWritesWhatNOWPaymentsSigns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`{"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": null}}`, `{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}`},
		{`{"amount": 100.50, "tiny": 1e-7, "big": 12345678901234567890}`, `{"amount":100.50,"big":12345678901234567890,"tiny":1e-7}`},
		{`{"s": "caf\u00e9 \u2014 a/b <&> \"q\" \\ \u0001\n"}`, `{"s":"café — a/b <&> \"q\" \\ \u0001\n"}`},
		{`{"a": 1, "a": 2}`, `{"a":2}`},
		{`{"B": 1, "_": 2, "a": 3}`, `{"B":1,"_":2,"a":3}`},
		{`{"\ufb01": 1, "\ud83d\ude00": 2}`, `{"😀":2,"ﬁ":1}`}, // UTF-16 order, as JavaScript sorts
		{` [true, false, "x"] `, `[true,false,"x"]`},
	} {
		got, err := generic.SortedJSON([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("SortedJSON(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1} {"b":2}`, `{"a":01}`, `NaN`, `{'a':1}`} {
		if got, err := generic.SortedJSON([]byte(bad)); err == nil {
			t.Errorf("SortedJSON(%q) = %s, want an error", bad, got)
		}
	}
}

// reordered writes v with every object's keys in reverse order and whitespace everywhere, its strings through
// encoding/json (which escapes <, >, & and U+2028 where SortedJSON does not): the same document, written otherwise.
func reordered(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Reverse(keys)
		b.WriteString("{\n")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ,\n")
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(" : ")
			reordered(b, x[k])
		}
		b.WriteString("\n}")
	case []any:
		b.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				b.WriteString(" , ")
			}
			reordered(b, e)
		}
		b.WriteString(" ]")
	case json.Number:
		b.WriteString(string(x))
	default:
		vb, _ := json.Marshal(x)
		b.Write(vb)
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}

// SortedJSON never panics, is idempotent, says the same as its input, and is the same for the same document
// written with its keys in another order.
func FuzzSortedJSON(f *testing.F) {
	for _, s := range []string{
		`{"payment_id":5077125051,"payment_status":"finished","price_amount":170,"fee":{"depositFee":0.098,"currency":"btc"}}`,
		`{"b":[1,2,{"d":null,"c":true}],"a":"\u00e9\u2028<>&"}`, `[]`, `"x"`, `-0.0e+10`, `{"a":{"a":{"a":[]}}}`,
		`{"\ud800":1}`, "{\"\xff\":1}", `{"a":1,"a":{"b":2}}`, `{"𝄞":1,"ﬁ":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := generic.SortedJSON(in)
		if err != nil {
			if json.Valid(in) {
				t.Fatalf("valid JSON %q refused: %v", in, err)
			}
			return
		}
		again, err := generic.SortedJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q (%v)", out, again, err)
		}
		if !reflect.DeepEqual(decode(t, out), decode(t, in)) {
			t.Fatalf("%q says something else than %q", out, in)
		}
		var b bytes.Buffer
		reordered(&b, decode(t, in))
		permuted, err := generic.SortedJSON(b.Bytes())
		if err != nil || !bytes.Equal(permuted, out) {
			t.Fatalf("key order changed the result:\n%q\n%q (%v)", out, permuted, err)
		}
	})
}

// Parse of either preset (and of a timestamped configuration) never panics, never accepts a body that was not
// signed with the secret, and never refuses one that was.
func FuzzParse(f *testing.F) {
	paid := ipn{PaymentID: "4409701815", InvoiceID: "5222917301", Status: "finished", PriceAmount: "100", PriceCurrency: "usd", OrderID: reference}
	f.Add(paid.delivered(), "0123abcd", uint8(0))
	f.Add(cbEvent("e", "charge:confirmed", "XA6G6ZFR", reference, "1.00", "USD"), "", uint8(1))
	f.Add([]byte(`{"event":{"type":"charge:confirmed","data":{"code":7,"pricing":{"local":{"amount":1e999,"currency":"usd"}}}}}`), "zz", uint8(1))
	f.Add([]byte(`{"payment_status":"finished","payment_id":[1],"price_amount":"0.001","price_currency":"BTC"}`), "AAAA", uint8(0))
	f.Add([]byte(`{"event":{"id":"e","type":"charge:pending"}}`), "ZmFrZQ==", uint8(2))
	secret := "fuzz-secret-1234"
	adapters := make([]*generic.Adapter, 3)
	for i, cfg := range []generic.Config{generic.NOWPayments(), generic.CoinbaseCommerce(), timestamped()} {
		a, err := generic.New(cfg, generic.Secrets{WebhookSecrets: []string{secret}, APIKey: "k"}, nil)
		if err != nil {
			f.Fatal(err)
		}
		adapters[i] = a
	}
	f.Fuzz(func(t *testing.T, body []byte, sig string, pick uint8) {
		which := int(pick) % len(adapters)
		a := adapters[which]
		forged := http.Header{
			"X-Nowpayments-Sig": {sig}, "X-Cc-Webhook-Signature": {sig},
			"X-Acme-Signature": {sig}, "X-Acme-Timestamp": {strconv.FormatInt(clock.Unix(), 10)},
		}
		if n, err := a.Parse(forged, body, clock); !errors.Is(err, payments.ErrBadSignature) {
			t.Fatalf("an unsigned body was not refused: %+v, %v", n, err)
		}
		var signed http.Header
		switch which {
		case 0:
			sorted, err := generic.SortedJSON(body)
			if err != nil {
				return // not JSON: NOWPayments could not have signed it
			}
			m := hmac.New(sha512.New, []byte(secret))
			m.Write(sorted)
			signed = http.Header{"X-Nowpayments-Sig": {hex.EncodeToString(m.Sum(nil))}}
		case 1:
			signed = (&coinbase{sharedSecret: secret}).sign(body)
		default:
			signed = signTimestamped(body, secret, clock)
		}
		n, err := a.Parse(signed, body, clock)
		switch {
		case errors.Is(err, payments.ErrBadSignature):
			t.Fatalf("a signed body was refused: %v", err)
		case err != nil && !errors.Is(err, payments.ErrMalformed):
			t.Fatalf("neither read nor malformed: %v", err)
		case err == nil && (n.EventID == "" || n.Status == "" || n.Type == ""):
			t.Fatalf("read without event id, status or type: %+v", n)
		case err == nil && n.AmountKnown && (n.Amount.Minor < 0 || n.Amount.Currency.Code == ""):
			t.Fatalf("read a negative or currency-less amount: %+v", n)
		}
	})
}
