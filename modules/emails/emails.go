// Package emails is the room for the tenant-branded, templated emails BrokerDesk sends to traders: verify your
// email, documents received, approved, rejected, more information needed, document expiring. Each kind has a
// subject, a plain-text and an HTML body, embedded in the binary and drawn in the tenant's name, logo and colours.
//
// Business code queues an email inside its own transaction (Service.Queue: an outbox task "emails:send" on the
// notifications queue); the worker's handler renders it with the tenant's brand and sends it over SMTP. Job
// handlers that mint a secret (a verification token) send at once with Service.Send instead, so the secret never
// rests in the outbox. Bodies and links are never logged.
package emails

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	bdmail "github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskSend is the outbox task that renders and sends one queued email.
const TaskSend = "emails:send"

// Send tasks give up after this many retries (Asynq backs off polynomially: the last retry comes about half a day
// after the first failure) and each run is bounded, so a hung SMTP server holds no worker for long.
const (
	sendMaxRetry = 12
	sendTimeout  = time.Minute
)

// Email is one email to send: a template kind (the Template* constants), the recipient, the template's data and a
// locale ("" is English; a locale without templates of its own falls back to English).
type Email struct {
	Template string         `json:"template"`
	To       string         `json:"to"`
	Data     map[string]any `json:"data"`
	Locale   string         `json:"locale,omitempty"`
}

// ErrUnknownTemplate is an Email whose Template names no kind.
var ErrUnknownTemplate = errors.New("emails: unknown template")

// ErrInvalid is an Email whose recipient or data does not fit its template: a required value missing or empty, a
// value of the wrong type, a key the template does not know, or a link off the tenant's host.
var ErrInvalid = errors.New("emails: invalid email")

// Mailer sends one rendered message; *mail.Sender (infra/mail) is one.
type Mailer interface {
	Send(ctx context.Context, m bdmail.Message) error
}

// Brands reads a tenant's brand; *branding.Service is one.
type Brands interface {
	Get(ctx context.Context, t tenants.Tenant) (web.Brand, error)
}

// Options are the service's dependencies.
type Options struct {
	Registry *tenants.Registry // for the task handler (jobs.ForTenant)
	Brands   Brands
	// From is BD_SMTP_FROM; its address sends every email, under the tenant's brand name.
	From string
	// MailerFor returns a mailer whose From header is from ("<brand name> <address>"). cmd builds a mail.Sender with
	// the SMTP settings; building one costs no connection.
	MailerFor func(from string) (Mailer, error)
	// TenantURL is the absolute URL of a path on the tenant's own host.
	TenantURL func(t tenants.Tenant, path string) string
	// Redis, when set, holds the delivery markers that make a duplicate delivery of a send task send nothing
	// (see dedupe.go); without it every delivery sends. cmd passes the job queue's Redis.
	Redis asynq.RedisConnOpt
	// Queue is the Asynq queue of send tasks; default jobs.QueueNotifications (tests use a queue of their own).
	Queue string
	Log   *slog.Logger
}

// Service renders, queues and sends the templated emails.
type Service struct {
	o      Options
	from   *mail.Address
	outbox jobs.Outbox
	dedupe *dedupe
}

// NewService returns the emails service.
func NewService(o Options) (*Service, error) {
	if o.Brands == nil || o.MailerFor == nil || o.TenantURL == nil {
		return nil, errors.New("emails: Brands, MailerFor and TenantURL are required")
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("emails: from address %q: %w", o.From, err)
	}
	if o.Queue == "" {
		o.Queue = jobs.QueueNotifications
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, from: from, outbox: jobs.Outbox{DefaultQueue: o.Queue}}
	if o.Redis != nil {
		rdb, ok := o.Redis.MakeRedisClient().(redis.UniversalClient)
		if !ok {
			return nil, errors.New("emails: the Redis option gives no go-redis client")
		}
		s.dedupe = &dedupe{rdb: rdb}
	}
	return s, nil
}

// Close releases the service's Redis connections.
func (s *Service) Close() error {
	if s.dedupe == nil {
		return nil
	}
	return s.dedupe.rdb.Close()
}

// Queue checks e against its template now (an unknown template, a bad recipient or missing data is an error here,
// never at send time) and adds an "emails:send" task with idempotency key key to the outbox in tx, a transaction
// of t's scope. The email exists exactly when tx commits; the same key again adds nothing (the same key with
// different content is jobs.ErrKeyReused). Data must hold no secret: it rests in the outbox until sent.
func (s *Service) Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e Email) error {
	n, err := s.normalize(e)
	if err != nil {
		return err
	}
	// A dry render with the tenant's name and default colours: a template that cannot run fails the caller now.
	brand := web.DefaultBrand
	brand.Name = t.DisplayName
	if _, err := s.render(t, brand, n); err != nil {
		return err
	}
	if _, err := s.outbox.Add(ctx, tx, TaskSend, key, n, jobs.WithMaxRetry(sendMaxRetry), jobs.WithTimeout(sendTimeout)); err != nil {
		return fmt.Errorf("emails: queue %s: %w", n.Template, err)
	}
	return nil
}

// Send renders e with t's brand and sends it over SMTP now: for job handlers (a queued email's, or one that has
// just minted a token for a link).
func (s *Service) Send(ctx context.Context, t tenants.Tenant, e Email) error {
	n, err := s.normalize(e)
	if err != nil {
		return err
	}
	brand, err := s.o.Brands.Get(ctx, t)
	if err != nil {
		return fmt.Errorf("emails: brand of %s: %w", t.Slug, err)
	}
	msg, err := s.render(t, brand, n)
	if err != nil {
		return err
	}
	from := (&mail.Address{Name: oneLine(msg.brandName), Address: s.from.Address}).String()
	m, err := s.o.MailerFor(from)
	if err != nil {
		return fmt.Errorf("emails: mailer: %w", err)
	}
	if err := m.Send(ctx, bdmail.Message{To: n.To, Subject: msg.subject, Text: msg.text, HTML: msg.html}); err != nil {
		return fmt.Errorf("emails: send %s: %w", n.Template, err)
	}
	s.o.Log.InfoContext(ctx, "email sent", "template", n.Template, "tenant", t.Slug)
	return nil
}

// Door is the module's front door: the send task's handler. A task whose email no longer fits its template is
// archived at once (retrying cannot fix it); an SMTP or database failure is retried with backoff.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{Name: "emails", Tasks: func(t *jobs.Tasks) { t.Handle(TaskSend, s.handleSend) }}
}

// handleSend sends a queued email once per idempotency key: a delivery that finds the email sent does nothing, one
// that finds another delivery sending it retries later.
func (s *Service) handleSend(ctx context.Context, t tenants.Tenant, env jobs.Envelope) error {
	var e Email
	if err := json.Unmarshal(env.Payload, &e); err != nil {
		return fmt.Errorf("%w: %s payload: %v", asynq.SkipRetry, TaskSend, err)
	}
	var marker string
	if s.dedupe != nil {
		marker = markerKey(t.ID, env.Key)
		ok, err := s.dedupe.claim(ctx, marker)
		if err != nil {
			return err
		}
		if !ok {
			s.o.Log.InfoContext(ctx, "email already sent; duplicate delivery dropped", "template", e.Template, "tenant", t.Slug)
			return nil
		}
	}
	err := s.Send(ctx, t, e)
	if err != nil {
		if marker != "" {
			if rerr := s.dedupe.release(ctx, marker); rerr != nil {
				s.o.Log.WarnContext(ctx, "email delivery claim not released; the retry waits for it to lapse", "tenant", t.Slug, "err", rerr)
			}
		}
		if errors.Is(err, ErrUnknownTemplate) || errors.Is(err, ErrInvalid) {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return err
	}
	if marker != "" {
		// SMTP accepted the message: never fail the task now, or its retry would send it again.
		if err := s.dedupe.sent(ctx, marker); err != nil {
			s.o.Log.WarnContext(ctx, "email sent but not marked; a duplicate delivery would send it again", "tenant", t.Slug, "err", err)
		}
	}
	return nil
}

// oneLine drops control characters and folds runs of white space, for header values (subject, From name).
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' }), " ")
}
