package generic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
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
	return payments.Kind{
		Name: KindName,
		New: func(config, secrets []byte, client *http.Client) (payments.Adapter, error) {
			c, s, err := decode(config, secrets)
			if err != nil {
				return nil, err
			}
			return New(c, s, client)
		},
		Validate: func(config, secrets []byte) error {
			c, s, err := decode(config, secrets)
			if err != nil {
				return err
			}
			return c.Validate(s)
		},
		Simulate: func(config, secrets []byte, p payments.Simulated, now time.Time) (http.Header, []byte, error) {
			c, s, err := decode(config, secrets)
			if err != nil {
				return nil, nil, err
			}
			return simulate(c, s, p, now)
		},
		Presets: presets,
	}
}

// decode reads the stored JSON strictly (a misspelt field is an error, not a silent default). The secrets' decoding
// error is never repeated: its text could quote the secret.
func decode(config, secrets []byte) (Config, Secrets, error) {
	var c Config
	var s Secrets
	var f validation.Fields
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		f.Add("config", "must be the generic gateway's configuration: "+err.Error())
	}
	dec = json.NewDecoder(bytes.NewReader(secrets))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		f.Add("secrets", "must be a JSON object with webhook_secrets (a list) and api_key")
	}
	return c, s, f.Err()
}
