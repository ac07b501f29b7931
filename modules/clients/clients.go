// Package clients is the room for a brokerage's traders as CRM records: identity, country and lifecycle status.
// Onboarding, KYC and the policy gate build on it; other modules read clients through its service only.
package clients

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Status is where a client is in onboarding and the relationship.
type Status string

const (
	StatusRegistered    Status = "registered"
	StatusEmailVerified Status = "email_verified"
	StatusKYCSubmitted  Status = "kyc_submitted"
	StatusKYCMoreInfo   Status = "kyc_more_info"
	StatusKYCRejected   Status = "kyc_rejected"
	StatusKYCApproved   Status = "kyc_approved"
	StatusRestricted    Status = "restricted"
	StatusSuspended     Status = "suspended"
	StatusClosed        Status = "closed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusRegistered, StatusEmailVerified, StatusKYCSubmitted, StatusKYCMoreInfo, StatusKYCRejected,
	StatusKYCApproved, StatusRestricted, StatusSuspended, StatusClosed}

// Service reads and changes clients of any tenant through the tenant gate.
type Service struct {
	gate *tenants.Gate
}

// NewService returns the clients service.
func NewService(gate *tenants.Gate) *Service { return &Service{gate: gate} }

// CountByStatus counts a tenant's clients per status (every status present, zero included).
func (s *Service) CountByStatus(ctx context.Context, t tenants.Tenant) (map[Status]int, error) {
	out := make(map[Status]int, len(Statuses))
	for _, st := range Statuses {
		out[st] = 0
	}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, count(*) FROM clients GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			out[Status(st)] = n
		}
		return rows.Err()
	})
	return out, err
}
