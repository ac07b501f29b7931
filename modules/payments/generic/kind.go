package generic

import (
	"encoding/json"
	"net/http"

	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// KindName is the gateway kind of this adapter.
const KindName = "generic"

// Kind is this adapter as the payments module registers it: built from the stored JSON, with the two presets
// ("nowpayments", "coinbase-commerce"). The wiring lives in cmd: payments cannot import its sub-packages, which
// import it.
func Kind() payments.Kind {
	presets := map[string][]byte{}
	for name, c := range map[string]Config{"nowpayments": NOWPayments(), "coinbase-commerce": CoinbaseCommerce()} {
		b, err := json.Marshal(c)
		if err != nil {
			panic(err) // a Config always marshals
		}
		presets[name] = b
	}
	return payments.KindOf(payments.Typed[Config, Secrets]{
		Name:        KindName,
		ConfigHint:  "must be the generic gateway's configuration",
		SecretsHint: "must be a JSON object with webhook_secrets (a list) and api_key",
		New: func(c Config, s Secrets, client *http.Client) (payments.Adapter, error) {
			a, err := New(c, s, client)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
		Validate: Config.Validate,
		Simulate: simulate,
		Presets:  presets,
	})
}
