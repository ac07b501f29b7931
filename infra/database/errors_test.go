package database_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/infra/database"
)

func TestUniqueViolationIsTheCallersOwnStatementsNeverAHeldBackOnes(t *testing.T) {
	unique := &pgconn.PgError{Code: "23505"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the statement's own unique violation", unique, true},
		{"wrapped", fmt.Errorf("insert: %w", unique), true},
		{"another code", &pgconn.PgError{Code: "23514"}, false},
		{"no Postgres error", errors.New("boom"), false},
		{"nil", nil, false},
		{"a held-back statement's, reported by the next one", &database.DeferredError{SQL: "INSERT", Err: unique}, false},
		{"the same, wrapped", fmt.Errorf("ledger: %w", &database.DeferredError{SQL: "INSERT", Err: unique}), false},
	} {
		if got := database.IsUniqueViolation(tc.err); got != tc.want {
			t.Errorf("%s: IsUniqueViolation = %v, want %v", tc.name, got, tc.want)
		}
	}
}
