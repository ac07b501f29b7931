package generic_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
)

// What the demo's payment sandbox plays is a callback the gateway's own Parse accepts and reads back, for both
// presets' signing schemes.
func TestASimulatedCallbackIsOneTheGatewayAcceptsAndReadsBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for name, cfg := range map[string]generic.Config{"nowpayments": generic.NOWPayments(), "coinbase-commerce": generic.CoinbaseCommerce()} {
		kind := generic.Kind()
		config, _ := json.Marshal(cfg)
		secrets, _ := json.Marshal(generic.Secrets{WebhookSecrets: []string{"sandbox-secret-0123456789"}, APIKey: "key"})
		want := payments.Simulated{EventID: "sim-1", Reference: "0190a3b4-7d1c-7f00-8000-000000000001", ExternalID: "pay-77",
			Status: payments.NotifiedPaid, Amount: money.Amount{Minor: 7550, Currency: money.MustLookup("USD")}}
		h, body, err := kind.Simulate(config, secrets, want, now)
		if err != nil {
			t.Fatalf("%s: simulate: %v", name, err)
		}
		a, err := kind.New(config, secrets, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := a.Parse(h, body, now)
		if err != nil {
			t.Fatalf("%s: parse: %v\n%s", name, err, body)
		}
		if n.Status != payments.NotifiedPaid || n.Reference != want.Reference || !n.AmountKnown || n.Amount != want.Amount {
			t.Errorf("%s: read back %+v from %s", name, n, body)
		}
	}
}
