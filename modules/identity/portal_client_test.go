package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

func TestPortalUserCreatedInTheCallersTransactionSignsInAndNamesItsClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	clientID := uuid.New()
	var loginID uuid.UUID
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, 'new.trader@example.com', 'New', 'Trader', 'DE', 'registered')`, clientID); err != nil {
			return err
		}
		var err error
		loginID, err = b.svc.CreatePortalUserTx(ctx, tx, " New.Trader@Example.com ", "Correct-Horse-Battery-9", clientID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.svc.PortalClientID(ctx, b.ten, loginID)
	if err != nil || got != clientID {
		t.Fatalf("PortalClientID: %v %v, want %v", got, err, clientID)
	}
	if _, err := b.svc.Login(ctx, b.ten, identity.Portal, identity.Credentials{Email: "new.trader@example.com", Password: "Correct-Horse-Battery-9"}); err != nil {
		t.Errorf("the new login cannot sign in: %v", err)
	}
	// The same email again: refused, and the caller's transaction (here rolled back) leaves nothing.
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.svc.CreatePortalUserTx(ctx, tx, "new.trader@example.com", "Another-Strong-Pass-2026", clientID)
		return err
	})
	if !errors.Is(err, identity.ErrEmailTaken) {
		t.Errorf("second login with the same email: %v, want ErrEmailTaken", err)
	}
	var pe *auth.PasswordError
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.svc.CreatePortalUserTx(ctx, tx, "weak@example.com", "password", clientID)
		return err
	})
	if !errors.As(err, &pe) {
		t.Errorf("weak password: %v, want a PasswordError", err)
	}
	if _, err := b.svc.PortalClientID(ctx, b.ten, uuid.New()); !errors.Is(err, identity.ErrNoClient) {
		t.Errorf("unknown login: %v, want ErrNoClient", err)
	}
	// A login without a client (the demo trader before its seed links it): ErrNoClient, then linked.
	var bare uuid.UUID
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		bare = uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO portal_users (id, email, password_hash) VALUES ($1, 'bare@example.com', 'x')`, bare); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PortalClientID(ctx, b.ten, bare); !errors.Is(err, identity.ErrNoClient) {
		t.Errorf("login without a client: %v, want ErrNoClient", err)
	}
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		ok, err := identity.LinkPortalClientTx(ctx, tx, "BARE@example.com", clientID)
		if err == nil && !ok {
			t.Error("LinkPortalClientTx linked nothing")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.svc.PortalClientID(ctx, b.ten, bare); err != nil || got != clientID {
		t.Errorf("after linking: %v %v", got, err)
	}
}
