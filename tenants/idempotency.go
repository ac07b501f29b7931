package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// IdempotencyTTL is how long a stored response is replayed; IdempotencyLock how long a claim whose request never
// finished (its process died) blocks the key before a retry may take it over.
const (
	IdempotencyTTL  = 24 * time.Hour
	IdempotencyLock = 5 * time.Minute
)

// IdempotencyStore is web.IdempotencyStore in the request's tenant schema (table idempotency_keys, tenant
// migration 0005), through the gate. The tenant comes from the request's context (HostMiddleware).
type IdempotencyStore struct {
	gate *Gate
}

// NewIdempotencyStore returns the store over gate.
func NewIdempotencyStore(g *Gate) *IdempotencyStore { return &IdempotencyStore{gate: g} }

var _ web.IdempotencyStore = (*IdempotencyStore)(nil)

func (s *IdempotencyStore) tenant(ctx context.Context) (Tenant, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return Tenant{}, errors.New("idempotency store: no tenant in the request's context")
	}
	return t, nil
}

// Begin claims the key in one statement: a new key, an expired one or a stale claim of the same request is taken;
// anything else is read back and answered. The claim commits at once, so a concurrent repeat sees it.
func (s *IdempotencyStore) Begin(ctx context.Context, k web.IdempotencyKey, fingerprint []byte) (*web.StoredResponse, error) {
	t, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	var stored *web.StoredResponse
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var claimed bool
		err := tx.QueryRow(ctx, `
			INSERT INTO idempotency_keys (principal, key, fingerprint, locked_until, expires_at)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4), now() + make_interval(secs => $5))
			ON CONFLICT (principal, key) DO UPDATE
			SET fingerprint = EXCLUDED.fingerprint, status = NULL, headers = NULL, body = NULL, created_at = now(),
				locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at
			WHERE idempotency_keys.expires_at <= now()
				OR (idempotency_keys.status IS NULL AND idempotency_keys.locked_until <= now()
					AND idempotency_keys.fingerprint = EXCLUDED.fingerprint)
			RETURNING true`,
			k.Principal, k.Key, fingerprint, IdempotencyLock.Seconds(), IdempotencyTTL.Seconds()).Scan(&claimed)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var fp []byte
		var status *int
		var headers map[string]string
		var body []byte
		err = tx.QueryRow(ctx, `SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE principal = $1 AND key = $2`,
			k.Principal, k.Key).Scan(&fp, &status, &headers, &body)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Released between our insert and our read: the other request failed; this one may retry.
			return web.ErrIdempotencyInProgress
		case err != nil:
			return err
		case !bytes.Equal(fp, fingerprint):
			return web.ErrIdempotencyMismatch
		case status == nil:
			return web.ErrIdempotencyInProgress
		}
		stored = &web.StoredResponse{Status: *status, Header: headers, Body: body}
		return nil
	})
	if err != nil {
		if errors.Is(err, web.ErrIdempotencyMismatch) || errors.Is(err, web.ErrIdempotencyInProgress) {
			return nil, err
		}
		return nil, fmt.Errorf("idempotency key of %s: %w", t.Slug, err)
	}
	return stored, nil
}

// Finish stores the response of a claimed key.
func (s *IdempotencyStore) Finish(ctx context.Context, k web.IdempotencyKey, r web.StoredResponse) error {
	t, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	headers, err := json.Marshal(r.Header)
	if err != nil {
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status = $3, headers = $4, body = $5
			WHERE principal = $1 AND key = $2 AND status IS NULL`, k.Principal, k.Key, r.Status, headers, r.Body)
		if err != nil {
			return fmt.Errorf("store idempotent response of %s: %w", t.Slug, err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("store idempotent response of %s: the claim was lost", t.Slug)
		}
		return nil
	})
}

// Release deletes a claim whose request failed.
func (s *IdempotencyStore) Release(ctx context.Context, k web.IdempotencyKey) error {
	t, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status IS NULL`, k.Principal, k.Key)
		if err != nil {
			return fmt.Errorf("release idempotency key of %s: %w", t.Slug, err)
		}
		return nil
	})
}

// Prune deletes t's expired keys and returns how many, idempotencyPruneChunk rows per transaction so a large
// backlog never holds one long transaction.
func (s *IdempotencyStore) Prune(ctx context.Context, t Tenant) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE (principal, key) IN (
				SELECT principal, key FROM idempotency_keys WHERE expires_at <= now() LIMIT $1)`, idempotencyPruneChunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys of %s: %w", t.Slug, err)
		}
		total += n
		if n < idempotencyPruneChunk {
			return total, nil
		}
	}
}

const idempotencyPruneChunk = 5000
