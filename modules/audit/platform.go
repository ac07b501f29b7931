package audit

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Platform is the platform's own audit trail: what operators (and the platform's commands) did to operators and
// tenants, outside any tenant's schema. Its rows live in platform.audit_log (platform migration 0003) and form the
// same hash chain as a tenant's, written and verified by the same code: Row.ComputeHash, the append trigger, the
// append-only triggers, Verify's walk. `brokerdesk audit verify --platform` checks it.
type Platform struct {
	db *pgxpool.Pool
}

var platformTables = chainTables{log: "platform.audit_log", head: "platform.audit_chain", pending: "platform.audit_pending"}

// NewPlatform returns the platform trail over the platform cluster's pool.
func NewPlatform(db *pgxpool.Pool) *Platform { return &Platform{db: db} }

// Record appends e in tx, a transaction on the platform pool, so the row commits exactly when the caller's change
// does. Appends are serialised by the chain head's row lock, held until tx ends: call it last before commit.
func (p *Platform) Record(ctx context.Context, tx pgx.Tx, e Entry) error {
	return record(ctx, tx, platformTables, e)
}

// RecordAlone appends e in a transaction of its own, for events that change nothing else in the platform schema
// (a refused sign-in of an unknown address) or whose change another component committed already.
func (p *Platform) RecordAlone(ctx context.Context, e Entry) error {
	return pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error { return p.Record(ctx, tx, e) })
}

// Verify walks the platform chain as Service.Verify walks a tenant's, in one consistent snapshot.
func (p *Platform) Verify(ctx context.Context) (Report, error) {
	var rep Report
	err := pgx.BeginTxFunc(ctx, p.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		rep, err = verify(ctx, tx, platformTables)
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify the platform audit chain: %w", err)
	}
	return rep, nil
}
