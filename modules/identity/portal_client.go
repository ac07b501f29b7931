package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ErrNoClient is returned by PortalClientID for a portal login that has no client record (yet).
var ErrNoClient = errors.New("identity: this portal login has no client")

// CreatePortalUserTx gives a new client a portal login inside the caller's transaction (registration: the client,
// the login and the audit entries commit together or not at all). The password must pass auth.CheckPassword; an
// email that already has a login is ErrEmailTaken (the unique violation also aborts tx, which the caller rolls
// back). It returns the login's id.
func (s *Service) CreatePortalUserTx(ctx context.Context, tx pgx.Tx, email, password string, clientID uuid.UUID) (uuid.UUID, error) {
	if err := auth.CheckPassword(password); err != nil {
		return uuid.Nil, err
	}
	email = NormalizeEmail(email)
	var taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM portal_users WHERE email = $1)`, email).Scan(&taken); err != nil {
		return uuid.Nil, err
	}
	if taken {
		return uuid.Nil, ErrEmailTaken
	}
	hash, err := s.o.Hasher.Hash(ctx, password)
	if err != nil {
		return uuid.Nil, err
	}
	id := uuid.New()
	_, err = tx.Exec(ctx, `INSERT INTO portal_users (id, email, client_id, password_hash) VALUES ($1, $2, $3, $4)`, id, email, clientID, hash)
	if database.IsUniqueViolation(err) {
		return uuid.Nil, ErrEmailTaken
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("create portal user: %w", err)
	}
	err = s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorClient, ID: id.String()}, Action: ActionPortalUserCreated,
		Target: audit.Target{Type: Portal.target, ID: id.String()}, After: map[string]any{"email": email, "client_id": clientID}})
	return id, err
}

// PortalClientID returns the client a portal login belongs to: ErrNoClient when it has none, or when the login does
// not exist on t (a portal principal's UserID is the login's id).
func (s *Service) PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error) {
	var id *uuid.UUID
	err := s.gate.ReadRow(ctx, t, `SELECT client_id FROM portal_users WHERE id = $1`, []any{portalUserID}, &id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && id == nil) {
		return uuid.Nil, ErrNoClient
	}
	if err != nil {
		return uuid.Nil, err
	}
	return *id, nil
}

// PortalClientIDTx is PortalClientID inside the caller's transaction.
func PortalClientIDTx(ctx context.Context, tx pgx.Tx, portalUserID uuid.UUID) (uuid.UUID, error) {
	var id *uuid.UUID
	err := tx.QueryRow(ctx, `SELECT client_id FROM portal_users WHERE id = $1`, portalUserID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && id == nil) {
		return uuid.Nil, ErrNoClient
	}
	if err != nil {
		return uuid.Nil, err
	}
	return *id, nil
}

// LinkPortalClientTx links the portal login of email to a client that has none yet (the demo seed links the demo
// trader to a demo client). It reports whether a login was linked.
func LinkPortalClientTx(ctx context.Context, tx pgx.Tx, email string, clientID uuid.UUID) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE portal_users SET client_id = $2, updated_at = now() WHERE email = $1 AND client_id IS NULL`,
		NormalizeEmail(email), clientID)
	if err != nil {
		return false, fmt.Errorf("link portal login: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
