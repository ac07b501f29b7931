package identity

import (
	"archive/zip"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The service is identity's share of a client's personal data (frontdoor.DataHolder): the client's portal logins.
var _ frontdoor.DataHolder = (*Service)(nil)

// exportedLogin is a portal login in an export's logins.json: stable, documented field names (docs/privacy.md).
type exportedLogin struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    string    `json:"status"`
	TwoFactor bool      `json:"two_factor_enabled"`
	CreatedAt time.Time `json:"created_at"`
}

// PersonalData names identity's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"logins.json     your client-portal logins (passwords and second-factor secrets are never exported)"}
}

// ExportClient writes logins.json: the client's portal logins, without any secret.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	var logins []PortalLogin
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		logins, err = s.PortalLoginsTx(ctx, tx, clientID)
		return err
	})
	if err != nil {
		return err
	}
	out := make([]exportedLogin, 0, len(logins))
	for _, l := range logins {
		out = append(out, exportedLogin{ID: l.ID.String(), Email: l.Email, Status: l.Status, TwoFactor: l.TwoFactor, CreatedAt: l.CreatedAt})
	}
	return frontdoor.ExportJSON(zw, "logins.json", out, s.o.Now())
}

// EraseClientTx ends the client's portal logins (ErasePortalLoginsTx) in the erasure's transaction.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	return s.ErasePortalLoginsTx(ctx, tx, clientID)
}
