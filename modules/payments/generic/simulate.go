package generic

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// simulate writes the callback a processor configured as cfg would send about a payment: the mapped fields at their
// dotted paths, the status as the first of the configured values for it, signed with the first webhook secret as
// Signature says. The demo's payment sandbox plays it against the gateway's own webhook.
func simulate(cfg Config, sec Secrets, p payments.Simulated, now time.Time) (http.Header, []byte, error) {
	a, err := New(cfg, sec, nil)
	if err != nil {
		return nil, nil, err
	}
	cb := cfg.Callback
	var statuses []string
	switch p.Status {
	case payments.NotifiedPaid:
		statuses = cb.Paid
	case payments.NotifiedPending:
		statuses = cb.Pending
	case payments.NotifiedFailed:
		statuses = cb.Failed
	case payments.NotifiedRefunded:
		statuses = cb.Refunded
	}
	if len(statuses) == 0 {
		return nil, nil, fmt.Errorf("generic: the gateway maps no %s status", p.Status)
	}
	tree := map[string]any{}
	set := func(path string, v any) {
		if path == "" {
			return
		}
		node := tree
		segs := strings.Split(path, ".")
		for _, s := range segs[:len(segs)-1] {
			next, ok := node[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[s] = next
			}
			node = next
		}
		node[segs[len(segs)-1]] = v
	}
	set(cb.Reference, p.Reference)
	set(cb.ExternalID, p.ExternalID)
	set(cb.EventID, p.EventID)
	set(cb.Status, statuses[0])
	if cb.Amount != "" {
		set(cb.Amount, json.Number(p.Amount.Decimal()))
		set(cb.Currency, strings.ToLower(p.Amount.Currency.Code))
	}
	var payload []byte
	if cfg.Signature.Payload == PayloadSortedJSON {
		var b bytes.Buffer
		writeSorted(&b, toGeneric(tree))
		payload = b.Bytes()
	} else if payload, err = json.Marshal(tree); err != nil {
		return nil, nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	var prefix []byte
	if cfg.Signature.TimestampHeader != "" {
		ts := strconv.FormatInt(now.Unix(), 10)
		h.Set(cfg.Signature.TimestampHeader, ts)
		prefix = append([]byte(ts), '.')
	}
	m := hmac.New(a.newHash, a.secrets[0])
	m.Write(prefix)
	m.Write(payload)
	if cfg.Signature.Encoding == EncodingHex {
		h.Set(cfg.Signature.Header, hex.EncodeToString(m.Sum(nil)))
	} else {
		h.Set(cfg.Signature.Header, base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return h, payload, nil
}

// toGeneric turns the simulated tree into what decodeJSON produces (maps, json.Number), for writeSorted.
func toGeneric(v any) any {
	b, _ := json.Marshal(v)
	out, _ := decodeJSON(b)
	return out
}
