package stripe

import (
	"net/http"

	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// KindName is the gateway kind of this adapter.
const KindName = "stripe"

// Kind is this adapter as the payments module registers it, built from the stored JSON. The wiring lives in cmd:
// payments cannot import its sub-packages, which import it.
func Kind() payments.Kind {
	return payments.KindOf(payments.Typed[Config, Secrets]{
		Name:        KindName,
		ConfigHint:  "must be the Stripe gateway's configuration (api_base, currencies)",
		SecretsHint: "must be a JSON object with secret_key and webhook_secrets (a list)",
		New: func(c Config, s Secrets, client *http.Client) (payments.Adapter, error) {
			a, err := New(c, s, client)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
		Validate: Config.Validate,
		Simulate: simulate,
	})
}
