package bonuses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Events the bonus engine publishes in the transaction of the change (docs/architecture.md's event table). Payloads
// carry ids and amounts, never personal data: a subscriber reads the client through the clients service.
const (
	// EventGranted: a bonus was granted on a deposit and sits on the client's bonus account (Granted).
	EventGranted = "bonus.granted"
	// EventReleased: a bonus's turnover was met and it moved to the client's wallet (Released).
	EventReleased = "bonus.released"
	// EventForfeited: a bonus (or part of it) was forfeited, by a withdrawal or otherwise (Forfeited). The forfeiture
	// (docs/bonuses.md#forfeiture) publishes it; the engine's emails subscribe to it already.
	EventForfeited = "bonus.forfeited"
	// EventExpired: an open bonus reached its expiry before its turnover was met; the grant was reversed (Expired).
	EventExpired = "bonus.expired"
	// EventCancelled: an open bonus was cancelled, by staff with a reason or because the trading server refused its
	// credit; the grant was reversed (Cancelled).
	EventCancelled = "bonus.cancelled"
)

// Granted announces a granted bonus.
type Granted struct {
	BonusID     uuid.UUID `json:"bonus_id"`
	ClientID    uuid.UUID `json:"client_id"`
	RuleID      uuid.UUID `json:"rule_id"`
	RuleVersion int       `json:"rule_version"`
	DepositID   uuid.UUID `json:"deposit_id"`
	// Amount is in minor units of Currency (Exponent digits).
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Exponent  int       `json:"exponent"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EventType implements events.Event.
func (Granted) EventType() string { return EventGranted }

// Released announces a bonus moved to the client's wallet.
type Released struct {
	BonusID  uuid.UUID `json:"bonus_id"`
	ClientID uuid.UUID `json:"client_id"`
	Amount   int64     `json:"amount"` // minor units of Currency
	Currency string    `json:"currency"`
	Exponent int       `json:"exponent"`
}

// EventType implements events.Event.
func (Released) EventType() string { return EventReleased }

// Forfeited announces a bonus forfeited in full or in part. Amount is what was forfeited (the whole bonus, or the
// pro rata part a withdrawal took); Reason is the sentence the client reads ("you withdrew 300.00 USD while the
// bonus was open"). WithdrawalID is set when a withdrawal forfeited it.
type Forfeited struct {
	BonusID      uuid.UUID  `json:"bonus_id"`
	ClientID     uuid.UUID  `json:"client_id"`
	WithdrawalID *uuid.UUID `json:"withdrawal_id,omitempty"`
	Amount       int64      `json:"amount"` // minor units of Currency
	Currency     string     `json:"currency"`
	Exponent     int        `json:"exponent"`
	Reason       string     `json:"reason"`
	// Left is what stays open (0 when Full); Rule is the rule's term: full or pro_rata.
	Left int64  `json:"left"`
	Full bool   `json:"full"`
	Rule string `json:"rule"`
}

// EventType implements events.Event.
func (Forfeited) EventType() string { return EventForfeited }

// Expired announces a bonus removed at its expiry: Amount is what it was (minor units of Currency), LotsDone of
// LotsRequired what the client had traded.
type Expired struct {
	BonusID      uuid.UUID `json:"bonus_id"`
	ClientID     uuid.UUID `json:"client_id"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Exponent     int       `json:"exponent"`
	LotsDone     string    `json:"lots_done"`
	LotsRequired string    `json:"lots_required"`
}

// EventType implements events.Event.
func (Expired) EventType() string { return EventExpired }

// Cancelled announces a bonus cancelled with the reason the client reads (staff's, or the trading server's refusal).
type Cancelled struct {
	BonusID  uuid.UUID `json:"bonus_id"`
	ClientID uuid.UUID `json:"client_id"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Exponent int       `json:"exponent"`
	Reason   string    `json:"reason"`
}

// EventType implements events.Event.
func (Cancelled) EventType() string { return EventCancelled }

// Publisher announces the engine's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
}

// Emails queues a client's email in the caller's transaction (*emails.Service).
type Emails interface {
	Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e emails.Email) error
}

// publishGrantedTx announces the bonus the rule granted on the deposit, in the grant's transaction.
func (s *Service) publishGrantedTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, rule, deposit uuid.UUID) error {
	if s.o.Events == nil {
		return nil
	}
	b, err := bonusTx(ctx, tx, `b.rule_id = $1 AND b.deposit_id = $2`, rule, deposit)
	if err != nil {
		return err
	}
	return s.o.Events.Publish(ctx, tx, t, Granted{BonusID: b.ID, ClientID: b.ClientID, RuleID: b.RuleID, RuleVersion: b.RuleVersion,
		DepositID: b.DepositID, Amount: b.Amount.Minor, Currency: b.Amount.Currency.Code, Exponent: b.Amount.Currency.Exponent, ExpiresAt: b.ExpiresAt})
}

// publishReleasedTx announces a released bonus, in the release's transaction.
func (s *Service) publishReleasedTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID) error {
	if s.o.Events == nil {
		return nil
	}
	b, err := bonusTx(ctx, tx, `b.id = $1`, id)
	if err != nil {
		return err
	}
	return s.o.Events.Publish(ctx, tx, t, Released{BonusID: b.ID, ClientID: b.ClientID, Amount: b.Amount.Minor, Currency: b.Amount.Currency.Code,
		Exponent: b.Amount.Currency.Exponent})
}

// publishEndedTx announces a bonus that expired or was cancelled, in the transaction that closed it.
func (s *Service) publishEndedTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID) error {
	if s.o.Events == nil {
		return nil
	}
	b, err := bonusTx(ctx, tx, `b.id = $1`, id)
	if err != nil {
		return err
	}
	switch b.Status {
	case closeExpire.status:
		return s.o.Events.Publish(ctx, tx, t, Expired{BonusID: b.ID, ClientID: b.ClientID, Amount: b.Amount.Minor, Currency: b.Amount.Currency.Code,
			Exponent: b.Amount.Currency.Exponent, LotsDone: b.LotsDone.StringFixed(2), LotsRequired: b.LotsRequired.StringFixed(2)})
	case closeCancel.status:
		return s.o.Events.Publish(ctx, tx, t, Cancelled{BonusID: b.ID, ClientID: b.ClientID, Amount: b.Amount.Minor, Currency: b.Amount.Currency.Code,
			Exponent: b.Amount.Currency.Exponent, Reason: b.CloseReason})
	}
	return fmt.Errorf("bonuses: bonus %s is %s, neither expired nor cancelled", id, b.Status)
}

// bonusTx reads one bonus by a condition on b; ErrNotFound when none.
func bonusTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Bonus, error) {
	rows, err := tx.Query(ctx, selectBonus+` WHERE `+where, args...)
	if err != nil {
		return Bonus{}, err
	}
	bs, err := scanBonuses(rows)
	if err != nil {
		return Bonus{}, err
	}
	if len(bs) == 0 {
		return Bonus{}, ErrNotFound
	}
	return bs[0], nil
}

// PortalPath is the client's bonuses in the portal, where the emails link to.
const PortalPath = "/portal/bonuses"

// subscribeEmails registers the client's emails of the engine's events, each a Later subscriber on the
// notifications queue that queues one branded email through the outbox (its idempotency key is the bonus's).
func (s *Service) subscribeEmails(h *events.Hall) {
	events.Later(h, "bonuses.email_granted", s.emailGranted, events.InQueue(jobs.QueueNotifications))
	events.Later(h, "bonuses.email_released", s.emailReleased, events.InQueue(jobs.QueueNotifications))
	events.Later(h, "bonuses.email_forfeited", s.emailForfeited, events.InQueue(jobs.QueueNotifications))
	events.Later(h, "bonuses.email_expired", s.emailExpired, events.InQueue(jobs.QueueNotifications))
	events.Later(h, "bonuses.email_cancelled", s.emailCancelled, events.InQueue(jobs.QueueNotifications))
}

func amountOf(minor int64, code string, exp int) string {
	if c, ok := money.Lookup(code); ok {
		return money.Amount{Minor: minor, Currency: c}.String()
	}
	return money.Amount{Minor: minor, Currency: money.Currency{Code: code, Exponent: exp}}.String()
}

// emailTx queues the client's email about bonus id under key: data draws it from the bonus and the client. A
// bonus no longer there (never expected) sends nothing.
func (s *Service) emailTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id, client uuid.UUID, key, template string,
	data func(b Bonus, c clients.Client) map[string]any) error {
	if s.o.Emails == nil {
		return nil
	}
	b, err := bonusTx(ctx, tx, `b.id = $1`, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	c, err := s.o.Clients.GetTx(ctx, tx, client)
	if err != nil {
		return fmt.Errorf("bonuses: client of bonus %s: %w", id, err)
	}
	return s.o.Emails.Queue(ctx, tx, t, key, emails.Email{Template: template, To: c.Email, Data: data(b, c)})
}

// emailGranted tells the client a bonus was granted: the amount, the rule, the turnover it asks and its expiry.
func (s *Service) emailGranted(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e Granted) error {
	return s.emailTx(ctx, tx, t, e.BonusID, e.ClientID, "bonus:"+e.BonusID.String()+":granted", emails.TemplateBonusGranted,
		func(b Bonus, c clients.Client) map[string]any {
			return map[string]any{"FirstName": c.FirstName, "Amount": b.Amount.String(), "Rule": b.RuleName, "Lots": b.LotsRequired.StringFixed(2),
				"ExpiresOn": b.ExpiresAt, "BonusesURL": PortalPath}
		})
}

// emailReleased tells the client a bonus is now in their wallet.
func (s *Service) emailReleased(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e Released) error {
	return s.emailTx(ctx, tx, t, e.BonusID, e.ClientID, "bonus:"+e.BonusID.String()+":released", emails.TemplateBonusReleased,
		func(b Bonus, c clients.Client) map[string]any {
			return map[string]any{"FirstName": c.FirstName, "Amount": amountOf(e.Amount, e.Currency, e.Exponent), "Rule": b.RuleName,
				"Lots": b.LotsDone.StringFixed(2), "WalletURL": "/portal/wallet"}
		})
}

// emailForfeited tells the client a bonus (or part of it) was forfeited, and why. A bonus may be forfeited in parts
// (pro rata per withdrawal): the key is the event's.
func (s *Service) emailForfeited(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e Forfeited) error {
	reason := e.Reason
	if reason == "" {
		reason = "The bonus's rule ends it when money is withdrawn while it is open."
	}
	return s.emailTx(ctx, tx, t, e.BonusID, e.ClientID, "bonus:"+e.BonusID.String()+":forfeited:"+m.ID.String(), emails.TemplateBonusForfeited,
		func(b Bonus, c clients.Client) map[string]any {
			return map[string]any{"FirstName": c.FirstName, "Amount": amountOf(e.Amount, e.Currency, e.Exponent), "Rule": b.RuleName,
				"Reason": reason, "BonusesURL": PortalPath}
		})
}

// emailExpired tells the client a bonus expired before its turnover was met, with the lots they had traded.
func (s *Service) emailExpired(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e Expired) error {
	return s.emailTx(ctx, tx, t, e.BonusID, e.ClientID, "bonus:"+e.BonusID.String()+":expired", emails.TemplateBonusExpired,
		func(b Bonus, c clients.Client) map[string]any {
			return map[string]any{"FirstName": c.FirstName, "Amount": amountOf(e.Amount, e.Currency, e.Exponent), "Rule": b.RuleName,
				"Done": e.LotsDone, "Lots": e.LotsRequired, "BonusesURL": PortalPath}
		})
}

// emailCancelled tells the client a bonus was cancelled, and why (the reason the portal shows them too).
func (s *Service) emailCancelled(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e Cancelled) error {
	reason := e.Reason
	if reason == "" {
		reason = "Contact us to know more."
	}
	return s.emailTx(ctx, tx, t, e.BonusID, e.ClientID, "bonus:"+e.BonusID.String()+":cancelled", emails.TemplateBonusCancelled,
		func(b Bonus, c clients.Client) map[string]any {
			return map[string]any{"FirstName": c.FirstName, "Amount": amountOf(e.Amount, e.Currency, e.Exponent), "Rule": b.RuleName,
				"Reason": reason, "BonusesURL": PortalPath}
		})
}
