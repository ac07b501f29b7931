package documents

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Emails queues a client's email in the caller's transaction (*emails.Service).
type Emails interface {
	Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e emails.Email) error
}

// TaskExpiry is the daily per-tenant task that expires and flags documents (RunExpiry).
const TaskExpiry = "documents:expiry"

// expiryActor is the audit actor of the expiry job.
var expiryActor = audit.System("documents-expiry")

// Settings are a tenant's document rules (settings key "documents").
type Settings struct {
	// ExpiryNoticeDays: an approved document expiring within this many days is flagged and the client asked for
	// a new one, once per document (1 to 365; default 30).
	ExpiryNoticeDays int `json:"expiry_notice_days"`
}

// DefaultSettings are the rules of a tenant that has saved none.
func DefaultSettings() Settings { return Settings{ExpiryNoticeDays: 30} }

const settingsKey = "documents"

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	return tenants.SettingOr(ctx, tx, settingsKey, DefaultSettings)
}

// Settings returns t's document rules.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	return tenants.ReadSettingOr(ctx, s.o.Gate, t, settingsKey, DefaultSettings)
}

// SaveSettings checks and stores t's document rules, audited ("documents.settings_changed").
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) error {
	if st.ExpiryNoticeDays < 1 || st.ExpiryNoticeDays > 365 {
		return validation.New("expiry_notice_days", "from 1 to 365 days")
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenants.SaveSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettings,
			Target: audit.Target{Type: "settings", ID: settingsKey}, Before: before, After: st})
	})
}

// ExpiryEntry is the scheduler entry of the expiry job: daily at 03:00 UTC, one task per active tenant.
func (s *Service) ExpiryEntry() jobs.Entry {
	return jobs.Entry{Name: "documents-expiry", Cron: "0 3 * * *", Type: TaskExpiry, Queue: jobs.QueueLow, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(5), asynq.Timeout(10 * time.Minute)}}
}

// Tasks registers the module's work: the daily expiry job (a run repeats nothing: expired documents are no longer
// approved, flagged ones carry their mark, and each email's idempotency key is its document's) and the deletion of
// an erased client's files.
func (s *Service) Tasks(tt *jobs.Tasks) {
	tt.Handle(TaskExpiry, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		r, err := s.RunExpiry(ctx, t)
		if err == nil && (r.Expired > 0 || r.Flagged > 0) {
			s.o.Log.InfoContext(ctx, "documents expiry", "tenant", t.Slug, "expired", r.Expired, "flagged", r.Flagged)
		}
		return err
	})
	tt.Every(s.ExpiryEntry())
	tt.Handle(TaskDeleteClientFiles, s.handleDeleteClientFiles)
}

// ExpiryResult counts what one run did.
type ExpiryResult struct{ Expired, Flagged int }

// expiryBatch bounds one transaction of the job.
const expiryBatch = 500

// RunExpiry does one tenant's daily expiry work, as of today (UTC):
//   - approved documents whose expiry date has passed become expired (audited);
//   - approved documents expiring within the tenant's ExpiryNoticeDays are flagged once each, and their client
//     (unless suspended or closed) is emailed document_expiring with the upload page's link, queued in the same
//     transaction. A document whose client already uploaded a newer one of the same type (waiting for review or
//     approved) is flagged without an email.
func (s *Service) RunExpiry(ctx context.Context, t tenants.Tenant) (ExpiryResult, error) {
	var res ExpiryResult
	now := s.o.Now()
	today := dateOf(now)
	for {
		var n int
		err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `UPDATE documents d SET status = 'expired', expired_at = $2
				FROM (SELECT id FROM documents WHERE status = 'approved' AND expires_on < $1 ORDER BY id LIMIT $3
				      FOR UPDATE SKIP LOCKED) o
				WHERE d.id = o.id RETURNING d.id, d.client_id, d.expires_on`, today, now, expiryBatch)
			if err != nil {
				return fmt.Errorf("documents expiry: %w", err)
			}
			type expired struct {
				id, client uuid.UUID
				on         time.Time
			}
			var list []expired
			for rows.Next() {
				var e expired
				if err := rows.Scan(&e.id, &e.client, &e.on); err != nil {
					rows.Close()
					return err
				}
				list = append(list, e)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, e := range list {
				if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: expiryActor, Action: ActionExpired, Target: target(e.id),
					Before: map[string]any{"status": StatusApproved},
					After:  map[string]any{"status": StatusExpired, "client_id": e.client, "expires_on": e.on.Format(time.DateOnly)}}); err != nil {
					return err
				}
			}
			n = len(list)
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Expired += n
		if n < expiryBatch {
			break
		}
	}
	for {
		n, err := s.flagBatch(ctx, t, now, today)
		if err != nil {
			return res, err
		}
		res.Flagged += n
		if n < expiryBatch {
			return res, nil
		}
	}
}

func (s *Service) flagBatch(ctx context.Context, t tenants.Tenant, now, today time.Time) (int, error) {
	var n int
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+columns+`,
				EXISTS (SELECT 1 FROM documents n WHERE n.client_id = d.client_id AND n.type = d.type
					AND n.uploaded_at > d.uploaded_at AND n.status IN ('pending_review', 'approved'))
			FROM documents d WHERE status = 'approved' AND expires_on >= $1 AND expires_on <= $2
				AND expiring_flagged_at IS NULL
			ORDER BY expires_on, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
			today, today.AddDate(0, 0, st.ExpiryNoticeDays), expiryBatch)
		if err != nil {
			return fmt.Errorf("documents expiry: %w", err)
		}
		type due struct {
			d        Document
			replaced bool
		}
		var list []due
		for rows.Next() {
			var x due
			var typ, status string
			var expires, reviewed *time.Time
			if err := rows.Scan(&x.d.ID, &x.d.ClientID, &typ, &status, &x.d.FileName, &x.d.ContentType, &x.d.Size,
				&x.d.SHA256, &x.d.DuplicateClients, &expires, &x.d.ReasonCode, &x.d.Message, &x.d.UploadedAt,
				&x.d.UploadedBy, &reviewed, &x.d.ReviewedBy, &x.d.ExpiringFlaggedAt, &x.d.ExpiredAt, &x.d.ErasedAt,
				&x.d.BlobKey, &x.replaced); err != nil {
				rows.Close()
				return err
			}
			x.d.Type, x.d.Status, x.d.ExpiresOn = Type(typ), Status(status), expires
			list = append(list, x)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, x := range list {
			emailed := false
			if !x.replaced && s.o.Emails != nil && s.o.Clients != nil {
				c, err := s.o.Clients.GetTx(ctx, tx, x.d.ClientID)
				if err != nil {
					return fmt.Errorf("documents expiry: client of %s: %w", x.d.ID, err)
				}
				if c.Status != clients.StatusSuspended && c.Status != clients.StatusClosed && c.Email != "" {
					err := s.o.Emails.Queue(ctx, tx, t, "document-expiring:"+x.d.ID.String(), emails.Email{
						Template: emails.TemplateDocumentExpiring, To: c.Email,
						Data: map[string]any{"FirstName": c.FirstName, "Document": x.d.Type.Label(),
							"ExpiresOn": x.d.ExpiresOn.Format(time.DateOnly), "UploadURL": s.uploadURL(t)}})
					if err != nil {
						return fmt.Errorf("documents expiry: email for %s: %w", x.d.ID, err)
					}
					emailed = true
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE documents SET expiring_flagged_at = $2 WHERE id = $1`, x.d.ID, now); err != nil {
				return fmt.Errorf("documents expiry: flag %s: %w", x.d.ID, err)
			}
			if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: expiryActor, Action: ActionExpiring, Target: target(x.d.ID),
				After: map[string]any{"client_id": x.d.ClientID, "expires_on": x.d.ExpiresOn.Format(time.DateOnly),
					"client_emailed": emailed, "newer_upload": x.replaced}}); err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	return n, err
}

// uploadURL is the portal's documents page: absolute on the tenant's host when Options.TenantURL is set, else the
// path (the emails service makes it absolute).
func (s *Service) uploadURL(t tenants.Tenant) string {
	if s.o.TenantURL != nil {
		return s.o.TenantURL(t, UploadPagePath)
	}
	return UploadPagePath
}
