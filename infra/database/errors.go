package database

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUniqueViolation reports whether err is Postgres refusing a row that breaks a unique constraint (SQLSTATE
// 23505). Stores map it to their module's domain error ("email already registered"), so the database's words never
// reach a client.
//
// A held-back statement's failure (a *DeferredError, reported by the statement it travelled with) is never one:
// the caller branching on the code asked about its own statement.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	var held *DeferredError
	return errors.As(err, &pe) && pe.Code == "23505" && !errors.As(err, &held)
}
