package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DepositRequest is a client's deposit as the portal asks for it.
type DepositRequest struct {
	Gateway  string // the gateway's slug
	Amount   string // a decimal in the currency ("250.00")
	Currency string
	// PromoCode is the promo code the client typed ("" for none): 1 to 32 characters without spaces, kept as typed
	// and carried by deposit.completed for the bonus rules that ask one.
	PromoCode string
}

// promoCode checks a typed promo code, naming the field when it cannot be one.
func promoCode(code string, f *validation.Fields) string {
	code = strings.TrimSpace(code)
	if code != "" && (len(code) > 32 || validation.Name(code) != "" || strings.ContainsAny(code, " \t")) {
		f.Add("promo_code", "a promo code is 1 to 32 characters without spaces")
	}
	return code
}

// parseAmount reads amount in currency code, naming the fields that are wrong.
func parseAmount(amount, code string, f *validation.Fields) (money.Amount, bool) {
	cur, ok := money.Lookup(code)
	if !ok {
		f.Add("currency", "not a currency BrokerDesk handles")
		return money.Amount{}, false
	}
	minor, err := money.Parse(amount, cur)
	switch {
	case err != nil:
		f.Add("amount", fmt.Sprintf("a decimal amount in %s with at most %d decimals, like %s", cur.Code, cur.Exponent, money.Format(25000*pow10(cur.Exponent)/100, cur)))
		return money.Amount{}, false
	case minor <= 0:
		f.Add("amount", "must be more than zero")
		return money.Amount{}, false
	case minor > ledger.MaxAmount:
		f.Add("amount", "at most "+money.Format(ledger.MaxAmount, cur))
		return money.Amount{}, false
	}
	return money.Amount{Minor: minor, Currency: cur}, true
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// StartDeposit starts a client's deposit through a gateway: the policy gate must allow "deposit", the gateway must
// take the currency and the amount be within its limits. The deposit is recorded (pending) and committed before the
// processor is asked (Adapter.Begin), so a callback can never arrive for a deposit that does not exist yet; the
// processor's answer (where the client goes next) is then stored with it. A processor that refuses fails the
// deposit with its reason.
func (s *Service) StartDeposit(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, r DepositRequest) (Deposit, error) {
	var f validation.Fields
	f.Required("gateway", r.Gateway)
	amount, ok := parseAmount(r.Amount, r.Currency, &f)
	promo := promoCode(r.PromoCode, &f)
	if f.Len() > 0 || !ok {
		return Deposit{}, f.Err()
	}
	var d Deposit
	var g Gateway
	var sealed, email string
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		g, sealed, err = s.gatewayTx(ctx, tx, `slug = $1`, r.Gateway, true)
		if errors.Is(err, ErrNotFound) || (err == nil && g.Kind == KindManual) {
			return validation.New("gateway", "no such deposit method")
		}
		if err != nil {
			return err
		}
		if !g.Takes(amount.Currency.Code) {
			return fmt.Errorf("%w: %s does not take %s deposits now", ErrGatewayDisabled, g.Name, amount.Currency.Code)
		}
		if err := checkLimits(g, amount); err != nil {
			return err
		}
		c, err := s.o.Clients.GetTx(ctx, tx, clientID)
		if err != nil {
			return err
		}
		email = c.Email
		dec, err := s.o.Clients.MayTx(ctx, tx, clientID, clients.ActionDeposit)
		if err != nil {
			return err
		}
		if !dec.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, dec.ForClient)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deposits (id, client_id, gateway_id, amount, currency, exponent, status, created_by, promo_code)
			VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)`, id, clientID, g.ID, amount.Minor, amount.Currency.Code,
			amount.Currency.Exponent, "client:"+clientID.String(), promo); err != nil {
			return fmt.Errorf("payments: record deposit: %w", err)
		}
		if d, err = depositTx(ctx, tx, `d.id = $1`, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID.String()},
			Action: ActionDepositStarted, Target: depositTarget(id),
			After: map[string]any{"gateway": g.Slug, "amount": amount.Decimal(), "currency": amount.Currency.Code}})
	})
	if err != nil {
		return Deposit{}, err
	}
	a, err := s.adapterFor(t, g, sealed)
	if err != nil {
		return d, s.failStart(ctx, t, d, err)
	}
	started, err := a.Begin(ctx, Checkout{Reference: d.ID.String(), Amount: amount, ClientEmail: email,
		Description: "Deposit " + amount.String(), ReturnURL: s.o.TenantURL(t, "/portal/wallet?deposit="+d.ID.String()),
		CancelURL: s.o.TenantURL(t, "/portal/wallet?cancelled="+d.ID.String()), CallbackURL: s.o.TenantURL(t, WebhookPath(g.Slug)),
		IdempotencyKey: "deposit:" + d.ID.String()})
	if err != nil {
		return d, s.failStart(ctx, t, d, err)
	}
	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deposits SET external_id = $2, redirect_url = $3, instructions = $4, updated_at = now()
			WHERE id = $1`, d.ID, cut(started.ExternalID, 200), cut(started.RedirectURL, 2000), cut(started.Instructions, 4000)); err != nil {
			return err
		}
		var err error
		d, err = depositTx(ctx, tx, `d.id = $1`, d.ID)
		return err
	})
	return d, err
}

// failStart fails a deposit whose processor could not be asked, and returns why for the client.
func (s *Service) failStart(ctx context.Context, t tenants.Tenant, d Deposit, cause error) error {
	s.o.Log.WarnContext(ctx, "deposit could not start at the processor", "deposit", d.ID, "err", cause)
	reason := "The payment provider could not start the payment. Try again or choose another method."
	err := s.o.Gate.Scope(context.WithoutCancel(ctx), t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deposits SET status = 'failed', failure = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`,
			d.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err // a callback moved it meanwhile: nothing failed here
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionDepositFailed, Target: depositTarget(d.ID),
			Before: map[string]any{"status": StatusPending}, After: map[string]any{"status": StatusFailed, "failure": reason}})
	})
	return errors.Join(fmt.Errorf("%w: %s", ErrProcessor, reason), err)
}

// checkLimits refuses an amount outside the gateway's bounds for its currency.
func checkLimits(g Gateway, a money.Amount) error {
	l, ok := g.Limits[a.Currency.Code]
	if !ok {
		return nil
	}
	if l.Min > 0 && a.Minor < l.Min {
		return validation.New("amount", "at least "+money.Amount{Minor: l.Min, Currency: a.Currency}.String()+" through "+g.Name)
	}
	if l.Max > 0 && a.Minor > l.Max {
		return validation.New("amount", "at most "+money.Amount{Minor: l.Max, Currency: a.Currency}.String()+" through "+g.Name)
	}
	return nil
}

// all runs a query in tx and scans every row with scan (scanDeposit, scanCase, scanCallback); no row is an empty list.
func all[T any](ctx context.Context, tx pgx.Tx, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// readAll is all in a read-only scope of t of its own.
func readAll[T any](ctx context.Context, g *tenants.Gate, t tenants.Tenant, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	var out []T
	err := g.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = all(ctx, tx, scan, q, args...)
		return err
	})
	if out == nil {
		out = []T{}
	}
	return out, err
}

// cut shortens s to at most n bytes for a column of that size, on a character boundary (Postgres refuses half a
// UTF-8 character), and makes it valid UTF-8.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// WebhookPath is the path of a gateway's callbacks on the tenant's host.
func WebhookPath(slug string) string { return WebhooksPrefix + slug }

// WebhooksPrefix is where the processors call back: the API's, so the OpenAPI document lists the route, with a
// rate limit of its own (BD_RATE_LIMIT_WEBHOOKS).
const WebhooksPrefix = "/api/v1/webhooks/payments/"

// Audit target types of the module's records.
const (
	depositTargetType = "deposit"
	caseTargetType    = "payment_exception"
)

func depositTarget(id uuid.UUID) audit.Target {
	return audit.Target{Type: depositTargetType, ID: id.String()}
}

const depositColumns = `d.id, d.client_id, d.gateway_id, g.name, g.kind, d.amount, d.currency, d.exponent, d.status, d.external_id,
	d.redirect_url, d.instructions, coalesce(d.deposit_number, 0), d.ledger_tx, d.failure, d.bank_reference, d.evidence_key,
	d.evidence_name, d.evidence_type, d.evidence_size, d.created_by, d.approved_by, d.created_at, d.updated_at, d.completed_at, d.promo_code`

const depositFrom = ` FROM deposits d JOIN payment_gateways g ON g.id = d.gateway_id`

func scanDeposit(row pgx.Row) (Deposit, error) {
	var d Deposit
	var exp int16
	var status string
	err := row.Scan(&d.ID, &d.ClientID, &d.GatewayID, &d.GatewayName, &d.GatewayKind, &d.Amount.Minor, &d.Amount.Currency.Code, &exp,
		&status, &d.ExternalID, &d.RedirectURL, &d.Instructions, &d.DepositNumber, &d.LedgerTx, &d.Failure, &d.BankReference,
		&d.EvidenceKey, &d.EvidenceName, &d.EvidenceType, &d.EvidenceSize, &d.CreatedBy, &d.ApprovedBy, &d.CreatedAt, &d.UpdatedAt, &d.CompletedAt, &d.PromoCode)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	d.Amount.Currency.Exponent, d.Status = int(exp), Status(status)
	return d, err
}

func depositTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Deposit, error) {
	return scanDeposit(tx.QueryRow(ctx, `SELECT `+depositColumns+depositFrom+` WHERE `+where, args...))
}

// Deposit reads one deposit of t.
func (s *Service) Deposit(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Deposit, error) {
	var d Deposit
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		d, err = depositTx(ctx, tx, `d.id = $1`, id)
		return err
	})
	return d, err
}

// DepositFilter narrows Deposits; zero fields do not filter.
type DepositFilter struct {
	Status    Status
	GatewayID uuid.UUID
	ClientID  uuid.UUID
	// ClientIDs limits the list to these clients (an account manager's own); nil: no limit.
	ClientIDs []uuid.UUID
	Currency  string
	Since     time.Time
	Until     time.Time
	// MinAmount and MaxAmount bound the amount in minor units (0: no bound); they apply with Currency.
	MinAmount, MaxAmount int64
}

// DepositCursor is a Deposits position: the last row of the previous page.
type DepositCursor struct {
	CreatedAt time.Time `json:"c"`
	ID        uuid.UUID `json:"i"`
}

// Deposits lists t's deposits matching f, newest first, limit+1 at most after the cursor (the extra row says there
// is a next page).
func (s *Service) Deposits(ctx context.Context, t tenants.Tenant, f DepositFilter, after *DepositCursor, limit int) ([]Deposit, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Status != "" {
		where = append(where, "d.status = "+arg(string(f.Status)))
	}
	if f.GatewayID != uuid.Nil {
		where = append(where, "d.gateway_id = "+arg(f.GatewayID))
	}
	if f.ClientID != uuid.Nil {
		where = append(where, "d.client_id = "+arg(f.ClientID))
	}
	if f.ClientIDs != nil {
		where = append(where, "d.client_id = ANY("+arg(f.ClientIDs)+")")
	}
	if f.Currency != "" {
		where = append(where, "d.currency = "+arg(f.Currency))
		if f.MinAmount > 0 {
			where = append(where, "d.amount >= "+arg(f.MinAmount))
		}
		if f.MaxAmount > 0 {
			where = append(where, "d.amount <= "+arg(f.MaxAmount))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "d.created_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "d.created_at < "+arg(f.Until))
	}
	if after != nil {
		where = append(where, "(d.created_at, d.id) < ("+arg(after.CreatedAt)+", "+arg(after.ID)+")")
	}
	q := `SELECT ` + depositColumns + depositFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY d.created_at DESC, d.id DESC LIMIT ` + arg(limit+1)
	return readAll(ctx, s.o.Gate, t, scanDeposit, q, args...)
}

// ClientWallets reads the wallets of a client of t (ErrNotFound for a client that is not t's).
func (s *Service) ClientWallets(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]ledger.Balance, error) {
	if err := s.knownClient(ctx, t, clientID); err != nil {
		return nil, err
	}
	return s.o.Ledger.ClientBalances(ctx, t, clientID)
}

// knownClient is nil for one of t's clients, else ErrNotFound.
func (s *Service) knownClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) error {
	return s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.o.Clients.GetTx(ctx, tx, clientID)
		if errors.Is(err, clients.ErrNotFound) {
			return ErrNotFound
		}
		return err
	})
}
