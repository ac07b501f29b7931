package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Drift: what the CRM believes of each account against what its platform says (docs/trading/desk.md#drift-report).
// Per server, a check reads every account of trading_accounts (but closed ones, and those with a change in flight)
// through the server's shared session, a few at a time, and compares:
//
//   - settings: the group, the leverage, swap-free (the CRM's columns) and access (expectedAccess) with the
//     platform's Account. A mismatch is healed where the brokerage allows it (trading_desk_settings.heal_settings,
//     on by default): the CRM's value is pushed back with SetLeverage, MoveGroup, SetSwapFree or SetAccess, the
//     account read again, and the healing audited. Dealing owns what is left open;
//   - money: the balance operations the CRM made (its done transfers: to_account minus to_wallet, plus the
//     differences finance acknowledged by resolving earlier items) with the balance operations on the platform (the
//     account's balance deals as deal sync stored them, not cancelled, from the opening balance acknowledgement
//     on). Money drift is never healed: finance owns it. It is compared only when the two sides can agree: the
//     account's deals are synced past every done transfer (by driftSettle) and none is pending;
//   - credit: the credit operations the CRM made for bonuses (its done credit operations: what credit_in booked
//     minus what credit_out took, plus the credit differences finance acknowledged) with the credit deals on the
//     platform (not cancelled). Finance's, like money, and compared on the same terms against the credit operations.
//
// Each mismatch is one drift item (trading_drift_items); one seen again moves its last_seen_at, never adds a row;
// an open item whose account now agrees is gone. The check records what the platform reported (the account's
// live state) and a one-line summary per server (trading_drift_checks).

// DriftKind is what differs.
type DriftKind string

const (
	DriftGroup    DriftKind = "group"
	DriftLeverage DriftKind = "leverage"
	DriftAccess   DriftKind = "access"
	DriftSwapFree DriftKind = "swap_free"
	DriftBalance  DriftKind = "balance"
	DriftCredit   DriftKind = "credit"
)

// DriftKinds are the kinds in the order the desk compares, heals and lists them.
var DriftKinds = []DriftKind{DriftGroup, DriftLeverage, DriftSwapFree, DriftAccess, DriftBalance, DriftCredit}

// Money says the kind is about money (balance, credit): finance's, never healed, resolved by hand with a note that
// acknowledges the difference.
func (k DriftKind) Money() bool { return k == DriftBalance || k == DriftCredit }

// Label is the kind in words.
func (k DriftKind) Label() string {
	if k == DriftSwapFree {
		return "swap-free"
	}
	return string(k)
}

// DriftStatus is where a drift item is.
type DriftStatus string

const (
	DriftOpen     DriftStatus = "open"
	DriftHealed   DriftStatus = "healed"   // the CRM's value pushed back; the platform agrees
	DriftResolved DriftStatus = "resolved" // by staff, with a note (money)
	DriftGone     DriftStatus = "gone"     // the platform agrees again without the desk's healing
)

// Owners of drift items: settings are dealing's (the back office's), money finance's.
const (
	OwnerDealing = "dealing"
	OwnerFinance = "finance"
)

// ownerOf is whose a kind of drift is.
func ownerOf(k DriftKind) string {
	if k.Money() {
		return OwnerFinance
	}
	return OwnerDealing
}

// DriftItem is one mismatch (trading_drift_items) with the account it is about.
type DriftItem struct {
	ID            uuid.UUID
	AccountID     uuid.UUID
	ClientID      uuid.UUID
	ClientName    string
	Login         string
	ServerID      uuid.UUID
	ServerName    string
	ServerSlug    string
	Kind          DriftKind
	CRMValue      string
	PlatformValue string
	// Difference is the platform's balance (or credit) operations minus the CRM's (money items).
	Difference *money.Amount
	Owner      string
	Status     DriftStatus
	Healing    string
	FirstSeen  time.Time
	LastSeen   time.Time
	ClosedAt   *time.Time
	ResolvedBy string
	Note       string
}

// Audit actions of drift.
const (
	ActionDriftFound          = "trading.drift_found"
	ActionDriftHealed         = "trading.drift_healed"
	ActionDriftHealFailed     = "trading.drift_heal_failed"
	ActionDriftGone           = "trading.drift_gone"
	ActionDriftResolved       = "trading.drift_resolved"
	ActionDriftCheckRequested = "trading.drift_check_requested"
	driftTarget               = "trading_drift_item"
)

// Task types of drift checks.
const (
	// TaskCheckDrift checks every switched-on server of a tenant (periodic), or one (server_id set: on demand,
	// through the outbox). Queue sync.
	TaskCheckDrift = "tradingdesk:check-drift"
)

// DefaultDriftEvery is how often every tenant's accounts are checked: drift is rare and each check reads every
// account once, so a quarter of an hour finds it soon enough without reading a 10,000-account server every minute.
const DefaultDriftEvery = 15 * time.Minute

// DefaultDriftParallel is how many accounts of one server are read at once through its shared session.
const DefaultDriftParallel = 16

// driftSettle is how long after a done transfer an account's deals must have been synced before its money is
// compared: the platform's balance deal is dated before the transfer finished, by its clock; a margin covers clocks
// that disagree.
const driftSettle = 2 * time.Minute

// driftClaim bounds one check of a server: a crashed check's claim lapses after it.
const driftClaim = 15 * time.Minute

// ErrDriftRunning: another check of the server is running.
var ErrDriftRunning = errors.New("tradingdesk: a drift check of this server is running")

// expectedAccess is what the CRM believes an account may do on its platform: the access the desk last set on it,
// the same columns ExpectedAccess reads (access.go: the client's status and a staff user's hand decide them).
func expectedAccess(a driftAccount) trading.Access {
	return trading.Access{LoginEnabled: a.LoginEnabled, TradingEnabled: a.TradingEnabled}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// driftAccount is an account as the check reads it from the CRM.
type driftAccount struct {
	ID       uuid.UUID
	Login    string
	Currency money.Currency
	Leverage int
	Group    string
	SwapFree bool
	Status   string
	// LoginEnabled, TradingEnabled: the access the desk last set (trading_accounts, as ExpectedAccess reads it).
	LoginEnabled, TradingEnabled bool
	// InFlight: a request for the account is pending (the worker is carrying it to the platform): not checked.
	InFlight bool
	// MoneyComparable: deal sync has read past every done transfer and none is pending.
	MoneyComparable bool
	// CRMMoney is what the CRM's transfers moved (to_account minus to_wallet) plus the differences finance
	// acknowledged; PlatformMoney the platform's balance operations since the opening balance acknowledgement.
	CRMMoney, PlatformMoney int64
	// CreditComparable: deal sync has read past every done credit operation and none is pending. CRMCredit is what
	// the CRM's credit operations booked (credit_in minus credit_out) plus the credit differences finance
	// acknowledged; PlatformCredit the platform's credit deals.
	CreditComparable          bool
	CRMCredit, PlatformCredit int64
}

// driftFinding is one mismatch of a check, and what healing did with it.
type driftFinding struct {
	Kind          DriftKind
	CRM, Platform string
	Difference    *int64
	// Healing is what the desk did in words ("" when not tried); Healed says the platform agrees after it.
	Healing string
	Healed  bool
	Tried   bool
}

// compareSettings lists the settings on which the platform's p differs from the CRM's a, in DriftKinds' order.
func compareSettings(a driftAccount, p trading.Account) []driftFinding {
	var out []driftFinding
	if p.Group != a.Group {
		out = append(out, driftFinding{Kind: DriftGroup, CRM: a.Group, Platform: p.Group})
	}
	if p.Leverage != a.Leverage {
		out = append(out, driftFinding{Kind: DriftLeverage, CRM: "1:" + strconv.Itoa(a.Leverage), Platform: "1:" + strconv.Itoa(p.Leverage)})
	}
	if p.SwapFree != a.SwapFree {
		out = append(out, driftFinding{Kind: DriftSwapFree, CRM: onOff(a.SwapFree), Platform: onOff(p.SwapFree)})
	}
	if want := expectedAccess(a); p.Access != want {
		out = append(out, driftFinding{Kind: DriftAccess, CRM: accessWords(want), Platform: accessWords(p.Access)})
	}
	return out
}

// compareMoney answers the money kinds it could compare for a (balance, credit) and the findings of those that
// differ.
func compareMoney(a driftAccount) (compared []DriftKind, findings []driftFinding) {
	for _, m := range []struct {
		kind          DriftKind
		comparable    bool
		crm, platform int64
	}{{DriftBalance, a.MoneyComparable, a.CRMMoney, a.PlatformMoney}, {DriftCredit, a.CreditComparable, a.CRMCredit, a.PlatformCredit}} {
		if !m.comparable {
			continue
		}
		compared = append(compared, m.kind)
		if m.crm != m.platform {
			diff := m.platform - m.crm
			findings = append(findings, driftFinding{Kind: m.kind, CRM: money.Amount{Minor: m.crm, Currency: a.Currency}.String(),
				Platform: money.Amount{Minor: m.platform, Currency: a.Currency}.String(), Difference: &diff})
		}
	}
	return compared, findings
}

// DriftCheck is one server's last check.
type DriftCheck struct {
	ServerID   uuid.UUID
	ServerName string
	ServerSlug string
	StartedAt  *time.Time
	FinishedAt *time.Time
	Running    bool
	Checked    int
	Skipped    int
	Unread     int
	Outcomes   []DriftOutcome
	Error      string
}

// DriftOutcome counts the drift of one kind that ended one way in a check.
type DriftOutcome struct {
	Kind    DriftKind `json:"kind"`
	Outcome string    `json:"outcome"` // healed, healing failed, for dealing, for finance
	Count   int       `json:"count"`
}

// Summary is the check in one line: "412 accounts checked, 3 drifts: 2 leverage healed, 1 balance for finance".
func (c DriftCheck) Summary() string {
	if c.FinishedAt == nil {
		if c.Running {
			return "The first drift check is running."
		}
		return "Not checked yet."
	}
	if c.Error != "" && c.Checked == 0 {
		return "Not checked: " + c.Error
	}
	s := plural(c.Checked, "account") + " checked"
	n := 0
	var parts []string
	for _, o := range c.Outcomes {
		n += o.Count
		parts = append(parts, strconv.Itoa(o.Count)+" "+o.Kind.Label()+" "+o.Outcome)
	}
	if n == 0 {
		s += ", no drift"
	} else {
		s += ", " + plural(n, "drift") + ": " + strings.Join(parts, ", ")
	}
	if c.Skipped > 0 {
		s += "; " + strconv.Itoa(c.Skipped) + " skipped (a change on its way)"
	}
	if c.Unread > 0 {
		s += "; " + strconv.Itoa(c.Unread) + " not read (" + c.Error + ")"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// outcomeOf is a finding's outcome as the summary counts it.
func outcomeOf(f driftFinding) string {
	switch {
	case f.Kind.Money():
		return "for finance"
	case f.Healed:
		return "healed"
	case f.Tried:
		return "healing failed"
	}
	return "for dealing"
}

// driftTask is the payload of tradingdesk:check-drift: a server, or none for all of the tenant's.
type driftTask struct {
	ServerID uuid.UUID `json:"server_id,omitzero"`
}

// RequestDriftCheck asks the worker to check server slug now ("" every switched-on server), audited.
func (s *Service) RequestDriftCheck(ctx context.Context, t tenants.Tenant, actor audit.Actor, slug string) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		srv, _, err := serverTx(ctx, tx, `slug = $1`, slug)
		if err != nil {
			return err
		}
		if _, err := (jobs.Outbox{}).Add(ctx, tx, TaskCheckDrift, "drift:"+uuid.NewString(), driftTask{ServerID: srv.ID},
			jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(1), jobs.WithTimeout(driftClaim)); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDriftCheckRequested,
			Target: audit.Target{Type: serverTarget, ID: srv.ID.String()}, After: map[string]any{"server": srv.Name}})
	})
}

// handleCheckDrift runs TaskCheckDrift: one server, or every switched-on server of the tenant one after another.
func (s *Service) handleCheckDrift(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p driftTask
	if len(e.Payload) > 0 {
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskCheckDrift, err)
		}
	}
	if p.ServerID != uuid.Nil {
		_, err := s.CheckDrift(ctx, t, p.ServerID)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrServerOff) || errors.Is(err, ErrDriftRunning) {
			return nil
		}
		return err
	}
	return s.CheckDriftAll(ctx, t)
}

// CheckDriftAll checks every switched-on server of t, one after the other.
func (s *Service) CheckDriftAll(ctx context.Context, t tenants.Tenant) error {
	var ids []uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM trading_servers WHERE enabled ORDER BY name`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if _, err := s.CheckDrift(ctx, t, id); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrServerOff) &&
			!errors.Is(err, ErrDriftRunning) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// driftEntry is the periodic check's scheduler entry (per tenant, no retry: the next slot checks again).
func (s *Service) driftEntry() jobs.Entry {
	return jobs.Entry{Name: "tradingdesk-check-drift", Every: s.o.DriftEvery, Type: TaskCheckDrift, Queue: jobs.QueueSync, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(driftClaim)}}
}

// driftRead is what one account's turn of a check found.
type driftRead struct {
	acc      driftAccount
	state    trading.Account // the platform's, after any healing
	err      error
	findings []driftFinding
	compared []DriftKind // the money kinds compared
}

// CheckDrift checks the accounts of server id of t against the platform (see the top of this file), heals
// settings drift where the brokerage allows it, records the items, the accounts' live state and the server's
// summary, and answers the summary. ErrNotFound when t has no such server, ErrServerOff when it is switched off,
// ErrDriftRunning when another check of it runs.
func (s *Service) CheckDrift(ctx context.Context, t tenants.Tenant, id uuid.UUID) (DriftCheck, error) {
	var tg Target
	var heal bool
	var accounts []driftAccount
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if tg, err = s.targetTx(ctx, tx, t, id); err != nil {
			return err
		}
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		heal = st.HealSettings
		accounts, err = driftAccountsTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return DriftCheck{}, err
	}
	if !tg.Server.Enabled {
		return DriftCheck{}, ErrServerOff
	}
	started := s.o.Now().UTC()
	if err := s.claimDrift(ctx, t, id); err != nil {
		return DriftCheck{}, err
	}
	reads := s.readDrift(ctx, tg, accounts, heal)
	out, err := s.recordDrift(ctx, t, tg.Server, started, reads)
	if err != nil {
		s.releaseDrift(ctx, t, id)
	}
	return out, err
}

// driftAccountsTx reads the accounts of server a check compares, with the CRM's side of their money. Closed
// accounts are not checked; accounts with a request in flight are read with InFlight set (skipped).
func driftAccountsTx(ctx context.Context, tx pgx.Tx, server uuid.UUID) ([]driftAccount, error) {
	rows, err := tx.Query(ctx, `SELECT a.id, a.login, a.currency, a.leverage, a.group_name, a.swap_free, a.status,
			a.login_enabled, a.trading_enabled,
			EXISTS (SELECT 1 FROM trading_requests r WHERE r.account_id = a.id AND r.status = 'pending'),
			c.synced_to IS NOT NULL AND NOT coalesce(x.pending, false) AND (x.last_done IS NULL OR x.last_done < c.synced_to - make_interval(secs => $2)),
			coalesce(x.moved, 0)::bigint + coalesce(ack.acknowledged, 0)::bigint, ops.amount,
			c.synced_to IS NOT NULL AND NOT coalesce(cr.pending, false) AND (cr.last_done IS NULL OR cr.last_done < c.synced_to - make_interval(secs => $2)),
			coalesce(cr.moved, 0)::bigint + coalesce(ack.credit, 0)::bigint, cops.amount
		FROM trading_accounts a
		LEFT JOIN trading_deal_cursors c ON c.server_id = a.server_id AND c.login = a.login
		LEFT JOIN LATERAL (SELECT sum(CASE WHEN direction = 'to_account' THEN amount ELSE -amount END) FILTER (WHERE status = 'done') AS moved,
				bool_or(status = 'pending') AS pending, max(finished_at) FILTER (WHERE status = 'done') AS last_done
			FROM trading_transfers WHERE account_id = a.id) x ON true
		LEFT JOIN LATERAL (SELECT coalesce(sum(cr.moved) FILTER (WHERE cr.kind = 'credit_in' AND cr.status = 'done'), 0)
				- coalesce(sum(cr.moved) FILTER (WHERE cr.kind = 'credit_out' AND cr.status = 'done'), 0) AS moved,
				bool_or(cr.status = 'pending') AS pending, max(cr.finished_at) FILTER (WHERE cr.status = 'done') AS last_done
			FROM trading_credits cr WHERE cr.account_id = a.id) cr ON true
		LEFT JOIN LATERAL (SELECT sum(difference) FILTER (WHERE kind = 'balance') AS acknowledged, sum(difference) FILTER (WHERE kind = 'credit') AS credit
			FROM trading_drift_items WHERE account_id = a.id AND kind IN ('balance', 'credit') AND status = 'resolved') ack ON true
		LEFT JOIN LATERAL (SELECT sum(d.profit) AS amount FROM trading_deals d
			WHERE d.server_id = a.server_id AND d.login = a.login AND d.action = 'balance' AND d.cancelled_at IS NULL
				AND d.time >= coalesce(a.opening_balance_at, '-infinity') AND d.time < c.synced_to) ops ON true
		LEFT JOIN LATERAL (SELECT sum(d.profit) AS amount FROM trading_deals d
			WHERE d.server_id = a.server_id AND d.login = a.login AND d.action = 'credit' AND d.cancelled_at IS NULL AND d.time < c.synced_to) cops ON true
		WHERE a.server_id = $1 AND a.status <> 'closed'
		ORDER BY a.login`, server, driftSettle.Seconds())
	if err != nil {
		return nil, fmt.Errorf("tradingdesk: the accounts to check: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (driftAccount, error) {
		var a driftAccount
		var cur string
		var ops, cops pgtype.Numeric
		if err := row.Scan(&a.ID, &a.Login, &cur, &a.Leverage, &a.Group, &a.SwapFree, &a.Status, &a.LoginEnabled, &a.TradingEnabled, &a.InFlight, &a.MoneyComparable,
			&a.CRMMoney, &ops, &a.CreditComparable, &a.CRMCredit, &cops); err != nil {
			return a, err
		}
		c, err := currencyOf(cur)
		if err != nil {
			return a, err
		}
		a.Currency = c
		if ops.Valid && ops.Int != nil {
			a.PlatformMoney = toMinor(decimal.NewFromBigInt(ops.Int, ops.Exp), c)
		}
		if cops.Valid && cops.Int != nil {
			a.PlatformCredit = toMinor(decimal.NewFromBigInt(cops.Int, cops.Exp), c)
		}
		return a, nil
	})
}

// claimDrift claims server for one check (trading_drift_checks.running_until).
func (s *Service) claimDrift(ctx context.Context, t tenants.Tenant, server uuid.UUID) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO trading_drift_checks (server_id, running_until) VALUES ($1, now() + make_interval(secs => $2))
			ON CONFLICT (server_id) DO UPDATE SET running_until = excluded.running_until
			WHERE trading_drift_checks.running_until IS NULL OR trading_drift_checks.running_until < now()`, server, driftClaim.Seconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrDriftRunning
		}
		return nil
	})
}

func (s *Service) releaseDrift(ctx context.Context, t tenants.Tenant, server uuid.UUID) {
	_ = s.o.Gate.Scope(context.WithoutCancel(ctx), t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE trading_drift_checks SET running_until = NULL WHERE server_id = $1`, server)
		return err
	})
}

// readDrift reads and compares every account not in flight, DriftParallel at once through the server's shared
// session, healing settings drift when heal is set.
func (s *Service) readDrift(ctx context.Context, tg Target, accounts []driftAccount, heal bool) []driftRead {
	reads := make([]driftRead, len(accounts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(s.o.DriftParallel, len(accounts)) {
		wg.Go(func() {
			for i := range next {
				reads[i] = s.readOne(ctx, tg, accounts[i], heal)
			}
		})
	}
	for i := range accounts {
		if !accounts[i].InFlight {
			next <- i
		} else {
			reads[i] = driftRead{acc: accounts[i]}
		}
	}
	close(next)
	wg.Wait()
	return reads
}

// readOne is one account's turn: read it, compare, heal what may be healed, read it again.
func (s *Service) readOne(ctx context.Context, tg Target, a driftAccount, heal bool) driftRead {
	r := driftRead{acc: a}
	// One account's turn is bounded like a connection check: a platform that hangs on one account must not hold
	// the whole check (its read counts as not read).
	ctx, cancel := context.WithTimeout(ctx, s.o.CheckTimeout)
	defer cancel()
	r.err = s.sessions.Use(ctx, tg, false, func(c trading.Connector) error {
		p, err := c.Account(ctx, a.Login)
		if err != nil {
			return err
		}
		r.state = p
		r.findings = compareSettings(a, p)
		if heal && len(r.findings) > 0 {
			r.state = s.heal(ctx, c, a, p, r.findings)
		}
		return nil
	})
	if r.err != nil {
		return r
	}
	var money []driftFinding
	r.compared, money = compareMoney(a)
	r.findings = append(r.findings, money...)
	return r
}

// heal pushes the CRM's settings back where findings say the platform differs, in DriftKinds' order (a group move
// may carry swap-free, and on some platforms leverage, with it, so what still differs is read again after it), and
// answers the platform's state after. Each finding says what was done.
func (s *Service) heal(ctx context.Context, c trading.Connector, a driftAccount, p trading.Account, findings []driftFinding) trading.Account {
	errs := map[DriftKind]error{}
	differs := func(k DriftKind) bool {
		return slices.ContainsFunc(compareSettings(a, p), func(f driftFinding) bool { return f.Kind == k })
	}
	for _, k := range []DriftKind{DriftGroup, DriftLeverage, DriftSwapFree, DriftAccess} {
		if !slices.ContainsFunc(findings, func(f driftFinding) bool { return f.Kind == k }) || !differs(k) {
			continue
		}
		var err error
		switch k {
		case DriftGroup:
			err = c.MoveGroup(ctx, a.Login, a.Group)
		case DriftLeverage:
			err = c.SetLeverage(ctx, a.Login, a.Leverage)
		case DriftSwapFree:
			err = c.SetSwapFree(ctx, a.Login, a.SwapFree)
		case DriftAccess:
			err = c.SetAccess(ctx, a.Login, expectedAccess(a))
		}
		errs[k] = err
		if now, rerr := c.Account(ctx, a.Login); rerr == nil {
			p = now
		}
	}
	left := compareSettings(a, p)
	for i := range findings {
		f := &findings[i]
		f.Tried = true
		if !slices.ContainsFunc(left, func(l driftFinding) bool { return l.Kind == f.Kind }) {
			f.Healed, f.Healing = true, "BrokerDesk set it back to "+f.CRM
			continue
		}
		why := "the platform still differs after it"
		if err := errs[f.Kind]; err != nil {
			why = failureText(err)
		}
		f.Healing = "BrokerDesk could not set it back to " + f.CRM + ": " + why
	}
	return p
}

// openItem is an open item as recordDrift finds it.
type openItem struct {
	id                     uuid.UUID
	crm, platform, healing string
	difference             *int64
}

type itemKey struct {
	account uuid.UUID
	kind    DriftKind
}

// recordDrift writes a check's findings in one transaction: the accounts' live state, new and seen-again items,
// healed ones, items whose accounts agree again (gone), the audit trail, and the server's summary.
func (s *Service) recordDrift(ctx context.Context, t tenants.Tenant, srv Server, started time.Time, reads []driftRead) (DriftCheck, error) {
	out := DriftCheck{ServerID: srv.ID, ServerName: srv.Name, ServerSlug: srv.Slug, StartedAt: &started}
	var st stateRows
	counts := map[[2]string]int{}
	var lastErr string
	for _, r := range reads {
		switch {
		case r.acc.InFlight:
			out.Skipped++
			continue
		case r.err != nil:
			out.Unread++
			lastErr = failureText(r.err)
			continue
		}
		out.Checked++
		st.add(r.acc, r.state)
		for _, f := range r.findings {
			counts[[2]string{string(f.Kind), outcomeOf(f)}]++
		}
	}
	for _, k := range DriftKinds {
		for _, o := range []string{"healed", "healing failed", "for dealing", "for finance"} {
			if n := counts[[2]string{string(k), o}]; n > 0 {
				out.Outcomes = append(out.Outcomes, DriftOutcome{Kind: k, Outcome: o, Count: n})
			}
		}
	}
	if out.Unread > 0 {
		out.Error = lastErr
	}
	var found []DriftItem // newly found, for the log
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		now := s.o.Now().UTC()
		if err := st.write(ctx, tx, now); err != nil {
			return err
		}
		open := map[itemKey]openItem{}
		rows, err := tx.Query(ctx, `SELECT id, account_id, kind, crm_value, platform_value, healing, difference FROM trading_drift_items
			WHERE server_id = $1 AND status = 'open' FOR UPDATE`, srv.ID)
		if err != nil {
			return err
		}
		var it openItem
		var key itemKey
		if _, err := pgx.ForEachRow(rows, []any{&it.id, &key.account, &key.kind, &it.crm, &it.platform, &it.healing, &it.difference}, func() error {
			open[key] = it
			return nil
		}); err != nil {
			return err
		}
		for _, r := range reads {
			if r.acc.InFlight || r.err != nil {
				continue
			}
			seen := map[DriftKind]bool{}
			for _, f := range r.findings {
				seen[f.Kind] = true
				item, isNew, err := s.writeFinding(ctx, tx, srv, r.acc, f, open[itemKey{r.acc.ID, f.Kind}], now)
				if err != nil {
					return err
				}
				if isNew {
					found = append(found, item)
				}
			}
			for _, k := range DriftKinds {
				prev, ok := open[itemKey{r.acc.ID, k}]
				if !ok || seen[k] || (k.Money() && !slices.Contains(r.compared, k)) {
					continue
				}
				if err := s.goneTx(ctx, tx, srv, r.acc, k, prev, now); err != nil {
					return err
				}
			}
		}
		outcomes, _ := json.Marshal(out.Outcomes)
		if out.Outcomes == nil {
			outcomes = []byte("[]")
		}
		return tx.QueryRow(ctx, `INSERT INTO trading_drift_checks (server_id, running_until, started_at, finished_at, checked, skipped, unread, outcomes, error)
			VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (server_id) DO UPDATE SET running_until = NULL, started_at = $2, finished_at = $3, checked = $4, skipped = $5, unread = $6,
				outcomes = $7, error = $8 RETURNING finished_at`,
			srv.ID, started, now, out.Checked, out.Skipped, out.Unread, outcomes, out.Error).Scan(&out.FinishedAt)
	})
	if err != nil {
		return out, fmt.Errorf("tradingdesk: record the drift check of %s: %w", srv.Slug, err)
	}
	log := s.o.Log.With("server", srv.Slug)
	ctx = tenants.WithTenant(ctx, t)
	for _, f := range found {
		log.WarnContext(ctx, "trading account drift", "login", f.Login, "kind", string(f.Kind), "crm", f.CRMValue, "platform", f.PlatformValue,
			"status", string(f.Status), "owner", f.Owner)
	}
	log.InfoContext(ctx, "drift check", "summary", out.Summary())
	return out, nil
}

// writeFinding records one finding: an open item seen again (its values and last_seen_at moved), an open item
// healed, or a new item (open, or healed at once). It audits what changed and answers the item and whether it is
// new.
func (s *Service) writeFinding(ctx context.Context, tx pgx.Tx, srv Server, a driftAccount, f driftFinding, prev openItem, now time.Time) (DriftItem, bool, error) {
	item := DriftItem{AccountID: a.ID, Login: a.Login, ServerID: srv.ID, ServerName: srv.Name, Kind: f.Kind, CRMValue: f.CRM, PlatformValue: f.Platform,
		Owner: ownerOf(f.Kind), Status: DriftOpen, Healing: f.Healing, FirstSeen: now, LastSeen: now}
	if f.Healed {
		item.Status, item.ClosedAt = DriftHealed, &now
	}
	isNew := prev.id == uuid.Nil
	if isNew {
		item.ID = uuid.Must(uuid.NewV7())
		if _, err := tx.Exec(ctx, `INSERT INTO trading_drift_items (id, account_id, server_id, kind, crm_value, platform_value, difference, owner,
			status, healing, first_seen_at, last_seen_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)`,
			item.ID, a.ID, srv.ID, string(f.Kind), f.CRM, f.Platform, f.Difference, item.Owner, string(item.Status), f.Healing, now, item.ClosedAt); err != nil {
			return item, false, fmt.Errorf("tradingdesk: record drift: %w", err)
		}
		if err := s.auditDrift(ctx, tx, ActionDriftFound, srv, a, f, item.ID); err != nil {
			return item, false, err
		}
	} else {
		item.ID = prev.id
		if _, err := tx.Exec(ctx, `UPDATE trading_drift_items SET crm_value = $2, platform_value = $3, difference = $4, healing = $5, last_seen_at = $6,
			status = $7, closed_at = $8 WHERE id = $1`, prev.id, f.CRM, f.Platform, f.Difference, f.Healing, now, string(item.Status), item.ClosedAt); err != nil {
			return item, false, fmt.Errorf("tradingdesk: record drift: %w", err)
		}
	}
	switch {
	case f.Healed:
		return item, isNew, s.auditDrift(ctx, tx, ActionDriftHealed, srv, a, f, item.ID)
	case f.Tried && (isNew || prev.healing != f.Healing || prev.platform != f.Platform):
		// A healing that keeps failing the same way is audited once, not every check.
		return item, isNew, s.auditDrift(ctx, tx, ActionDriftHealFailed, srv, a, f, item.ID)
	}
	return item, isNew, nil
}

// goneTx closes an open item whose account agrees with the CRM again, without the desk's healing.
func (s *Service) goneTx(ctx context.Context, tx pgx.Tx, srv Server, a driftAccount, k DriftKind, prev openItem, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE trading_drift_items SET status = 'gone', closed_at = $2, last_seen_at = $2 WHERE id = $1`, prev.id, now); err != nil {
		return err
	}
	return s.auditDrift(ctx, tx, ActionDriftGone, srv, a, driftFinding{Kind: k, CRM: prev.crm, Platform: prev.platform, Difference: prev.difference}, prev.id)
}

func (s *Service) auditDrift(ctx context.Context, tx pgx.Tx, action string, srv Server, a driftAccount, f driftFinding, id uuid.UUID) error {
	after := map[string]any{"login": a.Login, "server": srv.Name, "kind": f.Kind, "label": f.Kind.Label(), "crm": f.CRM, "platform": f.Platform,
		"owner": ownerOf(f.Kind)}
	if f.Healing != "" {
		after["healing"] = f.Healing
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: action, Target: audit.Target{Type: driftTarget, ID: id.String()}, After: after})
}

// stateRows are the accounts' live state as a check read it, written in one statement.
type stateRows struct {
	ids                   []uuid.UUID
	balance, equity       []int64
	group                 []string
	leverage              []int32
	swapFree, login, trad []bool
}

func (r *stateRows) add(a driftAccount, p trading.Account) {
	r.ids = append(r.ids, a.ID)
	r.balance = append(r.balance, toMinor(p.Balance, a.Currency))
	r.equity = append(r.equity, toMinor(p.Equity, a.Currency))
	r.group = append(r.group, p.Group)
	r.leverage = append(r.leverage, int32(p.Leverage))
	r.swapFree = append(r.swapFree, p.SwapFree)
	r.login = append(r.login, p.Access.LoginEnabled)
	r.trad = append(r.trad, p.Access.TradingEnabled)
}

func (r *stateRows) write(ctx context.Context, tx pgx.Tx, now time.Time) error {
	if len(r.ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE trading_accounts t SET balance = v.balance, equity = v.equity, state_at = $9, platform_group = v.grp,
			platform_leverage = v.lev, platform_swap_free = v.sf, platform_login_enabled = v.login, platform_trading_enabled = v.trade
		FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::int[], $6::bool[], $7::bool[], $8::bool[])
			AS v(id, balance, equity, grp, lev, sf, login, trade)
		WHERE t.id = v.id`, r.ids, r.balance, r.equity, r.group, r.leverage, r.swapFree, r.login, r.trad, now)
	if err != nil {
		return fmt.Errorf("tradingdesk: record the accounts' state: %w", err)
	}
	return nil
}

// DriftFilter narrows the drift items list.
type DriftFilter struct {
	Server  string      // slug; "" any
	Kind    DriftKind   // "" any
	Status  DriftStatus // "" any
	Account uuid.UUID   // uuid.Nil any
	Client  uuid.UUID   // uuid.Nil any
	Limit   int         // default and most 500
}

const driftSelect = `SELECT d.id, d.account_id, t.client_id, c.first_name || ' ' || c.last_name, t.login, d.server_id, s.name, s.slug, d.kind,
	d.crm_value, d.platform_value, d.difference, t.currency, d.owner, d.status, d.healing, d.first_seen_at, d.last_seen_at, d.closed_at,
	coalesce(d.resolved_by, ''), d.resolution_note
	FROM trading_drift_items d JOIN trading_accounts t ON t.id = d.account_id JOIN trading_servers s ON s.id = d.server_id
	JOIN clients c ON c.id = t.client_id`

func scanDrift(rows pgx.Rows) ([]DriftItem, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (DriftItem, error) {
		var d DriftItem
		var diff *int64
		var cur string
		if err := row.Scan(&d.ID, &d.AccountID, &d.ClientID, &d.ClientName, &d.Login, &d.ServerID, &d.ServerName, &d.ServerSlug, &d.Kind,
			&d.CRMValue, &d.PlatformValue, &diff, &cur, &d.Owner, &d.Status, &d.Healing, &d.FirstSeen, &d.LastSeen, &d.ClosedAt,
			&d.ResolvedBy, &d.Note); err != nil {
			return d, err
		}
		if diff != nil {
			c, err := currencyOf(cur)
			if err != nil {
				return d, err
			}
			d.Difference = &money.Amount{Minor: *diff, Currency: c}
		}
		return d, nil
	})
}

// DriftItems lists drift items, open ones first, then the most recently seen.
func (s *Service) DriftItems(ctx context.Context, t tenants.Tenant, f DriftFilter) ([]DriftItem, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	var out []DriftItem
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, driftSelect+` WHERE ($1 = '' OR s.slug = $1) AND ($2 = '' OR d.kind = $2) AND ($3 = '' OR d.status = $3)
			AND ($4::uuid IS NULL OR d.account_id = $4) AND ($5::uuid IS NULL OR t.client_id = $5)
			ORDER BY d.status = 'open' DESC, d.last_seen_at DESC, d.id LIMIT $6`,
			f.Server, string(f.Kind), string(f.Status), nullID(f.Account), nullID(f.Client), f.Limit)
		if err != nil {
			return err
		}
		out, err = scanDrift(rows)
		return err
	})
	return out, err
}

// DriftItem reads one drift item (ErrNotFound for another tenant's or none).
func (s *Service) DriftItem(ctx context.Context, t tenants.Tenant, id uuid.UUID) (DriftItem, error) {
	var out DriftItem
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = oneTx(ctx, tx, "drift item", driftSelect+` WHERE d.id = $1`, scanDrift, id)
		return err
	})
	return out, err
}

// Errors of resolving drift.
var (
	// ErrNotMoney: only money drift (balance, credit) is resolved by hand; settings drift is healed, or goes when the
	// platform agrees.
	ErrNotMoney = errors.New("tradingdesk: only balance and credit drift are resolved by hand")
	// ErrNotOpen: the item is no longer open.
	ErrNotOpen = errors.New("tradingdesk: the drift item is no longer open")
)

// maxNote bounds a resolution's note.
const maxNote = 1000

// ResolveDrift marks an open money item (balance, credit) resolved with the staff member's note, audited: finance
// explained the difference, which later checks count on the CRM's side (acknowledged), so only a new difference
// opens a new item. A difference corrected on the platform or in the CRM needs no resolving: its item goes at the
// next check.
func (s *Service) ResolveDrift(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, note string) (DriftItem, error) {
	note = strings.TrimSpace(note)
	if note == "" || len([]rune(note)) > maxNote {
		return DriftItem{}, validation.New("note", fmt.Sprintf("say what explains the difference (at most %d characters)", maxNote))
	}
	var out DriftItem
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var kind DriftKind
		var status DriftStatus
		err := tx.QueryRow(ctx, `SELECT kind, status FROM trading_drift_items WHERE id = $1 FOR UPDATE`, id).Scan(&kind, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !kind.Money() {
			return ErrNotMoney
		}
		if status != DriftOpen {
			return ErrNotOpen
		}
		if _, err := tx.Exec(ctx, `UPDATE trading_drift_items SET status = 'resolved', closed_at = now(), resolved_by = $2, resolution_note = $3
			WHERE id = $1`, id, string(actor.Kind)+":"+actor.ID, note); err != nil {
			return err
		}
		if out, err = oneTx(ctx, tx, "drift item", driftSelect+` WHERE d.id = $1`, scanDrift, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDriftResolved, Target: audit.Target{Type: driftTarget, ID: id.String()},
			Before: map[string]any{"status": DriftOpen}, After: map[string]any{"status": DriftResolved, "login": out.Login, "server": out.ServerName,
				"kind": out.Kind, "label": out.Kind.Label(), "crm": out.CRMValue, "platform": out.PlatformValue, "note": note}})
	})
	return out, err
}

// DriftChecks is every server's last check, by server name (servers never checked included).
func (s *Service) DriftChecks(ctx context.Context, t tenants.Tenant) ([]DriftCheck, error) {
	var out []DriftCheck
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s.id, s.name, s.slug, c.started_at, c.finished_at, coalesce(c.running_until > now(), false),
				coalesce(c.checked, 0), coalesce(c.skipped, 0), coalesce(c.unread, 0), coalesce(c.outcomes, '[]'), coalesce(c.error, '')
			FROM trading_servers s LEFT JOIN trading_drift_checks c ON c.server_id = s.id WHERE s.enabled ORDER BY s.name`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (DriftCheck, error) {
			var c DriftCheck
			var outcomes []byte
			if err := row.Scan(&c.ServerID, &c.ServerName, &c.ServerSlug, &c.StartedAt, &c.FinishedAt, &c.Running, &c.Checked, &c.Skipped, &c.Unread,
				&outcomes, &c.Error); err != nil {
				return c, err
			}
			return c, json.Unmarshal(outcomes, &c.Outcomes)
		})
		return err
	})
	return out, err
}

// DriftCounts counts the open drift items by owner (the dashboard's tile).
func (s *Service) DriftCounts(ctx context.Context, t tenants.Tenant) (map[string]int, error) {
	out := map[string]int{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT owner, count(*) FROM trading_drift_items WHERE status = 'open' GROUP BY owner`)
		if err != nil {
			return err
		}
		var owner string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&owner, &n}, func() error { out[owner] = n; return nil })
		return err
	})
	return out, err
}

// Faults changes an account on the platform behind the CRM's back, as a dealer working in the platform's own
// manager terminal would: `make run` gives the desk the built-in simulator's (simulator.Faults), so the drift page
// can make drift on demand. Nothing in production sets it.
type Faults interface {
	// LeverageByHand sets the account's leverage on the platform.
	LeverageByHand(login string, leverage int) error
	// BalanceByHand makes a balance operation on the platform that no transfer of the CRM made (a positive amount
	// deposits, a negative one withdraws).
	BalanceByHand(login string, amount decimal.Decimal, comment string) error
	// CreditByHand gives (a positive amount) or takes (a negative one) credit on the platform that no credit
	// operation of the CRM booked.
	CreditByHand(login string, amount decimal.Decimal, comment string) error
}
