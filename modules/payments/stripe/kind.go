package stripe

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// KindName is the gateway kind of this adapter.
const KindName = "stripe"

// Kind is this adapter as the payments module registers it, built from the stored JSON. The wiring lives in cmd:
// payments cannot import its sub-packages, which import it.
func Kind() payments.Kind {
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
	}
}

// decode reads the stored JSON strictly (a misspelt field is an error, not a silent default). The secrets' decoding
// error is never repeated: its text could quote the key.
func decode(config, secrets []byte) (Config, Secrets, error) {
	var c Config
	var s Secrets
	var f validation.Fields
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		f.Add("config", "must be the Stripe gateway's configuration (api_base, currencies): "+err.Error())
	}
	dec = json.NewDecoder(bytes.NewReader(secrets))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		f.Add("secrets", "must be a JSON object with secret_key and webhook_secrets (a list)")
	}
	return c, s, f.Err()
}
