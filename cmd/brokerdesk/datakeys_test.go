package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

func TestDataKeysResealSealsEveryTenantsAndOperatorsPlaintextSecrets(t *testing.T) {
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
	if !strings.Contains(out.String(), "2 resealed") {
		t.Fatalf("first pass: %s", &out)
	}
	var stored string
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT totp_secret FROM portal_users WHERE id = $1`, trader).Scan(&stored)
	})
	if err != nil || !strings.HasPrefix(stored, "d1:") || strings.Contains(stored, secret) {
		t.Fatalf("trader's secret after reseal: %q %v", stored, err)
	}
	if err := a.clusters.Platform().QueryRow(ctx, `SELECT totp_secret FROM platform.operators WHERE id = $1`, op.ID).Scan(&stored); err != nil ||
		!strings.HasPrefix(stored, "d1:") {
		t.Fatalf("operator's secret after reseal: %q %v", stored, err)
	}
	out.Reset()
	if err := dataKeysCommand(ctx, a, []string{"reseal"}, &out); err != nil || !strings.Contains(out.String(), "0 resealed, 2 already") {
		t.Fatalf("second pass: %v\n%s", err, &out)
	}
}
