package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Changes pushed to the platform (docs/trading/desk.md "Changes"): a leverage change, swap-free on or off, login and
// trading on or off (access.go), a new main or investor password. Each is a request of trading_requests, like an
// opening:
//
//   - validated and recorded in one transaction with its task (TaskChange, keyed by the request) in the outbox, or
//     recorded awaiting_approval with no task when the desk's rules ask a back-office user first (Decide queues it
//     on approval; a rejection ends it with a reason the client reads);
//   - carried by the worker through the server's shared session, claimed like an opening so two runs never call the
//     platform at once; every call is absolute (set leverage 1:200, swap-free on, this access), so a run after a lost
//     answer asks the same again and the platform's state is the same; a request no longer pending is left alone,
//     so a redelivered task calls nothing;
//   - recorded on trading_accounts only once the platform said done (the leverage, and the group the platform
//     moved the account to, read back from it), then audited;
//   - failed with the platform's reason when it refuses, or at the last attempt.
//
// One leverage and one swap-free change may be in flight per account (a unique index): a second would race the
// first on the platform. A currency change is never a request: every platform we connect fixes an account's
// currency (Capabilities.CurrencyFixed), so ChangeCurrency answers why and which account to open instead.

// TaskChange carries a change request to its platform (through the outbox, queue sync, keyed by the request).
const TaskChange = "tradingdesk:change"

type changeTask struct {
	RequestID uuid.UUID `json:"request_id"`
}

const changeRetries = 8

// Audit actions of changes.
const (
	ActionChangeRequested     = "trading.change_requested"
	ActionChangeApproved      = "trading.change_approved"
	ActionChangeRejected      = "trading.change_rejected"
	ActionChangeDone          = "trading.change_done"
	ActionChangeFailed        = "trading.change_failed"
	ActionDeskSettingsSaved   = "trading.desk_settings_saved"
	ActionAccountAccessByHand = "trading.account_access_set"
	deskSettingsTarget        = "trading_desk_settings"
)

// Errors of changes.
var (
	// ErrInProgress: a change of this kind is already waiting or in flight for the account.
	ErrInProgress = errors.New("tradingdesk: a change of this kind is already in progress for this account")
	// ErrNotAwaiting: the request is not waiting for approval (decided already, or never needed it).
	ErrNotAwaiting = errors.New("tradingdesk: the request is not waiting for approval")
)

// CurrencyFixedError refuses a currency change: the platform fixes an account's currency when it opens. Offer is
// the account type a new account in the wanted currency can be opened with ("" when none is open to the client).
type CurrencyFixedError struct {
	Login, From, To string
	OfferSlug       string
	OfferName       string
	// Unsaid: the server's capabilities are not known yet (never checked), or do not say the currency is fixed;
	// the desk has no way to change it either way (the connector interface has no such call).
	Unsaid bool
}

func (e *CurrencyFixedError) Error() string {
	why := "the trading server fixes an account's currency when the account is opened"
	if e.Unsaid {
		why = "an account's currency cannot be changed on its trading server"
	}
	s := fmt.Sprintf("Account %s stays in %s: %s, so it cannot change to %s.", e.Login, e.From, why, e.To)
	if e.OfferSlug != "" {
		return s + fmt.Sprintf(" Open a new %s account in %s instead (POST /api/v1/portal/trading/accounts with type %q and currency %q), then move money to it.",
			e.OfferName, e.To, e.OfferSlug, e.To)
	}
	return s + fmt.Sprintf(" No account type in %s is open to you now: contact support.", e.To)
}

// DeskSettings are the brokerage's rules for changes (trading_desk_settings).
type DeskSettings struct {
	// LeverageApprovalAbove: a leverage change above 1:N waits for a back-office approval (0: none waits).
	LeverageApprovalAbove int
	// TierMaxLeverage caps the leverage of a client tier's accounts (opening and changes); a tier not named has
	// its account types' leverages. The onboarding settings' tiers (clients.Settings) have no leverage of their
	// own, so the desk keeps it.
	TierMaxLeverage map[string]int
	// SwapFreeApproval: swap-free on or off waits for a back-office approval (the default).
	SwapFreeApproval bool
	// HealSettings: settings drift (group, leverage, swap-free, access) is healed automatically, the CRM's value
	// pushed back to the platform (the default). Money drift is never healed (drift.go).
	HealSettings bool
	UpdatedAt    *time.Time
}

// DefaultDeskSettings are a brokerage's rules until an admin changes them: swap-free waits for approval, leverage
// changes within the type's leverages do not.
func DefaultDeskSettings() DeskSettings {
	return DeskSettings{TierMaxLeverage: map[string]int{}, SwapFreeApproval: true, HealSettings: true}
}

func deskSettingsTx(ctx context.Context, tx pgx.Tx) (DeskSettings, error) {
	out := DefaultDeskSettings()
	var above *int
	var tiers []byte
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT leverage_approval_above, tier_max_leverage, swap_free_approval, heal_settings, updated_at
		FROM trading_desk_settings`).Scan(&above, &tiers, &out.SwapFreeApproval, &out.HealSettings, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("tradingdesk: read the desk's settings: %w", err)
	}
	if above != nil {
		out.LeverageApprovalAbove = *above
	}
	out.UpdatedAt = &at
	return out, json.Unmarshal(tiers, &out.TierMaxLeverage)
}

// DeskSettings reads the brokerage's rules for changes.
func (s *Service) DeskSettings(ctx context.Context, t tenants.Tenant) (DeskSettings, error) {
	var out DeskSettings
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = deskSettingsTx(ctx, tx)
		return err
	})
	return out, err
}

// SaveDeskSettings replaces the brokerage's rules for changes, audited; each bad field is named
// (leverage_approval_above, tier_max_leverage.<tier>).
func (s *Service) SaveDeskSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, in DeskSettings) (DeskSettings, error) {
	cs, err := s.o.Clients.Settings(ctx, t)
	if err != nil {
		return DeskSettings{}, err
	}
	var f validation.Fields
	f.Check(in.LeverageApprovalAbove >= 0 && in.LeverageApprovalAbove <= MaxLeverage, "leverage_approval_above",
		fmt.Sprintf("a leverage from 1 to %d (1:N), or 0 for none", MaxLeverage))
	if in.TierMaxLeverage == nil {
		in.TierMaxLeverage = map[string]int{}
	}
	for tier, lev := range in.TierMaxLeverage {
		known := slices.ContainsFunc(cs.Tiers, func(x clients.Tier) bool { return x.Name == tier })
		f.Check(known, "tier_max_leverage."+tier, "not one of the brokerage's client tiers")
		f.Check(lev >= 1 && lev <= MaxLeverage, "tier_max_leverage."+tier, fmt.Sprintf("a leverage from 1 to %d (1:N)", MaxLeverage))
	}
	if err := f.Err(); err != nil {
		return DeskSettings{}, err
	}
	var out DeskSettings
	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		var above *int
		if in.LeverageApprovalAbove > 0 {
			above = &in.LeverageApprovalAbove
		}
		tiers, err := json.Marshal(in.TierMaxLeverage)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO trading_desk_settings (id, leverage_approval_above, tier_max_leverage, swap_free_approval, heal_settings)
			VALUES (true, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET leverage_approval_above = excluded.leverage_approval_above,
			tier_max_leverage = excluded.tier_max_leverage, swap_free_approval = excluded.swap_free_approval,
			heal_settings = excluded.heal_settings, updated_at = now()`,
			above, tiers, in.SwapFreeApproval, in.HealSettings); err != nil {
			return err
		}
		if out, err = deskSettingsTx(ctx, tx); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDeskSettingsSaved,
			Target: audit.Target{Type: deskSettingsTarget, ID: "desk"}, Before: deskSettingsView(before), After: deskSettingsView(out)})
	})
	return out, err
}

func deskSettingsView(d DeskSettings) map[string]any {
	return map[string]any{"leverage_approval_above": d.LeverageApprovalAbove, "tier_max_leverage": d.TierMaxLeverage,
		"swap_free_approval": d.SwapFreeApproval, "heal_settings": d.HealSettings}
}

// changeAccountTx reads account id, locked for the change, when it is the client's (any client's with client
// uuid.Nil): ErrNoSuchAccount otherwise.
func changeAccountTx(ctx context.Context, tx pgx.Tx, client, id uuid.UUID) (Account, error) {
	a, err := oneTx(ctx, tx, "account", accountSelect+` WHERE t.id = $1 AND ($2::uuid IS NULL OR t.client_id = $2) FOR UPDATE OF t`,
		scanAccounts, id, nullID(client))
	if errors.Is(err, ErrNotFound) {
		return a, ErrNoSuchAccount
	}
	return a, err
}

// changeSpec is a change to record.
type changeSpec struct {
	kind     RequestKind
	leverage int
	group    string
	swapFree bool
	password trading.PasswordKind
	reason   string
	approval bool // wait for a back-office user
	by       string
	actor    audit.Actor
	summary  string // what is asked, for the trail ("asked for ..."): "leverage 1:200 on account 700001 (it has 1:100)"
}

// recordChangeTx records the change of account a and queues its task (unless it waits for approval), audited as
// asked by sp.actor.
func (s *Service) recordChangeTx(ctx context.Context, tx pgx.Tx, a Account, sp changeSpec) (Request, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Request{}, err
	}
	status := RequestPending
	if sp.approval {
		status = RequestAwaitingApproval
	}
	var pk *string
	if sp.password != "" {
		v := string(sp.password)
		pk = &v
	}
	if _, err := tx.Exec(ctx, `INSERT INTO trading_requests (id, kind, client_id, server_id, account_type_id, account_id, currency, leverage,
		group_name, swap_free, login, status, password_kind, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		id, string(sp.kind), a.ClientID, a.ServerID, a.TypeID, a.ID, a.Currency.Code, sp.leverage, sp.group, sp.swapFree, a.Login, string(status),
		pk, sp.reason, sp.by); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return Request{}, ErrInProgress
		}
		return Request{}, fmt.Errorf("tradingdesk: record the change: %w", err)
	}
	if !sp.approval {
		if err := s.queueChangeTx(ctx, tx, id); err != nil {
			return Request{}, err
		}
	}
	r, err := requestTx(ctx, tx, `r.id = $1`, id)
	if err != nil {
		return r, err
	}
	return r, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: sp.actor, Action: ActionChangeRequested,
		Target: audit.Target{Type: requestTarget, ID: id.String()}, After: changeView(r, sp.summary)})
}

func (s *Service) queueChangeTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := (jobs.Outbox{}).Add(ctx, tx, TaskChange, "change:"+id.String(), changeTask{RequestID: id},
		jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(changeRetries), jobs.WithTimeout(2*s.o.CheckTimeout))
	return err
}

// changeView is a change in the trail.
func changeView(r Request, summary string) map[string]any {
	return map[string]any{"kind": r.Kind, "summary": summary, "login": r.Login, "client": r.ClientName, "status": r.Status,
		"awaiting_approval": r.Status == RequestAwaitingApproval, "reason": r.Reason}
}

// Summary is what a change asks, in words: "leverage 1:200", "swap-free on", "a new investor password",
// "login and trading disabled".
func (r Request) Summary() string {
	switch r.Kind {
	case KindSetLeverage:
		return "leverage 1:" + strconv.Itoa(r.Leverage)
	case KindSetSwapFree:
		if r.SwapFree {
			return "swap-free on"
		}
		return "swap-free off"
	case KindResetPassword:
		if r.PasswordKind == trading.PasswordInvestor {
			return "a new investor (read-only) password"
		}
		return "a new main password"
	case KindSetAccess:
		// What is applied is decided when the worker runs (access.go); why is staff's to read (Reason).
		if r.Status != RequestDone {
			return "login and trading access"
		}
		return accessWords(r.Access)
	}
	return fmt.Sprintf("a %s account: %s, %s, 1:%d", strings.ToLower(kindWord(r.Live)), r.TypeName, r.Currency, r.Leverage)
}

// SummaryOn is Summary with the account, as the trail says it: "leverage 1:200 on account 700001", "swap-free on
// account 700001", "the end of swap-free on account 700001", "a new main password of account 700001".
func (r Request) SummaryOn() string {
	switch {
	case r.Kind == KindSetSwapFree && r.SwapFree:
		return "swap-free on account " + r.Login
	case r.Kind == KindSetSwapFree:
		return "the end of swap-free on account " + r.Login
	case r.Kind == KindResetPassword:
		return r.Summary() + " of account " + r.Login
	}
	return r.Summary() + " on account " + r.Login
}

// accessWords is an access in words.
func accessWords(a trading.Access) string {
	switch {
	case a.LoginEnabled && a.TradingEnabled:
		return "login and trading enabled"
	case a.LoginEnabled:
		return "login enabled, trading disabled"
	case a.TradingEnabled:
		return "login disabled, trading enabled"
	}
	return "login and trading disabled"
}

// ChangeLeverage asks for account's leverage to become leverage: one of its type's leverages, within the client's
// tier's cap (DeskSettings.TierMaxLeverage), on an active account. Above the desk's LeverageApprovalAbove it
// waits for approval.
func (s *Service) ChangeLeverage(ctx context.Context, t tenants.Tenant, client, account uuid.UUID, leverage int) (Request, error) {
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := changeAccountTx(ctx, tx, client, account)
		if err != nil {
			return err
		}
		if leverage <= 0 {
			return validation.New("leverage", "the leverage wanted, e.g. 200 for 1:200")
		}
		if err := activeForChange(a); err != nil {
			return err
		}
		typ, err := accountTypeTx(ctx, tx, `a.id = $1`, a.TypeID)
		if err != nil {
			return err
		}
		c, err := s.o.Clients.GetTx(ctx, tx, a.ClientID)
		if err != nil {
			return err
		}
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		switch {
		case leverage == a.Leverage:
			return validation.New("leverage", fmt.Sprintf("account %s already has 1:%d", a.Login, a.Leverage))
		case !slices.Contains(typ.Leverages, leverage):
			return validation.New("leverage", "a "+typ.Name+" account offers "+leverageList(typ.Leverages))
		case st.TierMaxLeverage[c.Tier] > 0 && leverage > st.TierMaxLeverage[c.Tier]:
			return validation.New("leverage", fmt.Sprintf("clients of your tier may have at most 1:%d", st.TierMaxLeverage[c.Tier]))
		}
		out, err = s.recordChangeTx(ctx, tx, a, changeSpec{kind: KindSetLeverage, leverage: leverage, group: a.Group, swapFree: a.SwapFree,
			approval: st.LeverageApprovalAbove > 0 && leverage > st.LeverageApprovalAbove, by: "client:" + a.ClientID.String(),
			actor: clientActor(a.ClientID), summary: fmt.Sprintf("leverage 1:%d on account %s (it has 1:%d)", leverage, a.Login, a.Leverage)})
		return err
	})
	return out, err
}

// activeForChange refuses a change of an account that is not active (disabled by its client's status or by hand).
func activeForChange(a Account) error {
	if a.Status != "active" {
		return validation.New("account", fmt.Sprintf("account %s is %s: its settings cannot change now", a.Login, a.Status))
	}
	return nil
}

func clientActor(id uuid.UUID) audit.Actor {
	return audit.Actor{Kind: audit.ActorClient, ID: id.String()}
}

// ChangeSwapFree asks for swap-free on or off. On platforms that make an account swap-free by group (MT5, the
// simulator, TradeLocker) the account moves to its group's twin (the account type's swap_free_group) or back; a
// type that opens straight in a swap-free group has no way back. Waits for approval unless the desk's rules say
// otherwise (DeskSettings.SwapFreeApproval).
func (s *Service) ChangeSwapFree(ctx context.Context, t tenants.Tenant, client, account uuid.UUID, on bool) (Request, error) {
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := changeAccountTx(ctx, tx, client, account)
		if err != nil {
			return err
		}
		if err := activeForChange(a); err != nil {
			return err
		}
		if a.SwapFree == on {
			return validation.New("swap_free", fmt.Sprintf("account %s is already %s", a.Login, map[bool]string{true: "swap-free", false: "not swap-free"}[on]))
		}
		typ, err := accountTypeTx(ctx, tx, `a.id = $1`, a.TypeID)
		if err != nil {
			return err
		}
		srv, _, err := serverTx(ctx, tx, `id = $1`, a.ServerID)
		if err != nil {
			return err
		}
		group, err := swapFreeGroup(typ, srv, a, on)
		if err != nil {
			return err
		}
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		what := "swap-free on account " + a.Login
		if !on {
			what = "the end of swap-free on account " + a.Login
		}
		out, err = s.recordChangeTx(ctx, tx, a, changeSpec{kind: KindSetSwapFree, leverage: a.Leverage, group: group, swapFree: on,
			approval: st.SwapFreeApproval, by: "client:" + a.ClientID.String(), actor: clientActor(a.ClientID), summary: what})
		return err
	})
	return out, err
}

// swapFreeGroup is the group account a moves to when swap-free turns on (its group's twin) or off (the type's
// standard group); on a platform that does it by a flag or a category the group stays. Until the server's first
// successful connection check the desk does not know which way its platform does it: a type with a twin asks by
// group (a platform that does it otherwise keeps the group anyway, and the desk records the group the platform
// reports), one without is refused until the check says.
func swapFreeGroup(typ AccountType, srv Server, a Account, on bool) (string, error) {
	caps := srv.Check.Capabilities
	if caps != nil && caps.SwapFree != trading.SwapFreeByGroup {
		return a.Group, nil
	}
	g, ok := typ.Groups[a.Currency.Code]
	switch {
	case ok && g.SwapFreeGroup == "" && caps == nil:
		return "", validation.New("swap_free", fmt.Sprintf("the trading server %s has not answered a connection check yet, so how it makes an account swap-free is not known: try again in a minute",
			srv.Name))
	case !ok:
		return "", validation.New("swap_free", fmt.Sprintf("a %s account no longer opens in %s: contact support", typ.Name, a.Currency.Code))
	case on && g.SwapFreeGroup == "":
		return "", validation.New("swap_free", fmt.Sprintf("a %s account in %s has no swap-free variant", typ.Name, a.Currency.Code))
	case !on && g.SwapFreeGroup == "":
		return "", validation.New("swap_free", fmt.Sprintf("a %s account is swap-free by design: open another account type for swaps", typ.Name))
	case on:
		return g.SwapFreeGroup, nil
	}
	return g.Group, nil
}

// ResetPassword asks for a new main or investor password of the account: the worker mints it, sets it on the
// platform and emails it; it is never stored.
func (s *Service) ResetPassword(ctx context.Context, t tenants.Tenant, client, account uuid.UUID, kind trading.PasswordKind) (Request, error) {
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := changeAccountTx(ctx, tx, client, account)
		if err != nil {
			return err
		}
		if kind != trading.PasswordMain && kind != trading.PasswordInvestor {
			return validation.New("kind", "main or investor")
		}
		if !a.LoginEnabled || a.Status == "closed" {
			return validation.New("account", fmt.Sprintf("signing in to account %s is disabled: a new password would not open it", a.Login))
		}
		words := "main"
		if kind == trading.PasswordInvestor {
			words = "investor (read-only)"
		}
		out, err = s.recordChangeTx(ctx, tx, a, changeSpec{kind: KindResetPassword, leverage: a.Leverage, group: a.Group, swapFree: a.SwapFree,
			password: kind, by: "client:" + a.ClientID.String(), actor: clientActor(a.ClientID),
			summary: "a new " + words + " password of account " + a.Login})
		return err
	})
	return out, err
}

// ChangeCurrency answers a request to change account's currency: refused, always, with the reason and the
// account type a new account in that currency can be opened with (*CurrencyFixedError); a currency that is not
// one, or the account's own, is named (422).
func (s *Service) ChangeCurrency(ctx context.Context, t tenants.Tenant, client, account uuid.UUID, currency string) error {
	currency = strings.ToUpper(strings.TrimSpace(currency))
	var a Account
	var caps *trading.Capabilities
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if a, err = oneTx(ctx, tx, "account", accountSelect+` WHERE t.id = $1 AND t.client_id = $2`, scanAccounts, account, client); err != nil {
			if errors.Is(err, ErrNotFound) {
				return ErrNoSuchAccount
			}
			return err
		}
		srv, _, err := serverTx(ctx, tx, `id = $1`, a.ServerID)
		caps = srv.Check.Capabilities
		return err
	}); err != nil {
		return err
	}
	if _, ok := money.Lookup(currency); !ok {
		return validation.New("currency", "a currency code such as EUR")
	}
	if currency == a.Currency.Code {
		return validation.New("currency", fmt.Sprintf("account %s is in %s already", a.Login, currency))
	}
	// Every platform we connect fixes an account's currency (Capabilities.CurrencyFixed); one that did not would
	// still need a connector call the interface does not have, so the answer is a refusal either way.
	e := &CurrencyFixedError{Login: a.Login, From: a.Currency.Code, To: currency, Unsaid: caps == nil || !caps.CurrencyFixed}
	offers, _, err := s.Offers(ctx, t, client)
	if err != nil {
		return err
	}
	for _, o := range offers {
		if slices.Contains(o.Currencies, currency) && (e.OfferSlug == "" || o.Type.ID == a.TypeID) {
			e.OfferSlug, e.OfferName = o.Type.Slug, o.Type.Name
		}
	}
	return e
}

// Decide approves (queues) or rejects (with reason, which the client reads) a request awaiting approval, as
// actor. ErrNotFound for no such request; ErrNotAwaiting for one that is not waiting.
func (s *Service) Decide(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, approve bool, reason string) (Request, error) {
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return Request{}, validation.New("reason", "say why, for the client: they read it")
	}
	var f validation.Fields
	f.SingleLine("reason", reason, maxFailure)
	if err := f.Err(); err != nil {
		return Request{}, err
	}
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var st, login, accountStatus string
		if err := tx.QueryRow(ctx, `SELECT r.status, r.login, coalesce(t.status, '') FROM trading_requests r
			LEFT JOIN trading_accounts t ON t.id = r.account_id WHERE r.id = $1 FOR UPDATE OF r`, id).Scan(&st, &login, &accountStatus); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if RequestStatus(st) != RequestAwaitingApproval {
			return ErrNotAwaiting
		}
		if approve && accountStatus != "active" {
			return validation.New("account", fmt.Sprintf("account %s is %s now: reject the request, or wait until it is active again", login, accountStatus))
		}
		by := actorString(actor)
		action := ActionChangeApproved
		if approve {
			if _, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'pending', decided_by = $2, decided_at = now(), updated_at = now()
				WHERE id = $1`, id, by); err != nil {
				return err
			}
			if err := s.queueChangeTx(ctx, tx, id); err != nil {
				return err
			}
		} else {
			action = ActionChangeRejected
			if _, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'rejected', decided_by = $2, decided_at = now(), rejection = $3,
				finished_at = now(), updated_at = now() WHERE id = $1`, id, by, reason); err != nil {
				return err
			}
		}
		var err error
		if out, err = requestTx(ctx, tx, `r.id = $1`, id); err != nil {
			return err
		}
		after := changeView(out, out.SummaryOn())
		after["rejection"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: audit.Target{Type: requestTarget, ID: id.String()},
			Before: map[string]any{"status": RequestAwaitingApproval}, After: after})
	})
	return out, err
}

// actorString is who decided, as trading_requests keeps it ("staff:<id>").
func actorString(a audit.Actor) string { return string(a.Kind) + ":" + a.ID }

// handleChange runs TaskChange: at Asynq's last attempt a failure becomes the request's.
func (s *Service) handleChange(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p changeTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskChange, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	max, ok := asynq.GetMaxRetry(ctx)
	err := s.CarryChange(ctx, t, p.RequestID, !ok || retried >= max)
	if errors.Is(err, errFailed) {
		return nil
	}
	return err
}

// CarryChange carries change request id to its platform and records what the platform did; a request that is not
// pending is left alone (a redelivered task calls nothing). A refusal by the platform, or any error when final is
// set, fails the request with the platform's reason (the error wraps errFailed); other errors are returned for the
// task to retry.
func (s *Service) CarryChange(ctx context.Context, t tenants.Tenant, id uuid.UUID, final bool) error {
	var r Request
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		r, err = requestTx(ctx, tx, `r.id = $1`, id)
		return err
	}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if r.Status != RequestPending || r.Kind == KindOpenAccount || r.AccountID == nil {
		return nil
	}
	release, err := s.claim(ctx, t, id)
	if err != nil {
		return err
	}
	defer release()
	err = s.changeOnce(ctx, t, r)
	if err == nil {
		return nil
	}
	if final || refused(err) {
		if ferr := s.failChange(ctx, t, r, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	}
	return err
}

// changeOnce is one run of a change: the platform call, then the record.
func (s *Service) changeOnce(ctx context.Context, t tenants.Tenant, r Request) error {
	tg, err := s.target(ctx, t, r.ServerID)
	if err != nil {
		return err
	}
	switch r.Kind {
	case KindSetLeverage, KindSetSwapFree:
		var acc trading.Account
		if err := s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
			var err error
			if r.Kind == KindSetLeverage {
				err = c.SetLeverage(ctx, r.Login, r.Leverage)
			} else {
				err = c.SetSwapFree(ctx, r.Login, r.SwapFree)
			}
			if err != nil {
				return err
			}
			acc, err = c.Account(ctx, r.Login) // the group the platform moved the account to, if it did
			return err
		}); err != nil {
			return err
		}
		return s.recordChange(ctx, t, r, acc)
	case KindSetAccess:
		return s.applyAccess(ctx, t, tg, r)
	case KindResetPassword:
		return s.resetPassword(ctx, t, tg, r)
	}
	return fmt.Errorf("%w: tradingdesk: request kind %q", jobs.SkipRetry, r.Kind)
}

// recordChange records on the account what the platform did for a leverage or swap-free change, and marks the
// request done.
func (s *Service) recordChange(ctx context.Context, t tenants.Tenant, r Request, acc trading.Account) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := changeAccountTx(ctx, tx, uuid.Nil, *r.AccountID)
		if err != nil {
			return err
		}
		group := acc.Group
		if group == "" {
			group = before.Group
		}
		after := map[string]any{"login": r.Login, "client": r.ClientName, "kind": r.Kind}
		switch r.Kind {
		case KindSetLeverage:
			_, err = tx.Exec(ctx, `UPDATE trading_accounts SET leverage = $2, group_name = $3, updated_at = now() WHERE id = $1`, before.ID, r.Leverage, group)
			after["leverage"], after["was"] = r.Leverage, before.Leverage
		default:
			_, err = tx.Exec(ctx, `UPDATE trading_accounts SET swap_free = $2, group_name = $3, updated_at = now() WHERE id = $1`, before.ID, r.SwapFree, group)
			after["swap_free"] = r.SwapFree
		}
		if err != nil {
			return err
		}
		after["group"], after["group_was"] = group, before.Group
		return s.doneTx(ctx, tx, r, after)
	})
}

// doneTx marks r done and audits what the platform now holds.
func (s *Service) doneTx(ctx context.Context, tx pgx.Tx, r Request, after map[string]any) error {
	tag, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'done', finished_at = now(), updated_at = now(),
		credentials_sent_at = CASE WHEN kind = 'reset_password' THEN now() ELSE credentials_sent_at END WHERE id = $1 AND status = 'pending'`, r.ID)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionChangeDone, Target: audit.Target{Type: accountTarget, ID: r.AccountID.String()},
		After: after})
}

// resetPassword mints a password, sets it on the platform and emails it at once: it lives in this run's memory and
// the email, nowhere else. A run after a lost answer or a failed email mints and sets another.
func (s *Service) resetPassword(ctx context.Context, t tenants.Tenant, tg Target, r Request) error {
	pw, err := newPassword()
	if err != nil {
		return err
	}
	if err := s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
		return c.ResetPassword(ctx, r.Login, r.PasswordKind, pw)
	}); err != nil {
		return err
	}
	var first, email string
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		c, err := s.o.Clients.GetTx(ctx, tx, r.ClientID)
		first, email = c.FirstName, c.Email
		return err
	}); err != nil {
		return err
	}
	which := "main"
	if r.PasswordKind == trading.PasswordInvestor {
		which = "investor (read-only)"
	}
	if err := s.o.Emails.Send(ctx, t, emails.Email{Template: emails.TemplateTradingPasswordReset, To: email, Data: map[string]any{
		"FirstName": first, "Login": r.Login, "Server": r.ServerName, "Which": which, "Password": pw, "AccountsURL": PortalAccountsPath}}); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return s.doneTx(ctx, tx, r, map[string]any{"login": r.Login, "client": r.ClientName, "kind": r.Kind, "which": r.PasswordKind})
	})
}

// failChange records that change r failed, with the platform's reason, and audits it.
func (s *Service) failChange(ctx context.Context, t tenants.Tenant, r Request, cause error) error {
	reason := failureText(cause)
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'failed', failure = $2, finished_at = now(), updated_at = now()
			WHERE id = $1 AND status = 'pending'`, r.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		after := changeView(r, r.SummaryOn())
		after["status"], after["failure"] = RequestFailed, reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionChangeFailed,
			Target: audit.Target{Type: requestTarget, ID: r.ID.String()}, Before: map[string]any{"status": RequestPending}, After: after})
	})
	if err == nil {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "trading change failed", "request", r.ID, "kind", r.Kind, "server", r.ServerName, "reason", reason)
	}
	return err
}
