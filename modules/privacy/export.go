package privacy

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

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

type exportedLogin struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    string    `json:"status"`
	TwoFactor bool      `json:"two_factor_enabled"`
	CreatedAt time.Time `json:"created_at"`
}

type exportedEvent struct {
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Diff   json.RawMessage `json:"changes,omitempty"`
}

func toExported(rec clients.Record) exportedClient {
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

const readme = `This archive holds the personal data %s keeps about client %s, exported on %s.

client.json     your profile, referral, and the history of your account's status
logins.json     your client-portal logins (passwords and second-factor secrets are never exported)
documents/      the identity and address documents you uploaded, with documents.json describing each
activity.json   the recorded actions on your client record (who, what, when)
`

// Export is one data-subject export: recorded and audited by BeginExport, written by WriteTo.
type Export struct {
	s        *Service
	t        tenants.Tenant
	clientID uuid.UUID
	rec      clients.Record
	logins   []identity.PortalLogin
}

// BeginExport records and audits an export of the client's data (an export attempt is on record even if the
// download then fails) and returns it for writing. ErrNotFound for a client that is not t's.
func (s *Service) BeginExport(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, actor audit.Actor) (*Export, error) {
	x := &Export{s: s, t: t, clientID: clientID}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if x.rec, err = s.clients.RecordTx(ctx, tx, clientID, false); err != nil {
			return err
		}
		if x.logins, err = s.logins.PortalLoginsTx(ctx, tx, clientID); err != nil {
			return err
		}
		if err := recordRequest(ctx, tx, clientID, "export", "done", Assessment{}, actor); err != nil {
			return err
		}
		return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionExported, Target: clientTarget(clientID)})
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// FileName is the archive's suggested download name.
func (x *Export) FileName() string {
	return "client-" + x.clientID.String() + "-" + x.s.now().UTC().Format("20060102") + ".zip"
}

// WriteTo writes the zip: README.txt, client.json, logins.json, documents/ and activity.json.
func (x *Export) WriteTo(ctx context.Context, w io.Writer) error {
	s, t, clientID, rec, logins := x.s, x.t, x.clientID, x.rec, x.logins
	zw := zip.NewWriter(w)
	put := func(name string, v any) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: s.now()})
		if err != nil {
			return err
		}
		if text, ok := v.(string); ok {
			_, err = io.WriteString(f, text)
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if err := put("README.txt", fmt.Sprintf(readme, "the brokerage ("+t.Slug+")", clientID, s.now().UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	if err := put("client.json", toExported(rec)); err != nil {
		return err
	}
	out := make([]exportedLogin, 0, len(logins))
	for _, l := range logins {
		out = append(out, exportedLogin{ID: l.ID.String(), Email: l.Email, Status: l.Status, TwoFactor: l.TwoFactor, CreatedAt: l.CreatedAt})
	}
	if err := put("logins.json", out); err != nil {
		return err
	}
	if s.documents != nil {
		if err := s.documents.ExportClient(ctx, t, clientID, zw); err != nil {
			return fmt.Errorf("export documents: %w", err)
		}
	}
	events, err := s.activity(ctx, t, clientID)
	if err != nil {
		return err
	}
	if err := put("activity.json", events); err != nil {
		return err
	}
	return zw.Close()
}

// activity is every audit row whose target is the client, oldest first.
func (s *Service) activity(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]exportedEvent, error) {
	var out []exportedEvent
	cursor := ""
	for {
		page, err := s.trail.List(ctx, t, audit.Filter{TargetType: "client", TargetID: clientID.String()}, cursor, audit.MaxLimit)
		if err != nil {
			return nil, fmt.Errorf("export activity: %w", err)
		}
		for _, r := range page.Rows {
			out = append(out, exportedEvent{At: r.At, Actor: string(r.Actor.Kind), Action: r.Action, Diff: r.Diff})
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if out == nil {
		out = []exportedEvent{}
	}
	return out, nil
}
