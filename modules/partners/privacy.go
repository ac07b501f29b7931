package partners

import (
	"archive/zip"
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The module holds personal data of clients (frontdoor.DataHolder): which partner referred them, and the partner
// record of a client who became one.
var _ frontdoor.DataHolder = (*Service)(nil)

// PersonalData names the module's file in a client's export.
func (s *Service) PersonalData() []string {
	return []string{
		"partners.json           the partner you were referred by (and from when), and your own partner record and codes if you are one",
	}
}

type exportedAttribution struct {
	Partner   string    `json:"partner"`
	Code      string    `json:"code,omitempty"`
	Source    string    `json:"source"`
	Reason    string    `json:"reason,omitempty"`
	Effective time.Time `json:"effective_from"`
}

type exportedPartner struct {
	Name      string    `json:"name"`
	Status    Status    `json:"status"`
	Codes     []string  `json:"codes"`
	CreatedAt time.Time `json:"created_at"`
}

// ExportClient writes partners.json.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	out := struct {
		ReferredBy []exportedAttribution `json:"referred_by"`
		Partner    *exportedPartner      `json:"partner,omitempty"`
	}{ReferredBy: []exportedAttribution{}}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT coalesce(p.name, ''), a.code, a.source, a.reason, a.effective_from FROM partner_attributions a
			LEFT JOIN partners p ON p.id = a.partner_id WHERE a.client_id = $1 ORDER BY a.effective_from`, clientID)
		if err != nil {
			return err
		}
		var a exportedAttribution
		if _, err := pgx.ForEachRow(rows, []any{&a.Partner, &a.Code, &a.Source, &a.Reason, &a.Effective}, func() error {
			out.ReferredBy = append(out.ReferredBy, a)
			return nil
		}); err != nil {
			return err
		}
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM partners WHERE client_id = $1`, clientID).Scan(&id); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		p, err := partnerTx(ctx, tx, id)
		if err != nil {
			return err
		}
		ep := &exportedPartner{Name: p.Name, Status: p.Status, Codes: []string{}, CreatedAt: p.CreatedAt}
		for _, c := range p.Codes {
			ep.Codes = append(ep.Codes, c.Code)
		}
		out.Partner = ep
		return nil
	})
	if err != nil {
		return err
	}
	return frontdoor.ExportJSON(zw, "partners.json", out, s.o.Now())
}

// EraseClientTx removes the client's name from a partner record of theirs (the note they wrote when applying
// too). Attributions and commission rows stay: they are financial records of the brokerage's payments to partners,
// keyed by ids that name no one once the clients module erased the client's identity.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, clientID uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE partners SET name = 'Erased partner', note = '' WHERE client_id = $1`, clientID)
	return err
}
