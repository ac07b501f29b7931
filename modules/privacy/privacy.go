// Package privacy is the room for a client's data-protection rights: the export of everything the brokerage holds
// about them (JSON plus their documents, as a zip) and erasure, which anti-money-laundering retention may refuse.
// It owns no personal data itself: every module that keeps some registers as a data holder through its front door
// (frontdoor.DataHolder: its share of an export, and its erasure), so a new module joins export and erasure without
// this package importing it. Privacy decides whether erasure is allowed (the retention rule, over the clients
// module's record), keeps a record of every request and its answer, and writes the audit trail.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Clients is what privacy needs of the clients module: the client's record, on which the retention rule decides.
type Clients interface {
	RecordTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (clients.Record, error)
}

// Trail is the audit trail: privacy records its actions, reads a client's for the export (in sentences), and
// declares how its own actions read (*audit.Service).
type Trail interface {
	Record(ctx context.Context, tx pgx.Tx, e audit.Entry) error
	List(ctx context.Context, t tenants.Tenant, f audit.Filter, cursor string, limit int) (audit.Page, error)
	Tell(ctx context.Context, t tenants.Tenant, rows []audit.Row) ([]audit.Told, error)
	TellOne(e audit.Event) audit.Told
	Phrases(ps ...audit.Phrase)
}

// Audit actions.
const (
	ActionExported        = "client.exported"
	ActionErased          = "client.erased"
	ActionErasureRefused  = "client.erasure_refused"
	ActionSettingsChanged = "privacy.settings_changed"
	// ActionSettingsWeakened is a settings change that shortens the AML retention, with what it weakened.
	ActionSettingsWeakened = "privacy.settings_weakened"
)

// ErrNotFound is returned for a client that is not the tenant's.
var ErrNotFound = clients.ErrNotFound

// RefusedError is an erasure refused because the law requires the data to be kept. Basis is the legal basis in
// words the data subject can be given; Until is the day retention ends (nil while the relationship is active).
type RefusedError struct {
	Basis string
	Until *time.Time
}

func (e *RefusedError) Error() string { return "privacy: erasure refused: " + e.Basis }

// Service answers export and erasure requests for any tenant.
type Service struct {
	gate    *tenants.Gate
	clients Clients
	trail   Trail
	holders []frontdoor.DataHolder
	now     func() time.Time
	log     *slog.Logger
}

// Options are the service's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Clients Clients
	Trail   Trail
	Now     func() time.Time
	Log     *slog.Logger
}

// NewService returns the privacy service, with no data holder yet (Register).
func NewService(o Options) *Service {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{gate: o.Gate, clients: o.Clients, trail: o.Trail, now: now, log: o.Log}
}

// Door is the module's front door: the export and erasure API and the client's data-protection page.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "privacy",
		Routes:    func(api *web.API) { Routes(api, s, s.log) },
		PageFiles: PageFiles,
		Pages:     func(shell *web.Shell) { MountPages(shell, s, s.log); mountSections(shell) },
		Trail:     func() { s.trail.Phrases(Phrases()...) },
	}
}

// Register adds the modules that keep clients' personal data, in the order their shares appear in an export and
// are erased. cmd/brokerdesk registers every module's Door.Data while wiring, before serving.
func (s *Service) Register(holders ...frontdoor.DataHolder) {
	for _, h := range holders {
		if h != nil {
			s.holders = append(s.holders, h)
		}
	}
}

// Assessment is whether a client's personal data may be erased now.
type Assessment struct {
	Allowed bool
	Basis   string     // why not (or why it may), in words for the data subject
	Until   *time.Time // when retention ends, if it does
	Erased  bool       // already erased
}

// Assess is the retention rule, a pure function of the client's record, the tenant's retention period and now:
//
//   - an erased client: nothing left to erase (allowed, a no-op);
//   - a client for whom no due diligence was ever done (never submitted KYC) and who is registered, email_verified
//     or closed: no AML record-keeping duty arises, so erasure is allowed;
//   - a closed client: allowed once the retention period has run from the day the relationship ended;
//   - anyone else: the relationship is active, so records are kept; the account must be closed first.
func Assess(rec clients.Record, years int, now time.Time) Assessment {
	if rec.ErasedAt != nil {
		return Assessment{Allowed: true, Erased: true, Basis: "The client's personal data was erased on " + rec.ErasedAt.UTC().Format("2 January 2006") + "."}
	}
	c := rec.Client
	dueDiligence := c.KYCApprovedAt != nil
	for _, h := range rec.History {
		if h.To == clients.StatusKYCSubmitted {
			dueDiligence = true
		}
	}
	switch {
	case !dueDiligence && (c.Status == clients.StatusRegistered || c.Status == clients.StatusEmailVerified || c.Status == clients.StatusClosed):
		return Assessment{Allowed: true, Basis: "No customer due diligence was performed for this client, so no anti-money-laundering record-keeping duty applies."}
	case c.Status == clients.StatusClosed:
		ended := closedAt(rec)
		until := ended.AddDate(years, 0, 0)
		if !now.Before(until) {
			return Assessment{Allowed: true, Until: &until, Basis: fmt.Sprintf(
				"The business relationship ended on %s and the %d-year anti-money-laundering retention period has run out.",
				ended.UTC().Format("2 January 2006"), years)}
		}
		return Assessment{Until: &until, Basis: fmt.Sprintf(
			"Anti-money-laundering law requires customer due diligence and transaction records to be kept for %d years "+
				"after the business relationship ends (EU Directive 2015/849, Article 40, and the brokerage's retention "+
				"setting). The relationship ended on %s, so the data is kept until %s.",
			years, ended.UTC().Format("2 January 2006"), until.UTC().Format("2 January 2006"))}
	default:
		return Assessment{Basis: fmt.Sprintf(
			"The business relationship is active (status %s). Anti-money-laundering law requires the client's records to be "+
				"kept while it lasts and for %d years after it ends; close the account first.", c.Status.Label(), years)}
	}
}

// closedAt is when the client was last closed: the newest history row into closed, or the status change time.
func closedAt(rec clients.Record) time.Time {
	for i := len(rec.History) - 1; i >= 0; i-- {
		if rec.History[i].To == clients.StatusClosed {
			return rec.History[i].At
		}
	}
	return rec.Client.StatusChangedAt
}

// Settings are a tenant's data-protection settings.
type Settings struct {
	// RetentionYears is how long records are kept after the relationship ends (AML), 1 to 30; default 5.
	RetentionYears int `json:"aml_retention_years"`
}

// DefaultSettings is what a tenant that never saved its settings gets.
func DefaultSettings() Settings { return Settings{RetentionYears: 5} }

const settingsKey = "privacy"

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	return tenants.SettingOr(ctx, tx, settingsKey, DefaultSettings)
}

// Settings returns t's settings.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	return tenants.ReadSettingOr(ctx, s.gate, t, settingsKey, DefaultSettings)
}

// ErrBadRetention is returned for a retention period outside 1 to 30 years.
var ErrBadRetention = errors.New("the retention period must be 1 to 30 years")

// SaveSettings stores t's settings and audits the change.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) error {
	if st.RetentionYears < 1 || st.RetentionYears > 30 {
		return ErrBadRetention
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenants.SaveSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		target := audit.Target{Type: "settings", ID: settingsKey}
		if st.RetentionYears < before.RetentionYears {
			// Records kept for less time: a weakening of the AML rule, recorded as one.
			after := struct {
				Settings
				Weakened []string `json:"weakened"` // audit.WeakenedKey
			}{st, []string{fmt.Sprintf("AML retention shortened from %d to %d years", before.RetentionYears, st.RetentionYears)}}
			return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsWeakened, Target: target, Before: before, After: after})
		}
		return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged, Target: target, Before: before, After: st})
	})
}

// Request is one past export or erasure request.
type Request struct {
	Kind, Outcome, Basis string
	RetainUntil          *time.Time
	Actor                audit.Actor
	At                   time.Time
}

// Status is what the privacy page shows for a client: the assessment now and the requests so far.
type Status struct {
	Client     clients.Client
	Assessment Assessment
	Requests   []Request
	Settings   Settings
}

// ClientStatus assesses a client and lists its past requests.
func (s *Service) ClientStatus(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) (Status, error) {
	var out Status
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rec, err := s.clients.RecordTx(ctx, tx, clientID, false)
		if err != nil {
			return err
		}
		if out.Settings, err = settingsTx(ctx, tx); err != nil {
			return err
		}
		out.Client, out.Assessment = rec.Client, Assess(rec, out.Settings.RetentionYears, s.now())
		rows, err := tx.Query(ctx, `SELECT kind, outcome, basis, retain_until, actor_kind, actor_id, created_at
			FROM privacy_requests WHERE client_id = $1 ORDER BY created_at DESC, id`, clientID)
		if err != nil {
			return err
		}
		out.Requests, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) {
			var q Request
			var kind string
			err := r.Scan(&q.Kind, &q.Outcome, &q.Basis, &q.RetainUntil, &kind, &q.Actor.ID, &q.At)
			q.Actor.Kind = audit.ActorKind(kind)
			return q, err
		})
		return err
	})
	return out, err
}

func recordRequest(ctx context.Context, tx pgx.Tx, clientID uuid.UUID, kind, outcome string, a Assessment, actor audit.Actor) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	var until *time.Time
	if a.Until != nil && outcome == "refused" {
		d := a.Until.UTC().Truncate(24 * time.Hour)
		until = &d
	}
	basis := ""
	if outcome == "refused" {
		basis = a.Basis
	}
	_, err = tx.Exec(ctx, `INSERT INTO privacy_requests (id, client_id, kind, outcome, basis, retain_until, actor_kind, actor_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, clientID, kind, outcome, basis, until, string(actor.Kind), actor.ID)
	return err
}

func clientTarget(id uuid.UUID) audit.Target { return audit.Target{Type: "client", ID: id.String()} }

// Erase erases a client's personal data if retention allows, else records the refusal and returns *RefusedError.
// In one transaction: every data holder erases its share (the client row, the portal logins, the document rows,
// the officers' messages; the documents module adds the deletion of the stored files to the outbox), and the request
// and the audit entry are written. Erasing an erased client changes nothing and succeeds.
func (s *Service) Erase(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, actor audit.Actor) (Assessment, error) {
	var a Assessment
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		// The client's row stays locked until commit: a status change racing the erasure (clients.TransitionTx
		// locks the same row) waits, so the assessment still holds when the erasure commits.
		rec, err := s.clients.RecordTx(ctx, tx, clientID, true)
		if err != nil {
			return err
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		a = Assess(rec, st.RetentionYears, s.now())
		if a.Erased {
			return nil
		}
		if !a.Allowed {
			if err := recordRequest(ctx, tx, clientID, "erasure", "refused", a, actor); err != nil {
				return err
			}
			return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionErasureRefused, Target: clientTarget(clientID),
				After: map[string]any{"basis": a.Basis, "retain_until": a.Until}})
		}
		for _, h := range s.holders {
			if err := h.EraseClientTx(ctx, tx, t, clientID); err != nil {
				return err
			}
		}
		if err := recordRequest(ctx, tx, clientID, "erasure", "done", a, actor); err != nil {
			return err
		}
		return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionErased, Target: clientTarget(clientID),
			Before: map[string]any{"erased": false}, After: map[string]any{"erased": true}})
	})
	if err != nil {
		return a, err
	}
	if !a.Allowed {
		return a, &RefusedError{Basis: a.Basis, Until: a.Until}
	}
	return a, nil
}
