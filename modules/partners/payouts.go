package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Payouts (docs/partners.md, "Payouts"): a partner moves earnings from its ledger wallet (ledger.PartnerWallet) to
// its own client's wallet (ledger.ClientWallet), in one ledger transaction keyed by the payout, audited. The
// partner wallet has no overdraft check of its own (a cancelled deal takes back what it paid, whatever is left), so
// the payout's transaction asks the ledger to guard it (ledger.Entry.Guard): the available balance is checked under
// the wallet's balance row lock, and two payouts at once cannot both spend the same earnings.
//
// A payout is idempotent on its request key (the API's Idempotency-Key, the portal form's hidden key): the payout's
// id is derived from (partner, key), and so is its ledger key, so a repeat (even one racing the first) moves
// nothing and answers the first payout. "withdrawal" is the same move, after which the portal opens the withdrawal
// page: the withdrawal itself is the withdrawals module's, with its own policy, approvals and payout.

// Destinations of a payout.
const (
	PayoutToWallet     = "wallet"
	PayoutToWithdrawal = "withdrawal"
)

// ActionPayout is the audited action of a payout.
const ActionPayout = "partner.payout"

// Payout is a partner's earnings moved to its client's wallet.
type Payout struct {
	ID          uuid.UUID
	PartnerID   uuid.UUID
	ClientID    uuid.UUID
	Amount      money.Amount
	Destination string
	LedgerTx    uuid.UUID
	CreatedAt   time.Time
	// Replayed: the request key was used before with the same request; this is that payout, and nothing moved.
	Replayed bool
}

// PayoutInput is a payout request: an exact decimal amount of currency (default: the partner's plan's, else
// USD), its destination (default wallet) and the request's key.
type PayoutInput struct {
	Amount      string
	Currency    string
	Destination string
	Key         string
}

// ErrPayoutKeyReused: the request key was used for another payout (another amount, currency or destination).
var ErrPayoutKeyReused = errors.New("partners: this request key was used for another payout")

// payoutID derives a payout's id from its partner and request key.
func payoutID(partner uuid.UUID, key string) uuid.UUID {
	return uuid.NewSHA1(partner, []byte("payout:"+key))
}

// RequestPayout moves in.Amount of p's earnings to p's client wallet. Bad input, and an amount above the wallet's
// available balance, are field errors naming the field (amount, currency, destination, key).
func (s *Service) RequestPayout(ctx context.Context, t tenants.Tenant, actor audit.Actor, p Partner, in PayoutInput) (Payout, error) {
	if p.Status != StatusActive {
		return Payout{}, ErrNotPartner
	}
	if p.ClientID == nil {
		return Payout{}, fmt.Errorf("%w: the partner has no client wallet to pay out to", ErrState)
	}
	var f validation.Fields
	in.Key = strings.TrimSpace(in.Key)
	if in.Key == "" || len(in.Key) > 255 {
		f.Add("key", "must be 1 to 255 characters, the same on every retry")
	}
	switch in.Destination {
	case "":
		in.Destination = PayoutToWallet
	case PayoutToWallet, PayoutToWithdrawal:
	default:
		f.Add("destination", "must be wallet or withdrawal")
	}
	code := strings.ToUpper(strings.TrimSpace(in.Currency))
	if code == "" {
		code = "USD"
		if p.PlanID != nil {
			if plan, err := s.Plan(ctx, t, *p.PlanID, 0); err == nil {
				code = plan.Currency.Code
			}
		}
	}
	cur, ok := money.Lookup(code)
	if !ok {
		f.Add("currency", "not a currency BrokerDesk knows")
	}
	var minor int64
	if ok {
		v, err := money.Parse(strings.TrimSpace(in.Amount), cur)
		switch {
		case err != nil:
			f.Add("amount", fmt.Sprintf("must be an amount in %s, such as 120.50 (at most %d decimals)", cur.Code, cur.Exponent))
		case v <= 0:
			f.Add("amount", "must be more than zero")
		case v > ledger.MaxAmount:
			f.Add("amount", "is too large")
		default:
			minor = v
		}
	}
	if err := f.Err(); err != nil {
		return Payout{}, err
	}
	out := Payout{ID: payoutID(p.ID, in.Key), PartnerID: p.ID, ClientID: *p.ClientID, Amount: money.Amount{Minor: minor, Currency: cur},
		Destination: in.Destination}
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if prev, found, err := payoutTx(ctx, tx, out.ID); err != nil {
			return err
		} else if found {
			if prev.Amount != out.Amount || prev.Destination != out.Destination || prev.ClientID != out.ClientID {
				return ErrPayoutKeyReused
			}
			out, out.Replayed = prev, true
			return nil
		}
		wallet := ledger.PartnerWallet(p.ID, cur)
		lt, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "partner_payout:" + out.ID.String(), Kind: "partner_payout",
			Description: fmt.Sprintf("Partner payout of %s from %s's earnings to their wallet", out.Amount, p.Name),
			Postings:    []ledger.Posting{{Account: wallet, Amount: -minor}, {Account: ledger.ClientWallet(*p.ClientID, cur), Amount: minor}},
			Guard:       []string{wallet.Code},
			Metadata:    map[string]any{"payout": out.ID, "partner": p.ID, "destination": out.Destination}})
		var short *ledger.InsufficientFundsError
		switch {
		case errors.As(err, &short):
			return validation.New("amount", fmt.Sprintf("is more than the %s available in your partner wallet",
				money.Amount{Minor: max(short.Available, 0), Currency: cur}))
		case errors.Is(err, ledger.ErrKeyReused):
			return ErrPayoutKeyReused
		case err != nil:
			return err
		}
		if lt.Replayed { // a repeat that raced the first: the first has committed its payout by now
			prev, found, err := payoutTx(ctx, tx, out.ID)
			if err != nil || !found {
				return fmt.Errorf("partners: payout %s moved money without its record: %v", out.ID, err)
			}
			out, out.Replayed = prev, true
			return nil
		}
		by, err := json.Marshal(actor)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO partner_payouts (id, partner_id, client_id, amount, currency, destination, request_key, ledger_tx, requested_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at`, out.ID, p.ID, out.ClientID, minor, cur.Code, out.Destination, in.Key, lt.ID, by,
			s.o.Now().UTC()).Scan(&out.CreatedAt); err != nil {
			return fmt.Errorf("partners: payout: %w", err)
		}
		out.LedgerTx = lt.ID
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionPayout, Target: audit.Target{Type: partnerTarget, ID: p.ID.String()},
			After: map[string]string{"amount": out.Amount.String(), "destination": out.Destination, "payout": out.ID.String()}})
	})
	if err != nil {
		return Payout{}, err
	}
	return out, nil
}

const payoutColumns = `id, partner_id, client_id, amount, currency, destination, ledger_tx, created_at`

func scanPayout(row pgx.Row) (Payout, error) {
	var p Payout
	var code string
	if err := row.Scan(&p.ID, &p.PartnerID, &p.ClientID, &p.Amount.Minor, &code, &p.Destination, &p.LedgerTx, &p.CreatedAt); err != nil {
		return p, err
	}
	c, ok := money.Lookup(code)
	if !ok {
		return p, fmt.Errorf("partners: payout %s in an unknown currency %q", p.ID, code)
	}
	p.Amount.Currency = c
	return p, nil
}

func payoutTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Payout, bool, error) {
	p, err := scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM partner_payouts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// Payouts lists up to limit (at most 1000) of partner's payouts, newest first.
func (s *Service) Payouts(ctx context.Context, t tenants.Tenant, partner uuid.UUID, limit int) ([]Payout, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []Payout
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+payoutColumns+` FROM partner_payouts WHERE partner_id = $1 ORDER BY created_at DESC, id LIMIT $2`,
			partner, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPayout(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// PaidOut sums partner's payouts per currency, in minor units: the wallet holds what was earned less this.
func (s *Service) PaidOut(ctx context.Context, t tenants.Tenant, partner uuid.UUID) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT currency, sum(amount)::bigint FROM partner_payouts WHERE partner_id = $1 GROUP BY currency`, partner)
		if err != nil {
			return err
		}
		var cur string
		var sum int64
		_, err = pgx.ForEachRow(rows, []any{&cur, &sum}, func() error { out[cur] = sum; return nil })
		return err
	})
	return out, err
}

// moneyPhrases are the sentences of payouts and recalculations.
func moneyPhrases(say func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase) []audit.Phrase {
	return []audit.Phrase{
		say(ActionPayout, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " moved ", e.After("/amount"), " of partner earnings to their wallet")
			if e.After("/destination") == PayoutToWithdrawal {
				s = audit.Say(s, ", to withdraw")
			}
			return s
		}),
		say(ActionRecalculated, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " recalculated the commissions of ", e.Target, " from ", e.After("/from"), " to ", e.After("/to"),
				" with today's tree and plans: ", e.After("/deals"), " deals changed by ", e.After("/difference"), ": ", e.After("/reason"))
		}),
	}
}
