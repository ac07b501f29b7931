package stripe

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// simulate writes the webhook Stripe sends about a Checkout Session's payment (completed and paid, async failed),
// signed with the gateway's first webhook secret the way Stripe signs (Stripe-Signature: t=...,v1=...). The demo's
// payment sandbox plays it; it is never sent to a real Stripe account's endpoint.
func simulate(cfg Config, sec Secrets, p payments.Simulated, now time.Time) (http.Header, []byte, error) {
	if len(sec.WebhookSecrets) == 0 {
		return nil, nil, fmt.Errorf("stripe: the gateway has no webhook secret to sign with")
	}
	typ, status := EventSessionCompleted, "paid"
	switch p.Status {
	case payments.NotifiedPaid:
	case payments.NotifiedFailed:
		typ, status = EventSessionAsyncFailed, "unpaid"
	case payments.NotifiedPending:
		status = "unpaid"
	default:
		return nil, nil, fmt.Errorf("stripe: cannot simulate a %s callback", p.Status)
	}
	body := fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2023-10-16","created":%d,"data":{"object":`+
		`{"id":%q,"object":"checkout.session","amount_total":%d,"client_reference_id":%q,"currency":%q,`+
		`"metadata":{%q:%q},"mode":"payment","payment_intent":%q,"payment_status":%q,"status":"complete"}},`+
		`"livemode":false,"pending_webhooks":1,"type":%q}`, p.EventID, now.Unix(), p.ExternalID, p.Amount.Minor, p.Reference,
		strings.ToLower(p.Amount.Currency.Code), MetadataKey, p.Reference, "pi_"+strings.TrimPrefix(p.EventID, "evt_"), status, typ)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: sec.WebhookSecrets[0], Timestamp: now})
	h := http.Header{}
	h.Set("Stripe-Signature", signed.Header)
	h.Set("Content-Type", "application/json")
	return h, body, nil
}
