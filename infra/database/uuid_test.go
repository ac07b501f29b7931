package database_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

func TestMain(m *testing.M) { os.Exit(localsvc.RunTests(m, localsvc.Postgres)) }

func openPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := database.OpenPool(context.Background(), os.Getenv("BD_DATABASE_URL"), database.PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestUUIDArgumentsAndResultsTravelAsSixteenBytes(t *testing.T) {
	p := openPool(t)
	ctx := context.Background()
	conn, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	id := uuid.MustParse("0b5c9d4e-8f21-4a3b-9c7d-1e2f3a4b5c6d")

	// The binary encoder takes the id as it is: no detour through text and a refused binary attempt.
	buf, err := conn.Conn().TypeMap().Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil || string(buf) != string(id[:]) {
		t.Fatalf("binary encode: % x, %v; want the id's 16 bytes", buf, err)
	}

	cases := []struct {
		name string
		sql  string
		args []any
		want uuid.UUID
	}{
		{"argument and result", `SELECT $1::uuid`, []any{id}, id},
		{"argument compared as text", `SELECT $1::uuid WHERE $1::uuid::text = $2`, []any{id, id.String()}, id},
		{"element of an array argument", `SELECT ($1::uuid[])[2]`, []any{[]uuid.UUID{uuid.Nil, id}}, id},
		{"NULL gives the zero id", `SELECT NULL::uuid`, nil, uuid.Nil},
		{"string argument still parses", `SELECT $1::uuid`, []any{id.String()}, id},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := uuid.New() // not zero, so NULL must clear it
			err := p.QueryRow(ctx, c.sql, c.args...).Scan(&got)
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}

	var nullable *uuid.UUID
	if err := p.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&nullable); err != nil || nullable != nil {
		t.Fatalf("NULL into *uuid.UUID: %v, %v; want nil", nullable, err)
	}
	if err := p.QueryRow(ctx, `SELECT $1::uuid`, id).Scan(&nullable); err != nil || nullable == nil || *nullable != id {
		t.Fatalf("id into *uuid.UUID: %v, %v", nullable, err)
	}
	var text string
	if err := p.QueryRow(ctx, `SELECT $1::uuid::text`, id).Scan(&text); err != nil || text != id.String() {
		t.Fatalf("id as text: %q, %v", text, err)
	}
}
