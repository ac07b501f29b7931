package kyc

import (
	"archive/zip"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The service is the review's share of a client's personal data (frontdoor.DataHolder): the decisions taken on the
// client's documents, and the officers' messages to the client.
var _ frontdoor.DataHolder = (*Service)(nil)

// exportedReview is one review case in an export's kyc_reviews.json.
type exportedReview struct {
	DocumentID   string     `json:"document_id"`
	DocumentType string     `json:"document_type"`
	OpenedAt     time.Time  `json:"opened_at"`
	Status       string     `json:"status"`
	Decision     string     `json:"decision,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Message      string     `json:"message,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
}

// PersonalData names the review's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"kyc_reviews.json  the review of each document you uploaded: the decision, its reason and any message to you"}
}

// ExportClient writes kyc_reviews.json: every case of the client, oldest first, with the decision and the reason in
// the words the client is shown.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	var cases []Case
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+caseColumns+` FROM kyc_cases WHERE client_id = $1 ORDER BY opened_at, id`, clientID)
		if err != nil {
			return err
		}
		cases, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) { return scanCase(r.Scan) })
		return err
	})
	if err != nil {
		return fmt.Errorf("kyc: export client %s: %w", clientID, err)
	}
	out := make([]exportedReview, 0, len(cases))
	for _, c := range cases {
		e := exportedReview{DocumentID: c.DocumentID.String(), DocumentType: string(c.DocumentType), OpenedAt: c.OpenedAt,
			Status: string(c.Status), Decision: string(c.Decision), Message: c.Message, DecidedAt: c.DecidedAt}
		if r, ok := ReasonFor(c.ReasonCode); ok {
			e.Reason = r.Text
		}
		out = append(out, e)
	}
	return frontdoor.ExportJSON(zw, "kyc_reviews.json", out, s.now())
}

// EraseClientTx clears what the client's cases hold in free text (the officers' messages to the client) for an
// erasure, in the erasure's transaction tx. Decisions, reason codes, times and officers stay: they are the
// compliance record the retention rules keep, and hold nothing personal of the client beyond the client's id.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE kyc_cases SET message = '' WHERE client_id = $1 AND message <> ''`, clientID); err != nil {
		return fmt.Errorf("kyc: erase client %s: %w", clientID, err)
	}
	return nil
}
