package withdrawals

import (
	"archive/zip"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The service is the module's share of a client's personal data (frontdoor.DataHolder): the client's withdrawals.
var _ frontdoor.DataHolder = (*Service)(nil)

type exportedWithdrawal struct {
	ID          string     `json:"id"`
	Amount      string     `json:"amount"`
	Currency    string     `json:"currency"`
	Status      string     `json:"status"`
	Method      string     `json:"method"`
	Destination string     `json:"destination,omitempty"`
	Paid        string     `json:"paid"`
	Reason      string     `json:"reason,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// PersonalData names the module's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"withdrawals.json   your withdrawals: amount, where the money went, status and when"}
}

// ExportClient writes withdrawals.json.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	list, err := s.List(ctx, t, Filter{Client: clientID, Limit: 200})
	if err != nil {
		return err
	}
	out := []exportedWithdrawal{}
	for _, w := range list {
		out = append(out, exportedWithdrawal{ID: w.ID.String(), Amount: w.Amount.Decimal(), Currency: w.Amount.Currency.Code, Status: string(w.Status),
			Method: w.Method, Destination: w.Destination, Paid: ToResponse(w, false).Paid, Reason: w.Reason, CreatedAt: w.CreatedAt, FinishedAt: w.FinishedAt})
	}
	return frontdoor.ExportJSON(zw, "withdrawals.json", out, s.o.Now())
}

// EraseClientTx keeps the client's withdrawals (transaction records anti-money-laundering law requires; modules/
// privacy erases only once retention allows) but forgets the account the client typed (an IBAN or wallet address).
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE withdrawals SET destination = '' WHERE client_id = $1 AND destination <> ''`, clientID)
	return err
}
