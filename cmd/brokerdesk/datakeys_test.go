package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// data-keys reseal seals what each tenant and the platform hold under the first key: staff's and traders' TOTP
// secrets, operators' TOTP secrets, and payment gateways' secrets (a gateway without secrets stays without).
func TestDataKeysResealMovesEverySealedSecretToTheFirstKeySoTheOldOneCanLeave(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	trader, err := a.identity.CreatePortalUser(ctx, ten, "trader@harbour.example", "Harbour-Lights-77", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := auth.NewTOTPSecret()
	// Secrets stored before sealing existed: plaintext base32.
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE portal_users SET totp_secret = $2, totp_enabled_at = now() WHERE id = $1`, trader, secret)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Payment gateways' secrets, sealed under the ring's first key when saved, and a manual gateway with none.
	for _, g := range []payments.GatewayInput{
		{Slug: "card", Name: "Card", Kind: "stripe", Config: json.RawMessage(`{}`), Secrets: json.RawMessage(`{"secret_key":"sk_test_keys","webhook_secrets":["whsec_keys"]}`)},
		{Slug: "bank", Name: "Bank", Kind: payments.KindManual},
	} {
		g.Currencies, g.Enabled = []string{"USD"}, true
		if _, err := a.payments.SaveGateway(ctx, ten, audit.System("test"), g); err != nil {
			t.Fatalf("gateway %s: %v", g.Slug, err)
		}
	}
	gatewaySecrets := func(slug string) string {
		t.Helper()
		var v string
		if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT secrets FROM payment_gateways WHERE slug = $1`, slug).Scan(&v)
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The operator rotates: a new first key d2, the old d1 kept in the ring until the reseal is done. (The app's
	// services share its sealer, so rotating it in place is what a restart with the new BD_DATA_KEYS does.)
	rotate := func(spec string) {
		t.Helper()
		ring, err := auth.ParseSealer(spec)
		if err != nil {
			t.Fatal(err)
		}
		*a.cfg.DataKeys = *ring
	}
	oldKey := "d1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	newKey := "d2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	rotate(newKey + "," + oldKey)
	ops, err := newOperators(a)
	if err != nil {
		t.Fatal(err)
	}
	op, err := ops.Create(ctx, "ops@brokerdesk.test", "Olga", "Harbour-Lights-77")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.clusters.Platform().Exec(ctx, `UPDATE platform.operators SET totp_secret = $2 WHERE id = $1`, op.ID, secret); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := dataKeysCommand(ctx, a, []string{"reseal"}, &out); err != nil {
		t.Fatalf("reseal: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "3 resealed, 0 already") {
		t.Fatalf("first pass: %s", &out)
	}
	if got := gatewaySecrets("card"); !strings.HasPrefix(got, "d2:") {
		t.Fatalf("the gateway's secrets after reseal: %.8q..., want sealed under d2", got)
	}
	if got := gatewaySecrets("bank"); got != "" {
		t.Fatalf("a gateway without secrets got %q", got)
	}
	var stored string
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT totp_secret FROM portal_users WHERE id = $1`, trader).Scan(&stored)
	})
	if err != nil || !strings.HasPrefix(stored, "d2:") || strings.Contains(stored, secret) {
		t.Fatalf("trader's secret after reseal: %q %v", stored, err)
	}
	if err := a.clusters.Platform().QueryRow(ctx, `SELECT totp_secret FROM platform.operators WHERE id = $1`, op.ID).Scan(&stored); err != nil ||
		!strings.HasPrefix(stored, "d2:") {
		t.Fatalf("operator's secret after reseal: %q %v", stored, err)
	}
	out.Reset()
	// Everything is under d2 now: the old key leaves the ring and nothing is left that only it opens.
	rotate(newKey)
	if err := dataKeysCommand(ctx, a, []string{"reseal"}, &out); err != nil || !strings.Contains(out.String(), "0 resealed, 3 already") ||
		strings.Contains(out.String(), "no key opens") {
		t.Fatalf("second pass, without the old key: %v\n%s", err, &out)
	}
	if g, err := a.payments.Gateway(ctx, ten, "card"); err != nil || !g.HasSecrets {
		t.Fatalf("the resealed gateway: %+v %v", g, err)
	}
}
