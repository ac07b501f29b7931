package database

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUniqueViolation reports whether err is Postgres refusing a row that breaks a unique constraint (SQLSTATE
// 23505). Stores map it to their module's domain error ("email already registered"), so the database's words never
// reach a client.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
