package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// VerificationTTL is how long an emailed verification link works.
const VerificationTTL = 48 * time.Hour

// resendEvery bounds how often a link is re-sent to one client: a resend inside the same window adds nothing, so
// the resend form cannot be used to flood someone's inbox.
const resendEvery = 5 * time.Minute

// Verification link refusals; the page tells them apart and offers a new link.
var (
	ErrLinkUnknown = errors.New("clients: verification link unknown")
	ErrLinkUsed    = errors.New("clients: verification link already used")
	ErrLinkExpired = errors.New("clients: verification link expired")
)

// HandleSendVerification is the task of TaskSendVerification: it mints a single-use token (only its SHA-256 is
// stored, valid VerificationTTL; the link works from then on) and emails the link now. Delivery is at least once:
// an attempt of a task that was already marked sent sends nothing more, and any other attempt adds its own link, so
// a retry after a send whose mark was lost leaves the first email's link working beside the second's (verifying
// through either spends the verification). A client who is no longer "registered" gets no email.
func (s *Service) HandleSendVerification(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	if s.emails == nil {
		return errors.New("clients: the verification task needs the emails service (Options.Emails)")
	}
	var task verificationTask
	if err := json.Unmarshal(e.Payload, &task); err != nil || task.ClientID == uuid.Nil {
		return fmt.Errorf("%w: %s payload: %v", asynq.SkipRetry, TaskSendVerification, err)
	}
	token, err := auth.NewRefreshToken() // 256 random bits, URL-safe
	if err != nil {
		return err
	}
	hash := auth.HashToken(token)
	var c Client
	var skip bool
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if c, err = s.GetTx(ctx, tx, task.ClientID); err != nil {
			return err
		}
		if c.Status != StatusRegistered {
			skip = true
			return nil
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM client_email_verifications WHERE task_key = $1 AND sent_at IS NOT NULL)`,
			e.Key).Scan(&skip); err != nil || skip {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO client_email_verifications (token_hash, client_id, task_key, expires_at)
			VALUES ($1, $2, $3, $4)`, hash[:], c.ID, e.Key, s.now().Add(VerificationTTL))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: client %s is gone", asynq.SkipRetry, task.ClientID)
	}
	if err != nil || skip {
		return err
	}
	if err := s.emails.Send(ctx, t, emails.Email{Template: emails.TemplateVerifyEmail, To: c.Email,
		Data: map[string]any{"Link": "/portal/verify/" + token, "FirstName": c.FirstName}}); err != nil {
		if errors.Is(err, emails.ErrInvalid) || errors.Is(err, emails.ErrUnknownTemplate) {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE client_email_verifications SET sent_at = now() WHERE token_hash = $1`, hash[:]); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("clients"), Action: ActionVerificationSent, Target: target(c.ID),
			After: map[string]any{"expires_at": s.now().Add(VerificationTTL).UTC().Format(time.RFC3339)}})
	})
}

// CheckLink says whether a verification link would work, without spending it or changing anything: nil for a
// usable link, else ErrLinkUnknown, ErrLinkUsed or ErrLinkExpired (the page a GET of the link shows; Verify spends
// it on the trader's confirmation, so a mail scanner fetching links ahead of the reader spends nothing).
func (s *Service) CheckLink(ctx context.Context, t tenants.Tenant, token string) error {
	return s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.usableLink(ctx, tx, token, false)
		return err
	})
}

// usableLink finds a sent verification link by its token and returns its client, or ErrLinkUnknown, ErrLinkUsed
// or ErrLinkExpired. forUpdate locks the link's row (it is about to be spent) until tx ends.
func (s *Service) usableLink(ctx context.Context, tx pgx.Tx, token string, forUpdate bool) (uuid.UUID, error) {
	hash := auth.HashToken(token)
	lock := ""
	if forUpdate {
		lock = "FOR UPDATE"
	}
	var clientID uuid.UUID
	var expires time.Time
	var used *time.Time
	// Not "AND sent_at IS NOT NULL": the email is out before its mark is written, and a reader quick enough to
	// follow the link in between must not be told it is unknown. Only the email ever carried the token.
	err := tx.QueryRow(ctx, `SELECT client_id, expires_at, used_at FROM client_email_verifications
		WHERE token_hash = $1 `+lock, hash[:]).Scan(&clientID, &expires, &used)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return uuid.Nil, ErrLinkUnknown
	case err != nil:
		return uuid.Nil, err
	case used != nil:
		return uuid.Nil, ErrLinkUsed
	case !s.now().Before(expires):
		return uuid.Nil, ErrLinkExpired
	}
	return clientID, nil
}

// Verified is what a followed verification link did.
type Verified struct {
	Client Client
	// Already: the client was verified before (through another link); nothing changed.
	Already bool
}

// Verify spends a verification link: the client moves to email_verified, gets a tier by the tenant's rules and an
// account manager (a country rule, else the round-robin among active sales staff, per the settings), and every
// other link of the client stops working. A link that is unknown, used or expired is ErrLinkUnknown, ErrLinkUsed
// or ErrLinkExpired.
func (s *Service) Verify(ctx context.Context, t tenants.Tenant, token string) (Verified, error) {
	var out Verified
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		clientID, err := s.usableLink(ctx, tx, token, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE client_email_verifications SET used_at = $2 WHERE client_id = $1 AND used_at IS NULL`,
			clientID, s.now()); err != nil {
			return err
		}
		c, err := getForUpdate(ctx, tx, clientID)
		if err != nil {
			return err
		}
		if c.Status != StatusRegistered {
			if c.EmailVerifiedAt == nil {
				// Moved on without a verification (suspended or closed at registration): the link does nothing.
				return ErrLinkUnknown
			}
			out = Verified{Client: c, Already: true}
			return nil
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		tier := st.tierFor(c.Country, c.Experience)
		manager, how, err := assignManager(ctx, tx, st, c.Country)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE clients SET tier = $2, manager_id = $3 WHERE id = $1`, c.ID, tier, manager); err != nil {
			return err
		}
		actor := audit.Actor{Kind: audit.ActorClient, ID: c.ID.String()}
		if c, err = s.transitionTx(ctx, tx, t, c.ID, StatusEmailVerified, "email address verified through the emailed link", actor); err != nil {
			return err
		}
		c.Tier, c.ManagerID = tier, manager
		out = Verified{Client: c}
		after := map[string]any{"tier": tier, "manager_id": manager, "manager_assignment": how}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("onboarding"), Action: ActionAssigned, Target: target(c.ID),
			Before: map[string]any{"tier": "", "manager_id": nil}, After: after})
	})
	return out, err
}

// assignManager picks the account manager of a newly verified client: the first country rule naming the client's
// country and an active staff user, else (round_robin) the next active sales staff after the last one assigned. The
// rotation row is locked until the transaction ends, so verifications at once take turns. how says which rule
// decided ("" when nobody was assigned).
func assignManager(ctx context.Context, tx pgx.Tx, st Settings, country string) (*uuid.UUID, string, error) {
	if st.ManagerAssignment == AssignNone {
		return nil, "", nil
	}
	for _, r := range st.ManagerRules {
		if !slices.Contains(r.Countries, country) {
			continue
		}
		ok, err := staff.IsActive(ctx, tx, r.ManagerID)
		if err != nil {
			return nil, "", err
		}
		if ok {
			id := r.ManagerID
			return &id, "country_rule", nil
		}
	}
	if st.ManagerAssignment != AssignRoundRobin {
		return nil, "", nil
	}
	var last *uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT last_manager_id FROM client_manager_rotation FOR UPDATE`).Scan(&last); err != nil {
		return nil, "", fmt.Errorf("manager rotation: %w", err)
	}
	next, ok, err := staff.NextWithRole(ctx, tx, staff.RoleSales, last)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", nil // no sales staff: the client waits for a manual assignment
	}
	if _, err := tx.Exec(ctx, `UPDATE client_manager_rotation SET last_manager_id = $1`, next); err != nil {
		return nil, "", err
	}
	return &next, "round_robin", nil
}

// ResendVerification queues a new verification email for the client registered under email, if there is one
// still waiting for verification; it says nothing either way (the pages and API answer the same whatever the
// address). At most one email per client per resendEvery.
func (s *Service) ResendVerification(ctx context.Context, t tenants.Tenant, email string) error {
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = lower(btrim($1)) AND status = 'registered'`, email).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		window := s.now().Unix() / int64(resendEvery/time.Second)
		_, err = s.outbox.Add(ctx, tx, TaskSendVerification, "verify:"+id.String()+":"+strconv.FormatInt(window, 10),
			verificationTask{ClientID: id}, jobs.WithMaxRetry(12), jobs.WithTimeout(time.Minute))
		return err
	})
}
