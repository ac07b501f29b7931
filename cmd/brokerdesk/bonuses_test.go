package main

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/bonuses"
)

// Finance reads a client's bonuses and is refused cancelling one that is not the tenant's; sales is refused both,
// and an unknown client is 404. (Grants, turnover, release, expiry and cancellation themselves are tested in
// modules/bonuses over real Postgres and the ledger.)
func TestBonusesThroughTheAPIAsFinance(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	host := hostOf(ten)
	fin := staffLogin(t, base, ten, "finance").AccessToken
	sales := staffLogin(t, base, ten, "sales").AccessToken
	var client string
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text FROM clients LIMIT 1`).Scan(&client)
	}); err != nil {
		t.Fatal(err)
	}
	list := decode[bonuses.BonusesResponse](t, request(t, base, host, "GET", "/api/v1/clients/"+client+"/bonuses", fin, nil), 200)
	if list.Bonuses == nil {
		t.Error("no list: want [] for a client without bonuses")
	}
	if c := request(t, base, host, "GET", "/api/v1/clients/"+client+"/bonuses", sales, nil); c.status != 403 {
		t.Errorf("sales reads bonuses: %d", c.status)
	}
	if c := request(t, base, host, "GET", "/api/v1/clients/"+uuid.NewString()+"/bonuses", fin, nil); c.status != 404 {
		t.Errorf("an unknown client: %d %s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/bonuses/"+uuid.NewString()+"/cancel", fin, bonuses.CancelBody{Reason: "abuse"}); c.status != 404 {
		t.Errorf("cancelling an unknown bonus: %d %s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/bonuses/"+uuid.NewString()+"/cancel", sales, bonuses.CancelBody{Reason: "abuse"}); c.status != 403 {
		t.Errorf("sales cancels: %d", c.status)
	}
}
