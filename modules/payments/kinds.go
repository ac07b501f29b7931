package payments

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Typed is an adapter package's side of a Kind, on its own configuration type C and secrets type S; KindOf turns it
// into the Kind payments registers.
type Typed[C, S any] struct {
	Name string
	// ConfigHint and SecretsHint end the field errors of stored JSON that does not decode ("must be ...").
	ConfigHint, SecretsHint string
	New                     func(C, S, *http.Client) (Adapter, error)
	Validate                func(C, S) error
	Simulate                func(C, S, Simulated, time.Time) (http.Header, []byte, error) // nil: cannot be simulated
	Presets                 map[string][]byte
}

// KindOf builds the Kind of k. The stored JSON is read strictly (a misspelt field is an error, not a silent
// default); the secrets' decoding error is never repeated, as its text could quote a secret.
func KindOf[C, S any](k Typed[C, S]) Kind {
	decode := func(config, secrets []byte) (C, S, error) {
		var c C
		var s S
		var f validation.Fields
		if err := strictJSON(config, &c); err != nil {
			f.Add("config", k.ConfigHint+": "+err.Error())
		}
		if err := strictJSON(secrets, &s); err != nil {
			f.Add("secrets", k.SecretsHint)
		}
		return c, s, f.Err()
	}
	out := Kind{
		Name: k.Name,
		New: func(config, secrets []byte, client *http.Client) (Adapter, error) {
			c, s, err := decode(config, secrets)
			if err != nil {
				return nil, err
			}
			return k.New(c, s, client)
		},
		Validate: func(config, secrets []byte) error {
			c, s, err := decode(config, secrets)
			if err != nil {
				return err
			}
			return k.Validate(c, s)
		},
		Presets: k.Presets,
	}
	if k.Simulate != nil {
		out.Simulate = func(config, secrets []byte, p Simulated, now time.Time) (http.Header, []byte, error) {
			c, s, err := decode(config, secrets)
			if err != nil {
				return nil, nil, err
			}
			return k.Simulate(c, s, p, now)
		}
	}
	return out
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
