package clients

import (
	"archive/zip"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The service is the clients module's share of a client's personal data (frontdoor.DataHolder): the profile, the
// referral and the status history.
var _ frontdoor.DataHolder = (*Service)(nil)

// The export's JSON shapes: stable, documented field names (docs/privacy.md), independent of the Go types.
type exportedClient struct {
	ID               string            `json:"id"`
	Email            string            `json:"email"`
	FirstName        string            `json:"first_name"`
	LastName         string            `json:"last_name"`
	Country          string            `json:"country"`
	Phone            string            `json:"phone"`
	DateOfBirth      string            `json:"date_of_birth,omitempty"`
	MarketingConsent bool              `json:"marketing_consent"`
	Experience       string            `json:"experience,omitempty"`
	Status           string            `json:"status"`
	Tier             string            `json:"tier,omitempty"`
	AccountManagerID string            `json:"account_manager_id,omitempty"`
	Referral         *exportedReferral `json:"referral,omitempty"`
	EmailVerifiedAt  *time.Time        `json:"email_verified_at,omitempty"`
	KYCApprovedAt    *time.Time        `json:"kyc_approved_at,omitempty"`
	RegisteredAt     time.Time         `json:"registered_at"`
	ErasedAt         *time.Time        `json:"erased_at,omitempty"`
	StatusHistory    []exportedStatus  `json:"status_history"`
}

type exportedReferral struct {
	Code   string `json:"code"`
	Source string `json:"source"`
}

type exportedStatus struct {
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

func toExported(rec Record) exportedClient {
	c := rec.Client
	out := exportedClient{ID: c.ID.String(), Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Country: c.Country,
		Phone: c.Phone, MarketingConsent: c.MarketingConsent, Experience: c.Experience, Status: string(c.Status), Tier: c.Tier,
		EmailVerifiedAt: c.EmailVerifiedAt, KYCApprovedAt: c.KYCApprovedAt, RegisteredAt: c.CreatedAt, ErasedAt: rec.ErasedAt,
		StatusHistory: []exportedStatus{}}
	if !c.DateOfBirth.IsZero() {
		out.DateOfBirth = c.DateOfBirth.Format(time.DateOnly)
	}
	if c.ManagerID != nil {
		out.AccountManagerID = c.ManagerID.String()
	}
	if c.ReferralCode != "" {
		out.Referral = &exportedReferral{Code: c.ReferralCode, Source: c.ReferralSource}
	}
	for _, h := range rec.History {
		out.StatusHistory = append(out.StatusHistory, exportedStatus{From: string(h.From), To: string(h.To), Reason: h.Reason,
			By: string(h.Actor.Kind), At: h.At})
	}
	return out
}

// PersonalData names the clients module's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"client.json     your profile, referral, and the history of your account's status"}
}

// ExportClient writes client.json.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	var rec Record
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		rec, err = s.RecordTx(ctx, tx, clientID, false)
		return err
	})
	if err != nil {
		return err
	}
	return frontdoor.ExportJSON(zw, "client.json", toExported(rec), s.now())
}

// EraseClientTx overwrites the client's personal data (EraseTx) in the erasure's transaction.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	return s.EraseTx(ctx, tx, clientID)
}
