package generic

// NOWPayments is the configuration of a NOWPayments gateway (hosted invoices, crypto paid against a fiat price),
// to be completed with the store's IPN secret (Secrets.WebhookSecrets) and API key.
//
//   - Begin: POST https://api.nowpayments.io/v1/invoice with x-api-key, our reference as order_id and the callback
//     URL as ipn_callback_url; the client goes to the answer's invoice_url, and the invoice id is kept.
//   - Callbacks (IPN): x-nowpayments-sig is the hex HMAC-SHA512, keyed with the IPN secret, of the body with its
//     keys sorted and no whitespace (NOWPayments' documented check, which sorts the parameters and JSON.stringifies
//     them). IPNs carry no event id: the event is "<payment_id>:<payment_status>". The amount is price_amount in
//     price_currency (the fiat price the invoice was created for); what the client sent in crypto (actually_paid,
//     pay_currency) is not what the deposit credits.
//   - Statuses: finished is paid; waiting, confirming, confirmed, sending and partially_paid are pending (an
//     underpaid invoice stays pending until finance resolves it); failed and expired are failed; refunded is
//     refunded.
//
// For NOWPayments' sandbox, set Create.URL to https://api-sandbox.nowpayments.io/v1/invoice.
func NOWPayments() Config {
	return Config{
		Signature: Signature{Header: "x-nowpayments-sig", Algorithm: HMACSHA512, Payload: PayloadSortedJSON, Encoding: EncodingHex},
		Callback: Callback{
			Reference:  "order_id",
			ExternalID: "payment_id",
			Amount:     "price_amount",
			Currency:   "price_currency",
			Status:     "payment_status",
			Paid:       []string{"finished"},
			Pending:    []string{"waiting", "confirming", "confirmed", "sending", "partially_paid"},
			Failed:     []string{"failed", "expired"},
			Refunded:   []string{"refunded"},
		},
		Ack: Ack{Status: 200, ContentType: "text/plain; charset=utf-8", Body: "OK"},
		Create: Create{
			URL:          "https://api.nowpayments.io/v1/invoice",
			APIKeyHeader: "x-api-key",
			Body: `{"price_amount":"{{amount_number}}","price_currency":"{{currency_lower}}","order_id":"{{reference}}",` +
				`"order_description":"{{description}}","ipn_callback_url":"{{callback_url}}",` +
				`"success_url":"{{return_url}}","cancel_url":"{{cancel_url}}"}`,
			RedirectURL: "invoice_url",
			ExternalID:  "id",
		},
	}
}

// CoinbaseCommerce is the configuration of a Coinbase Commerce gateway (hosted charges priced in a local
// currency), to be completed with the webhook subscription's shared secret and an API key. The webhook URL is set
// once in Coinbase Commerce's settings (Commerce takes no callback URL per charge).
//
//   - Begin: POST https://api.commerce.coinbase.com/charges with X-CC-Api-Key and X-CC-Version 2018-03-22, a
//     fixed_price charge of local_price {amount, currency}, our reference in metadata.deposit; the client goes to
//     data.hosted_url, and the charge code (data.code) is kept.
//   - Callbacks: X-CC-Webhook-Signature is the hex HMAC-SHA256, keyed with the shared secret, of the raw body. The
//     event is event.id; the charge is event.data (code, metadata.deposit, pricing.local amount and currency).
//   - Statuses are the event types: charge:confirmed is paid, charge:pending pending (the payment is seen on chain,
//     not yet final), charge:failed failed; charge:created, charge:delayed and charge:resolved are ignored (a late
//     or manually resolved charge goes to finance, not straight to the wallet).
func CoinbaseCommerce() Config {
	return Config{
		Signature: Signature{Header: "X-CC-Webhook-Signature", Algorithm: HMACSHA256, Payload: PayloadRaw, Encoding: EncodingHex},
		Callback: Callback{
			Reference:  "event.data.metadata.deposit",
			ExternalID: "event.data.code",
			EventID:    "event.id",
			Amount:     "event.data.pricing.local.amount",
			Currency:   "event.data.pricing.local.currency",
			Status:     "event.type",
			Paid:       []string{"charge:confirmed"},
			Pending:    []string{"charge:pending"},
			Failed:     []string{"charge:failed"},
		},
		Ack: Ack{Status: 200, ContentType: "text/plain; charset=utf-8", Body: "OK"},
		Create: Create{
			URL:          "https://api.commerce.coinbase.com/charges",
			APIKeyHeader: "X-CC-Api-Key",
			Headers:      map[string]string{"X-CC-Version": "2018-03-22"},
			Body: `{"name":"{{description}}","description":"{{description}}","pricing_type":"fixed_price",` +
				`"local_price":{"amount":"{{amount}}","currency":"{{currency}}"},"metadata":{"deposit":"{{reference}}"},` +
				`"redirect_url":"{{return_url}}","cancel_url":"{{cancel_url}}"}`,
			RedirectURL: "data.hosted_url",
			ExternalID:  "data.code",
		},
	}
}
