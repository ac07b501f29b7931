package payments

import (
	"archive/zip"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Door is the module's front door: the payments API and the gateways' webhooks, the portal's wallet and the back
// office's deposits, exceptions and gateway pages, the receipt email and the ledger's failed verifications, and a
// client's deposits in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "payments",
		Routes:    func(api *web.API) { Routes(api, s, s.o.Portal) },
		PageFiles: PageFiles,
		Pages:     s.mountPages,
		Subscribe: s.Subscribe,
		Demo:      s.demo,
		Data:      s,
		Trail:     s.trail,
	}
}

// The service is the module's share of a client's personal data (frontdoor.DataHolder): the client's deposits.
var _ frontdoor.DataHolder = (*Service)(nil)

type exportedDeposit struct {
	ID            string     `json:"id"`
	Method        string     `json:"method"`
	Amount        string     `json:"amount"`
	Currency      string     `json:"currency"`
	Status        string     `json:"status"`
	BankReference string     `json:"bank_reference,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
}

// PersonalData names the module's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"deposits.json   your deposits: method, amount, status and when"}
}

// ExportClient writes deposits.json.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	out := []exportedDeposit{}
	var after *DepositCursor
	for {
		page, err := s.Deposits(ctx, t, DepositFilter{ClientID: clientID}, after, 500)
		if err != nil {
			return err
		}
		for i, d := range page {
			if i == 500 {
				break
			}
			out = append(out, exportedDeposit{ID: d.ID.String(), Method: d.GatewayName, Amount: d.Amount.Decimal(),
				Currency: d.Amount.Currency.Code, Status: string(d.Status), BankReference: d.BankReference, CreatedAt: d.CreatedAt,
				CompletedAt: d.CompletedAt})
		}
		if len(page) <= 500 {
			break
		}
		last := page[499]
		after = &DepositCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return frontdoor.ExportJSON(zw, "deposits.json", out, s.o.Now())
}

// EraseClientTx keeps the client's deposits: they are the transaction records anti-money-laundering law requires
// (modules/privacy only erases once retention allows, and these rows hold no name, email or address). A manual
// deposit's evidence file lies under the client's blob prefix, which the erasure deletes once it commits
// (modules/documents' task), so the rows forget it: key, name, type and size.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE deposits SET evidence_key = '', evidence_name = '', evidence_type = '', evidence_size = 0
		WHERE client_id = $1 AND evidence_key <> ''`, clientID); err != nil {
		return fmt.Errorf("payments: erase client %s: %w", clientID, err)
	}
	return nil
}
