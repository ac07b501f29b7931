package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// API keys are a brokerage's credentials for its own integrations (tenant migration 0006_api_keys.sql). A key is
// the string "bdk_<key id>_<secret>": the id finds the row, the SHA-256 of the whole string is the only thing
// stored, compared in constant time. Unlike access tokens, a key is looked up on every request, so revoking it
// or reaching its expiry takes effect at once.

// APIKeyPrefix starts every API key, so a key is recognised in an Authorization header and by secret scanners.
const APIKeyPrefix = "bdk_"

// LastUsedEvery is how stale a key's last_used_at may get: a busy integration writes at most once per period.
const LastUsedEvery = time.Minute

// Audit actions of API keys.
const (
	ActionAPIKeyCreated = "identity.api_key_created"
	ActionAPIKeyRevoked = "identity.api_key_revoked"
)

// APIKey is one key, without its secret (which is never stored).
type APIKey struct {
	ID          uuid.UUID
	Name        string
	Permissions []web.Permission
	CreatedBy   uuid.UUID
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	RevokedAt   time.Time // zero: active
	LastUsedAt  time.Time // zero: never used
}

// NewAPIKey is what an admin asks for.
type NewAPIKey struct {
	Name        string
	Permissions []web.Permission
	ExpiresAt   time.Time // zero: never
}

// Creator is the staff user creating a key, with the roles their access token carries.
type Creator struct {
	ID    uuid.UUID
	Roles []string
}

// ErrAPIKeyNotFound: no key with that id in this tenant.
var ErrAPIKeyNotFound = errors.New("identity: API key not found")

// errInvalidAPIKey is any refused key: malformed, unknown, wrong secret, revoked or expired (one answer for all).
var errInvalidAPIKey = errors.New("identity: API key refused")

// keyable reports whether a permission may be given to a key at all: a key has no profile or second factor of its
// own (account.*), cannot mint keys (apikeys.manage), and is not a trader (portal.*).
func keyable(p web.Permission) bool {
	return p != PermAPIKeysManage && !strings.HasPrefix(string(p), "account.") && !strings.HasPrefix(string(p), "portal.")
}

// AcceptsAPIKey reports whether a route declared with permission p can be called with an API key: a back-office
// permission a key may hold (Authorize then admits keys that hold it). The OpenAPI document lists the X-API-Key
// scheme on exactly these routes.
func AcceptsAPIKey(p web.Permission) bool {
	return p != web.Public && audienceOf(p) == Staff && keyable(p)
}

// check validates n against what the creator holds; a refusal is a *validation.Error naming every field.
func (n NewAPIKey) check(by Creator, now time.Time) error {
	var f validation.Fields
	name := strings.TrimSpace(n.Name)
	f.Required("name", name)
	f.SingleLine("name", name, 100)
	if len(n.Permissions) == 0 {
		f.Add("permissions", "is required: at least one permission")
	}
	f.MaxItems("permissions", len(n.Permissions), len(AllPermissions))
	for _, p := range n.Permissions {
		switch {
		case !slices.Contains(AllPermissions, p):
			f.Add("permissions", fmt.Sprintf("%q is not a permission", p))
		case !keyable(p):
			f.Add("permissions", fmt.Sprintf("%q cannot be given to an API key", p))
		case !Allowed(by.Roles, p):
			f.Add("permissions", fmt.Sprintf("%q is not one of your permissions", p))
		}
	}
	if !n.ExpiresAt.IsZero() && !n.ExpiresAt.After(now) {
		f.Add("expires_at", "must be in the future")
	}
	return f.Err()
}

// newKeySecret returns the full key string for id: 256 random bits after the id.
func newKeySecret(id uuid.UUID) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return APIKeyPrefix + id.String() + "_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// parseKey splits a presented key into its id; the whole string is what is hashed.
func parseKey(key string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(key, APIKeyPrefix)
	if !ok {
		return uuid.Nil, false
	}
	idPart, secret, ok := strings.Cut(rest, "_") // a UUID holds no underscore
	if !ok || secret == "" || len(idPart) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(idPart)
	return id, err == nil
}

func auditView(k APIKey) map[string]any {
	v := map[string]any{"name": k.Name, "permissions": k.Permissions}
	if !k.ExpiresAt.IsZero() {
		v["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return v
}

// CreateAPIKey makes a key for the tenant and returns it with the full key string, which exists nowhere else
// afterwards: only its hash is stored, and the audit entry names the key's id, name and scope.
func (s *Service) CreateAPIKey(ctx context.Context, t tenants.Tenant, by Creator, n NewAPIKey) (APIKey, string, error) {
	now := s.o.Now()
	if err := n.check(by, now); err != nil {
		return APIKey{}, "", err
	}
	perms := slices.Clone(n.Permissions)
	slices.Sort(perms)
	perms = slices.Compact(perms)
	k := APIKey{ID: uuid.New(), Name: strings.TrimSpace(n.Name), Permissions: perms, CreatedBy: by.ID, CreatedAt: now.UTC()}
	if !n.ExpiresAt.IsZero() {
		k.ExpiresAt = n.ExpiresAt.UTC()
	}
	secret, err := newKeySecret(k.ID)
	if err != nil {
		return APIKey{}, "", err
	}
	h := auth.HashToken(secret)
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, secret_hash, permissions, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Name, h[:], permStrings(k.Permissions), k.CreatedBy, k.CreatedAt, nullTime(k.ExpiresAt)); err != nil {
			return fmt.Errorf("insert api key: %w", err)
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: by.ID.String()},
			Action: ActionAPIKeyCreated, Target: audit.Target{Type: "api_key", ID: k.ID.String()}, After: auditView(k)})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

func permStrings(ps []web.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

const keyColumns = `id, name, permissions, created_by, created_at, expires_at, revoked_at, last_used_at`

func scanKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var perms []string
	var exp, rev, used *time.Time
	if err := row.Scan(&k.ID, &k.Name, &perms, &k.CreatedBy, &k.CreatedAt, &exp, &rev, &used); err != nil {
		return k, err
	}
	for _, p := range perms {
		k.Permissions = append(k.Permissions, web.Permission(p))
	}
	for _, p := range []struct{ src, dst *time.Time }{{exp, &k.ExpiresAt}, {rev, &k.RevokedAt}, {used, &k.LastUsedAt}} {
		if p.src != nil {
			*p.dst = p.src.UTC()
		}
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// APIKeyCursor is the position after which a page of keys starts (newest first).
type APIKeyCursor struct {
	CreatedAt time.Time `json:"at"`
	ID        uuid.UUID `json:"id"`
}

// ListAPIKeys returns up to limit keys (revoked ones included) after the cursor, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, t tenants.Tenant, after *APIKeyCursor, limit int) ([]APIKey, error) {
	var out []APIKey
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var rows pgx.Rows
		var err error
		if after == nil {
			rows, err = tx.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
		} else {
			rows, err = tx.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE (created_at, id) < ($1, $2)
				ORDER BY created_at DESC, id DESC LIMIT $3`, after.CreatedAt, after.ID, limit)
		}
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanKey(r) })
		return err
	})
	return out, err
}

// RevokeAPIKey revokes a key at once (requests with it answer 401 from now on). Revoking a revoked key changes
// nothing and is not audited again.
func (s *Service) RevokeAPIKey(ctx context.Context, t tenants.Tenant, by uuid.UUID, id uuid.UUID) (APIKey, error) {
	var k APIKey
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		k, err = scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrAPIKeyNotFound
		}
		if err != nil || !k.RevokedAt.IsZero() {
			return err
		}
		k.RevokedAt = s.o.Now().UTC()
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1`, id, k.RevokedAt, by); err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: by.String()},
			Action: ActionAPIKeyRevoked, Target: audit.Target{Type: "api_key", ID: id.String()},
			Before: map[string]any{"revoked": false}, After: map[string]any{"revoked": true, "name": k.Name}})
	})
	return k, err
}

// verifyAPIKey checks a presented key against the host's tenant and returns the key's row. It records the use
// when last_used_at is older than LastUsedEvery (the UPDATE's own condition keeps concurrent requests from all
// writing).
func (s *Service) verifyAPIKey(ctx context.Context, t tenants.Tenant, presented string) (APIKey, error) {
	id, ok := parseKey(presented)
	if !ok {
		return APIKey{}, errInvalidAPIKey
	}
	h := auth.HashToken(presented)
	now := s.o.Now()
	var k APIKey
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var stored []byte
		var perms []string
		var exp, rev, used *time.Time
		err := tx.QueryRow(ctx, `SELECT secret_hash, name, permissions, created_by, created_at, expires_at, revoked_at, last_used_at
			FROM api_keys WHERE id = $1`, id).Scan(&stored, &k.Name, &perms, &k.CreatedBy, &k.CreatedAt, &exp, &rev, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return errInvalidAPIKey
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(stored, h[:]) != 1 || rev != nil || (exp != nil && !now.Before(*exp)) {
			return errInvalidAPIKey
		}
		k.ID = id
		for _, p := range perms {
			// Only permissions that still exist and may be held by a key count.
			if pp := web.Permission(p); slices.Contains(AllPermissions, pp) && keyable(pp) {
				k.Permissions = append(k.Permissions, pp)
			}
		}
		if used != nil {
			k.LastUsedAt = *used
		}
		if used == nil || now.Sub(*used) >= LastUsedEvery {
			_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = $2
				WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`, id, now, now.Add(-LastUsedEvery))
			if err != nil {
				return fmt.Errorf("record api key use: %w", err)
			}
			k.LastUsedAt = now
		}
		return nil
	})
	return k, err
}
