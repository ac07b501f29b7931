package tradingdesk

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Deal sync: the deals of one account on one server are pulled from the platform through the server's shared
// session and kept in trading_deals, once each; where the account's sync stands is its row of
// trading_deal_cursors. docs/trading/desk.md#deal-sync tells the whole story; in short:
//
//   - a run reads the window [synced_to, now) page by page; each batch of pages commits its deals together with
//     the connector's cursor of the next page, so a run cut off anywhere resumes after its last commit and no deal
//     is skipped, and (server, ticket) is unique, so none is stored twice;
//   - before it, the run re-reads the overlap [synced_to - DealOverlap, synced_to) whole, in one transaction: deals
//     the platform changed since they were stored (their content hash differs), cancelled (no longer listed),
//     restored, or recorded late (a time already passed) are found there;
//   - events go out in the transaction of the deals they speak of: trading.deal_closed for each new deal that
//     closes a position, trading.deal_changed for each change, cancellation or restoration.

// Event types of deal sync.
const (
	// EventDealClosed: a deal that closes (part of) a position was synced for the first time (DealClosed).
	EventDealClosed = "trading.deal_closed"
	// EventDealChanged: a synced deal was changed, cancelled or restored on the platform (DealChanged).
	EventDealChanged = "trading.deal_changed"
)

// Deal is a deal as the desk keeps it and its events carry it: the platform's trading.Deal with JSON names, money
// and lots as exact decimal strings.
type Deal struct {
	Ticket     string             `json:"ticket"`
	Order      string             `json:"order,omitempty"`
	PositionID string             `json:"position_id,omitempty"`
	Action     trading.DealAction `json:"action"`
	Entry      trading.DealEntry  `json:"entry,omitempty"`
	Symbol     string             `json:"symbol,omitempty"`
	Volume     decimal.Decimal    `json:"volume"` // lots
	Price      decimal.Decimal    `json:"price"`
	Profit     decimal.Decimal    `json:"profit"` // in the account's currency, as are commission and swap
	Commission decimal.Decimal    `json:"commission"`
	Swap       decimal.Decimal    `json:"swap"`
	Time       time.Time          `json:"time"` // UTC, to the microsecond (what Postgres keeps)
	Comment    string             `json:"comment,omitempty"`
}

// toDeal is the desk's form of a platform's deal. Times are cut to the microsecond, as Postgres keeps them, so
// the stored row, its hash and the events agree.
func toDeal(d trading.Deal) Deal {
	return Deal{Ticket: d.Ticket, Order: d.Order, PositionID: d.PositionID, Action: d.Action, Entry: d.Entry, Symbol: d.Symbol,
		Volume: d.Volume, Price: d.Price, Profit: d.Profit, Commission: d.Commission, Swap: d.Swap,
		Time: d.Time.UTC().Truncate(time.Microsecond), Comment: d.Comment}
}

// Closes reports whether the deal closes (part of) a position: a buy or sell whose entry is out, inout (a reversal:
// it closes the position and opens the opposite one) or outby (closed by an opposite position). Only those realise
// a trade, so only those are what IB commissions and bonus turnover count: opening deals, balance, credit,
// correction, bonus, commission and agent deals are kept but never announced as closed.
func (d Deal) Closes() bool {
	if d.Action != trading.ActionBuy && d.Action != trading.ActionSell {
		return false
	}
	return d.Entry == trading.EntryOut || d.Entry == trading.EntryInOut || d.Entry == trading.EntryOutBy
}

// DealAccount names the account a deal event is about.
type DealAccount struct {
	ServerID uuid.UUID `json:"server_id"`
	Login    string    `json:"login"`
	// AccountID and ClientID name the CRM's trading account and its client, read from trading_accounts in the
	// transaction of the event; nil for a login the CRM does not know (subscribers then key on server and login).
	AccountID *uuid.UUID `json:"account_id,omitempty"`
	ClientID  *uuid.UUID `json:"client_id,omitempty"`
}

// DealClosed is the payload of trading.deal_closed.
type DealClosed struct {
	DealAccount
	Deal Deal `json:"deal"`
}

// EventType names the event.
func (DealClosed) EventType() string { return EventDealClosed }

// DealChange is what happened to a synced deal on the platform.
type DealChange string

const (
	// DealUpdated: the platform lists the deal with other values (a manager's update; MT5 gateways cancelling a
	// filled deal turn its action into one the connectors read as "other").
	DealUpdated DealChange = "updated"
	// DealCancelled: the platform no longer lists the deal (deleted by a manager).
	DealCancelled DealChange = "cancelled"
	// DealRestored: a deal found cancelled is listed again (MT5 restores deals from its backups).
	DealRestored DealChange = "restored"
)

// DealChanged is the payload of trading.deal_changed: the deal as it was stored and as the platform lists it now.
type DealChanged struct {
	DealAccount
	Change DealChange `json:"change"`
	Before Deal       `json:"before"`
	// After is nil when the deal was cancelled.
	After *Deal `json:"after,omitempty"`
}

// EventType names the event.
func (DealChanged) EventType() string { return EventDealChanged }

// SyncResult counts what one SyncAccount did.
type SyncResult struct {
	Pages     int // pages read from the platform
	Read      int // deals read (the overlap's and the new window's)
	New       int // deals stored for the first time
	Changed   int // deals found changed or restored
	Cancelled int // deals found cancelled
	// SyncedTo: every deal before it has been read (the cursor's synced_to after the run).
	SyncedTo time.Time
}

// Errors of deal sync.
var (
	// ErrServerOff: the server is switched off; its accounts are not synced.
	ErrServerOff = errors.New("tradingdesk: the trading server is switched off")
	// errCursorMoved: another sync of the account committed first; it carries the run on.
	errCursorMoved = errors.New("tradingdesk: another sync of the account moved its cursor")
)

// syncCursor is an account's row of trading_deal_cursors.
type syncCursor struct {
	SyncedTo         *time.Time
	RunFrom, RunTo   *time.Time
	PageCursor       string
	existed, running bool
}

func (c syncCursor) same(o syncCursor) bool {
	eq := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	return c.existed == o.existed && eq(c.SyncedTo, o.SyncedTo) && eq(c.RunFrom, o.RunFrom) && eq(c.RunTo, o.RunTo) && c.PageCursor == o.PageCursor
}

// SyncAccount pulls the closed deals of login on server since its cursor, stores the new ones, finds those the
// platform changed or cancelled within the overlap window, publishes their events, and moves the cursor, every
// batch of pages in one transaction (see the comment at the top of this file). It is safe to run again at any
// time, after a crash or alongside itself: a second run stores nothing twice and announces nothing twice.
// ErrNotFound when t has no such server, ErrServerOff when it is switched off; a platform's refusal (an unknown
// login: trading.ErrNotFound) or its absence (ErrBackingOff, trading.ErrUnavailable) is returned as it is.
func (s *Service) SyncAccount(ctx context.Context, t tenants.Tenant, server uuid.UUID, login string) (SyncResult, error) {
	return s.syncAccount(ctx, t, server, login, time.Time{})
}

// syncAccount is SyncAccount for a task of the walk's slot due (zero: not the walk's). An account already read up
// to its slot, by a sync that started after the slot was due, is not synced again: when the queue lags behind the
// walk, an account's tasks of earlier slots wait behind each other, and each after the first costs a read.
func (s *Service) syncAccount(ctx context.Context, t tenants.Tenant, server uuid.UUID, login string, due time.Time) (SyncResult, error) {
	var res SyncResult
	if login == "" || len(login) > 64 {
		return res, fmt.Errorf("tradingdesk: login %q: %w", login, trading.ErrInvalidRequest)
	}
	var tg Target
	var cur syncCursor
	start := s.o.DealHistoryStart
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if tg, err = s.targetTx(ctx, tx, t, server); err != nil {
			return err
		}
		if cur, err = cursorTx(ctx, tx, server, login, false); err != nil || cur.SyncedTo != nil || cur.running {
			return err
		}
		// A first sync of an account the CRM knows starts at its opening rather than at DealHistoryStart.
		var opened time.Time
		err = tx.QueryRow(ctx, `SELECT created_at FROM trading_accounts WHERE server_id = $1 AND login = $2`, server, login).Scan(&opened)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("tradingdesk: read the opening of %s: %w", login, err)
		}
		if from := opened.Add(-OpeningMargin).UTC(); from.After(start) {
			start = from
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if !tg.Server.Enabled {
		return res, ErrServerOff
	}
	if !due.IsZero() && !cur.running && cur.SyncedTo != nil && !cur.SyncedTo.Before(due) {
		res.SyncedTo = *cur.SyncedTo
		return res, nil
	}
	sync := dealSync{s: s, t: t, tg: tg, login: login, start: start, res: &res}
	err = sync.run(ctx, cur)
	if errors.Is(err, errCursorMoved) {
		return res, nil // the other sync carries the run on
	}
	return res, err
}

// OpeningMargin is how long before an account's opening in the CRM (trading_accounts.created_at) its first sync
// starts reading: the platform may hold deals from before the CRM recorded the account (an opening whose answer
// was lost is adopted by a retry up to hours later, the demo links accounts the simulator opened first, and
// clocks differ), and reading a day with nothing in it costs one empty listing.
const OpeningMargin = 24 * time.Hour

// dealSync is one SyncAccount's work.
type dealSync struct {
	s     *Service
	t     tenants.Tenant
	tg    Target
	login string
	start time.Time // where a first run starts
	res   *SyncResult
}

func (d dealSync) run(ctx context.Context, cur syncCursor) error {
	if !cur.running {
		// A new run: the overlap first, then the window since synced_to up to now.
		to := d.s.o.Now().UTC().Truncate(time.Microsecond)
		from := d.start
		var overlap []trading.Deal
		var window [2]time.Time
		if cur.SyncedTo != nil {
			from = *cur.SyncedTo
			window = [2]time.Time{from.Add(-d.s.o.DealOverlap), from}
			q := trading.DealQuery{Login: d.login, From: window[0], To: window[1], Limit: d.s.o.DealPage}
			for {
				page, err := d.page(ctx, q)
				if err != nil {
					return err
				}
				overlap = append(overlap, page.Deals...)
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
		}
		if to.Before(from) {
			to = from // a clock behind the last run's: an empty window, the run ends at once
		}
		next := syncCursor{SyncedTo: cur.SyncedTo, RunFrom: &from, RunTo: &to, existed: true, running: true}
		if err := d.commit(ctx, cur, next, overlap, &window); err != nil {
			return err
		}
		cur = next
	}
	// The window, page by page; every DealBatch deals (and the last page) commit with the cursor of the next page.
	q := trading.DealQuery{Login: d.login, From: *cur.RunFrom, To: *cur.RunTo, Cursor: cur.PageCursor, Limit: d.s.o.DealPage}
	var batch []trading.Deal
	for {
		page, err := d.page(ctx, q)
		if err != nil && q.Cursor != "" && len(batch) == 0 && errors.Is(err, trading.ErrInvalidRequest) {
			// The connector no longer takes the stored cursor (MT5 refuses one made under another time-zone
			// setting): read the window again from its start. What was stored is found again, not stored twice.
			q.Cursor = ""
			page, err = d.page(ctx, q)
		}
		if err != nil {
			return err
		}
		batch = append(batch, page.Deals...)
		if page.Next != "" && len(batch) < d.s.o.DealBatch {
			q.Cursor = page.Next
			continue
		}
		next := cur
		next.PageCursor = page.Next
		if page.Next == "" { // the run is done
			next = syncCursor{SyncedTo: cur.RunTo, existed: true}
		}
		if err := d.commit(ctx, cur, next, batch, nil); err != nil {
			return err
		}
		if page.Next == "" {
			d.res.SyncedTo = *cur.RunTo
			return nil
		}
		cur, batch, q.Cursor = next, batch[:0], page.Next
	}
}

// page reads one page through the server's shared session (which respects the server's backoff).
func (d dealSync) page(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	var page trading.DealPage
	err := d.s.sessions.Use(ctx, d.tg, false, func(c trading.Connector) error {
		var err error
		page, err = c.ClosedDeals(ctx, q)
		return err
	})
	if err != nil {
		return page, fmt.Errorf("tradingdesk: deals of %s on %s: %w", d.login, d.tg.Server.Slug, err)
	}
	d.res.Pages++
	d.res.Read += len(page.Deals)
	return page, nil
}

// commit stores deals, publishes their events and moves the cursor from was to next, in one transaction. window,
// when set, is the overlap the deals are the platform's whole listing of: stored deals in it that the listing
// lacks are cancelled. errCursorMoved when the cursor is no longer was (another sync committed first).
func (d dealSync) commit(ctx context.Context, was, next syncCursor, deals []trading.Deal, window *[2]time.Time) error {
	srv := d.tg.Server.ID
	return d.s.o.Gate.Scope(ctx, d.t, func(ctx context.Context, tx pgx.Tx) error {
		if !was.existed {
			if err := database.ExecLater(ctx, tx, `INSERT INTO trading_deal_cursors (server_id, login) VALUES ($1, $2)
				ON CONFLICT DO NOTHING`, srv, d.login); err != nil {
				return err
			}
		}
		now, err := cursorTx(ctx, tx, srv, d.login, true)
		if err != nil {
			return err
		}
		want := was
		want.existed = true // a missing row is the one just added
		if !now.same(want) {
			return errCursorMoved
		}
		if err := d.store(ctx, tx, deals, window); err != nil {
			return err
		}
		return database.ExecLater(ctx, tx, `UPDATE trading_deal_cursors SET synced_to = $3, run_from = $4, run_to = $5, page_cursor = $6,
			synced_at = CASE WHEN $5::timestamptz IS NULL THEN now() ELSE synced_at END, updated_at = now()
			WHERE server_id = $1 AND login = $2`, srv, d.login, next.SyncedTo, next.RunFrom, next.RunTo, next.PageCursor)
	})
}

// cursorTx reads login's cursor on server (locked when lock is set); a missing row is a cursor that never moved.
func cursorTx(ctx context.Context, tx pgx.Tx, server uuid.UUID, login string, lock bool) (syncCursor, error) {
	q := `SELECT synced_to, run_from, run_to, page_cursor FROM trading_deal_cursors WHERE server_id = $1 AND login = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	var c syncCursor
	err := tx.QueryRow(ctx, q, server, login).Scan(&c.SyncedTo, &c.RunFrom, &c.RunTo, &c.PageCursor)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return syncCursor{}, nil
	case err != nil:
		return c, fmt.Errorf("tradingdesk: read the deal cursor of %s: %w", login, err)
	}
	c.existed, c.running = true, c.RunTo != nil
	return c, nil
}

// stagingColumns are the columns of the staging table COPY fills, in the order stagingRow gives them.
var stagingColumns = []string{"ticket", "order_id", "position_id", "action", "entry", "symbol", "volume", "price", "profit",
	"commission", "swap", "time", "comment", "content_hash"}

// dealColumns reads a stored deal's fields (table d) as dealRow.dest takes them.
const dealColumns = `d.ticket, coalesce(d.order_id, ''), coalesce(d.position_id, ''), d.action, coalesce(d.entry, ''),
	coalesce(d.symbol, ''), d.volume, d.price, d.profit, d.commission, d.swap, d.time, d.comment`

// store writes deals (the platform's listing, oldest first) into trading_deals and publishes their events: COPY
// into a staging table dropped at commit, then one INSERT ... ON CONFLICT that adds the new deals and rewrites the
// changed or restored ones, answering with the values those had before; then, for an overlap window, the deals
// the listing lacks are marked cancelled.
func (d dealSync) store(ctx context.Context, tx pgx.Tx, list []trading.Deal, window *[2]time.Time) error {
	deals := unique(list)
	overlap := window != nil && window[0].Before(window[1])
	if len(deals) == 0 && !overlap {
		return nil
	}
	acct, err := d.account(ctx, tx)
	if err != nil {
		return err
	}
	if len(deals) > 0 {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE trading_deals_staging (ticket text PRIMARY KEY, order_id text, position_id text,
			action text NOT NULL, entry text, symbol text, volume numeric NOT NULL, price numeric NOT NULL, profit numeric NOT NULL,
			commission numeric NOT NULL, swap numeric NOT NULL, time timestamptz NOT NULL, comment text NOT NULL,
			content_hash bytea NOT NULL) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("tradingdesk: staging table: %w", err)
		}
		buf := make([]byte, 0, 256)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"trading_deals_staging"}, stagingColumns,
			pgx.CopyFromSlice(len(deals), func(i int) ([]any, error) {
				var row []any
				row, buf = stagingRow(d.login, deals[i], buf)
				return row, nil
			})); err != nil {
			return fmt.Errorf("tradingdesk: copy deals: %w", err)
		}
		// One statement adds the new deals and rewrites the changed or restored ones; a rewritten row keeps its
		// values from before in previous, which RETURNING hands back for the event (NULL: the deal is new).
		rows, err := tx.Query(ctx, `INSERT INTO trading_deals (server_id, login, ticket, order_id, position_id, action, entry, symbol,
				volume, price, profit, commission, swap, time, comment, content_hash)
			SELECT $1, $2, ticket, order_id, position_id, action, entry, symbol, volume, price, profit, commission, swap, time, comment,
				content_hash FROM trading_deals_staging
			ON CONFLICT (server_id, ticket) DO UPDATE SET login = excluded.login, order_id = excluded.order_id,
				position_id = excluded.position_id, action = excluded.action, entry = excluded.entry, symbol = excluded.symbol,
				volume = excluded.volume, price = excluded.price, profit = excluded.profit, commission = excluded.commission,
				swap = excluded.swap, time = excluded.time, comment = excluded.comment, content_hash = excluded.content_hash,
				cancelled_at = NULL, changed_at = now(),
				previous = jsonb_build_object('ticket', trading_deals.ticket, 'order', trading_deals.order_id,
					'position_id', trading_deals.position_id, 'action', trading_deals.action, 'entry', trading_deals.entry,
					'symbol', trading_deals.symbol, 'volume', trading_deals.volume, 'price', trading_deals.price,
					'profit', trading_deals.profit, 'commission', trading_deals.commission, 'swap', trading_deals.swap,
					'time', trading_deals.time, 'comment', trading_deals.comment, 'cancelled', trading_deals.cancelled_at IS NOT NULL)
			WHERE trading_deals.content_hash <> excluded.content_hash OR trading_deals.cancelled_at IS NOT NULL
			RETURNING ticket, previous`, d.tg.Server.ID, d.login)
		if err != nil {
			return fmt.Errorf("tradingdesk: store deals: %w", err)
		}
		type stored struct {
			Deal
			Cancelled bool `json:"cancelled"`
		}
		old := map[string]*stored{}
		var ticket string
		var previous []byte
		if _, err := pgx.ForEachRow(rows, []any{&ticket, &previous}, func() error {
			if previous == nil {
				old[ticket] = nil
				return nil
			}
			var s stored
			if err := json.Unmarshal(previous, &s); err != nil {
				return fmt.Errorf("deal %s before its change: %w", ticket, err)
			}
			s.Time = s.Time.UTC()
			old[ticket] = &s
			return nil
		}); err != nil {
			return fmt.Errorf("tradingdesk: store deals: %w", err)
		}
		// Events in the listing's order.
		var changed []DealChanged
		for i := range deals {
			after := &deals[i]
			before, written := old[after.Ticket]
			switch {
			case !written:
				continue // stored before, unchanged
			case before == nil:
				d.res.New++
				if after.Closes() {
					if err := d.s.o.Events.Publish(ctx, tx, d.t, DealClosed{DealAccount: acct, Deal: *after}); err != nil {
						return err
					}
				}
			case before.Cancelled:
				changed = append(changed, DealChanged{DealAccount: acct, Change: DealRestored, Before: before.Deal, After: after})
			default:
				changed = append(changed, DealChanged{DealAccount: acct, Change: DealUpdated, Before: before.Deal, After: after})
			}
		}
		d.res.Changed += len(changed)
		if err := d.publishChanged(ctx, tx, changed); err != nil {
			return err
		}
	}
	if !overlap {
		return nil
	}
	// The overlap's listing was whole: what it lacks the platform no longer has.
	tickets := make([]string, len(deals))
	for i, x := range deals {
		tickets[i] = x.Ticket
	}
	rows, err := tx.Query(ctx, `UPDATE trading_deals d SET cancelled_at = now(), changed_at = now()
		WHERE d.server_id = $1 AND d.login = $2 AND d.time >= $3 AND d.time < $4 AND d.cancelled_at IS NULL AND d.ticket <> ALL ($5)
		RETURNING `+dealColumns, d.tg.Server.ID, d.login, window[0], window[1], tickets)
	if err != nil {
		return fmt.Errorf("tradingdesk: cancel deals: %w", err)
	}
	var cancelled []DealChanged
	for rows.Next() {
		var before dealRow
		if err := rows.Scan(before.dest()...); err != nil {
			rows.Close()
			return fmt.Errorf("tradingdesk: read cancelled deals: %w", err)
		}
		cancelled = append(cancelled, DealChanged{DealAccount: acct, Change: DealCancelled, Before: before.deal()})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("tradingdesk: cancel deals: %w", err)
	}
	d.res.Cancelled += len(cancelled)
	slices.SortFunc(cancelled, func(a, b DealChanged) int { // RETURNING's order is the table's: announce oldest first
		return cmp.Or(a.Before.Time.Compare(b.Before.Time), cmp.Compare(a.Before.Ticket, b.Before.Ticket))
	})
	return d.publishChanged(ctx, tx, cancelled)
}

// account names the synced account in events: the CRM's ids are read from trading_accounts in tx, once for the
// batch, so they agree with the deals they are published with.
func (d dealSync) account(ctx context.Context, tx pgx.Tx) (DealAccount, error) {
	a := DealAccount{ServerID: d.tg.Server.ID, Login: d.login}
	var id, client uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id, client_id FROM trading_accounts WHERE server_id = $1 AND login = $2`, a.ServerID, a.Login).Scan(&id, &client)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // a login the CRM does not know
	case err != nil:
		return a, fmt.Errorf("tradingdesk: read the account of %s: %w", d.login, err)
	default:
		a.AccountID, a.ClientID = &id, &client
	}
	return a, nil
}

func (d dealSync) publishChanged(ctx context.Context, tx pgx.Tx, list []DealChanged) error {
	for _, c := range list {
		if err := d.s.o.Events.Publish(ctx, tx, d.t, c); err != nil {
			return err
		}
	}
	return nil
}

// unique turns the listing into the desk's deals, one per ticket (the last listed wins: a listing that shifted
// between pages may repeat a deal, and one statement cannot write a row twice), in the listing's order.
func unique(list []trading.Deal) []Deal {
	at := make(map[string]int, len(list))
	out := make([]Deal, 0, len(list))
	for _, x := range list {
		deal := toDeal(x)
		if i, dup := at[deal.Ticket]; dup {
			out[i] = deal
			continue
		}
		at[deal.Ticket] = len(out)
		out = append(out, deal)
	}
	return out
}

// stagingRow is a deal as COPY sends it, with its content hash (buf is reused for the hash's input).
func stagingRow(login string, d Deal, buf []byte) ([]any, []byte) {
	var h [32]byte
	h, buf = dealHash(login, d, buf)
	return []any{d.Ticket, optional(d.Order), optional(d.PositionID), string(d.Action), optional(string(d.Entry)), optional(d.Symbol),
		numeric(d.Volume), numeric(d.Price), numeric(d.Profit), numeric(d.Commission), numeric(d.Swap), d.Time, d.Comment, h[:]}, buf
}

// dealHash is SHA-256 over every field of the deal and its login, each length-prefixed, decimals in their
// canonical form (1.10 and 1.1 are the same amount): a deal re-read with another hash was changed on the platform.
func dealHash(login string, d Deal, buf []byte) ([32]byte, []byte) {
	buf = buf[:0]
	for _, f := range []string{login, d.Ticket, d.Order, d.PositionID, string(d.Action), string(d.Entry), d.Symbol,
		d.Volume.String(), d.Price.String(), d.Profit.String(), d.Commission.String(), d.Swap.String(), d.Comment} {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	buf = binary.AppendVarint(buf, d.Time.UnixMicro())
	return sha256.Sum256(buf), buf
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// numeric is an exact decimal as Postgres' numeric takes it over the binary protocol.
func numeric(d decimal.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
}

// dealRow scans a stored deal (dealColumns).
type dealRow struct {
	ticket, order, position, action, entry, symbol string
	volume, price, profit, commission, swap        pgtype.Numeric
	at                                             time.Time
	comment                                        string
}

func (r *dealRow) dest() []any {
	return []any{&r.ticket, &r.order, &r.position, &r.action, &r.entry, &r.symbol, &r.volume, &r.price, &r.profit, &r.commission,
		&r.swap, &r.at, &r.comment}
}

func (r dealRow) deal() Deal {
	dec := func(n pgtype.Numeric) decimal.Decimal { return decimal.NewFromBigInt(n.Int, n.Exp) }
	return Deal{Ticket: r.ticket, Order: r.order, PositionID: r.position, Action: trading.DealAction(r.action), Entry: trading.DealEntry(r.entry),
		Symbol: r.symbol, Volume: dec(r.volume), Price: dec(r.price), Profit: dec(r.profit), Commission: dec(r.commission),
		Swap: dec(r.swap), Time: r.at.UTC(), Comment: r.comment}
}

// syncTask is the payload of tradingdesk:sync-account.
type syncTask struct {
	ServerID uuid.UUID `json:"server_id"`
	Login    string    `json:"login"`
	Slot     time.Time `json:"slot,omitzero"`
}

// SyncAccountTask is tradingdesk:sync-account for login on server in the walk's slot (the time it was due), with
// its options: queue sync, a key naming the account and the slot (one task per account and slot: Asynq refuses the
// same TaskID, and a key without the slot would keep refusing an account whose task was archived), a few retries
// (the next slot comes anyway) and a bound on one run. The periodic walk (WalkAccounts) enqueues it. A task that
// finds its account read past its slot (a sync that started later ran first) does nothing.
func SyncAccountTask(t tenants.Tenant, server uuid.UUID, login string, slot time.Time) (*asynq.Task, error) {
	key := fmt.Sprintf("%s:%s:%d", server, login, slot.Unix())
	return jobs.NewTask(TaskSyncAccount, t.ID, key, syncTask{ServerID: server, Login: login, Slot: slot},
		asynq.Queue(jobs.QueueSync), asynq.MaxRetry(3), asynq.Timeout(30*time.Minute))
}

// handleSyncAccount runs one account's sync. It is idempotent: a repeat finds the cursor moved and stores nothing
// twice. A server gone or switched off, or a login the platform does not know, is nothing to retry; nor is a
// server in backoff (its check logs and audits it once; the next slot tries again), so a server that is down
// costs each of its accounts' tasks no platform call, no retry and no log line.
func (s *Service) handleSyncAccount(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p syncTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskSyncAccount, err)
	}
	_, err := s.syncAccount(ctx, t, p.ServerID, p.Login, p.Slot)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrServerOff), errors.Is(err, ErrBackingOff):
		return nil
	case errors.Is(err, trading.ErrNotFound), errors.Is(err, trading.ErrInvalidRequest):
		return fmt.Errorf("%w: %v", jobs.SkipRetry, err)
	}
	return err
}
