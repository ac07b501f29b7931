package tradingdesk_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
)

// A client's data export holds the desk's share: the client's trading accounts, the requests they made, and every
// deal of their accounts as synced, and nothing of another client's accounts in the same brokerage.
func TestAClientsExportHoldsTheirAccountsRequestsAndDeals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	srv, err := b.svc.Server(ctx, b.ten, "sim")
	if err != nil {
		t.Fatal(err)
	}
	opened := map[string]string{} // client's email -> login
	var ada uuid.UUID             // the first client; the second's account trades beside hers
	for i, lev := range []int{100, 200} {
		client, email := b.client(t, clients.StatusKYCApproved, "standard")
		r := b.open(t, client, "standard", "USD", lev)
		if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
			t.Fatal(err)
		}
		r = b.request(t, r.ID)
		if _, err := b.sim.BalanceOperation(ctx, trading.BalanceOp{Login: r.Login, Kind: trading.Deposit, Amount: decimal.NewFromInt(20_000),
			OperationID: "fund-" + r.Login}); err != nil {
			t.Fatal(err)
		}
		opened[email] = r.Login
		if i == 0 {
			ada = client
		}
	}
	if err := b.sim.RunActivity(ctx, simulator.ActivityOptions{Seed: 11, Ticks: 60, OpenPercent: 60, ClosePercent: 40}); err != nil {
		t.Fatal(err)
	}
	for _, login := range opened {
		if _, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.svc.ClientAccounts(ctx, b.ten, ada)
	if err != nil || len(list) != 1 {
		t.Fatalf("ada's accounts: %+v %v", list, err)
	}
	adaLogin := list[0].Login
	stored := b.storedDeals(t, b.ten, adaLogin)
	if len(stored) < 5 {
		t.Fatalf("the activity made %d deals on %s: too few to tell", len(stored), adaLogin)
	}

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := b.svc.ExportClient(ctx, b.ten, ada, zw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]map[string]any{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		var v []map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v\n%s", f.Name, err, raw)
		}
		files[f.Name] = v
	}
	accounts, requests, deals := files["trading_accounts.json"], files["trading_requests.json"], files["trading_deals.json"]
	if len(accounts) != 1 || accounts[0]["login"] != adaLogin || accounts[0]["type"] != "Standard" || accounts[0]["currency"] != "USD" ||
		accounts[0]["leverage"] != float64(100) || accounts[0]["server"] != srv.Name {
		t.Fatalf("trading_accounts.json: %+v", accounts)
	}
	if len(requests) != 1 || requests[0]["kind"] != "open_account" || requests[0]["status"] != "done" || requests[0]["login"] != adaLogin {
		t.Fatalf("trading_requests.json: %+v", requests)
	}
	live := 0
	for _, d := range deals {
		if d["login"] != adaLogin {
			t.Fatalf("a deal of another account in ada's export: %+v", d)
		}
		if _, ok := d["cancelled_at"]; !ok {
			live++
		}
		if _, ok := d["volume"].(string); !ok {
			t.Fatalf("a deal's volume is not an exact decimal string: %+v", d)
		}
	}
	if live != len(stored) {
		t.Fatalf("the export has %d deals of %s, the desk stores %d", live, adaLogin, len(stored))
	}
	if transfers, ok := files["trading_transfers.json"]; !ok || len(transfers) != 0 {
		t.Fatalf("trading_transfers.json: %+v (in the export: %v)", transfers, ok)
	}
	if credits, ok := files["trading_credits.json"]; !ok || len(credits) != 0 {
		t.Fatalf("trading_credits.json: %+v (in the export: %v)", credits, ok)
	}
	if names := b.svc.PersonalData(); len(names) != 5 {
		t.Fatalf("PersonalData names %d files for 5", len(names))
	}
}
