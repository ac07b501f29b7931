package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
)

func TestLedgerVerifyCommandSaysOkOrNamesTheFirstDiscrepancy(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	usd := money.MustLookup("USD")
	client := uuid.New()
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := a.ledger.PostTx(ctx, tx, ledger.Entry{Key: "deposit:cli", Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("card", usd), Amount: -5000}, {Account: ledger.ClientWallet(client, usd), Amount: 5000}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := ledgerCommand(ctx, a, []string{"verify", "--tenant", ten.Slug}, &out); err != nil || !strings.HasPrefix(out.String(), "ok: 1 transactions, 2 postings, 2 accounts") {
		t.Fatalf("verify: %v\n%s", err, &out)
	}
	// A balance edited behind the ledger's back, by someone with the database's superuser keys.
	url := a.cfg.DatabaseURL
	for _, c := range a.cfg.DatabaseClusters {
		if c.Name == ten.Cluster {
			url = c.URL
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE `+pgx.Identifier{ten.Schema, "ledger_balances"}.Sanitize()+` SET posted = posted + 100
		WHERE account_id = (SELECT id FROM `+pgx.Identifier{ten.Schema, "ledger_accounts"}.Sanitize()+` WHERE code = $1)`,
		ledger.ClientWallet(client, usd).Code); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = ledgerCommand(ctx, a, []string{"verify", "--tenant", ten.Slug}, &out)
	var exit exitError
	if !errors.As(err, &exit) || exit != 1 || !strings.HasPrefix(out.String(), "FAIL: "+ten.Slug+": balance_mismatch: "+ledger.ClientWallet(client, usd).Code) {
		t.Fatalf("tampered: %v\n%s", err, &out)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--tenant", ten.Slug, "extra"}, {"check"}} {
		if err := ledgerCommand(ctx, a, args, &out); err == nil || errors.As(err, &exit) {
			t.Errorf("ledger %q: %v, want a usage error", args, err)
		}
	}
}
