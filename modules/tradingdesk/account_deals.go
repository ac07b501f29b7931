package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The deals of one account as staff read them (docs/trading/desk.md, "Deals of an account"): the account's rows of
// trading_deals, newest first, keyset paged on (time, ticket), filtered by period, symbol and kind; cancelled deals
// only when asked, changed ones with what they were before.

// DealKind filters an account's deals: trades (buy and sell) or money movements (every other action).
type DealKind string

const (
	DealKindAll    DealKind = ""
	DealKindTrades DealKind = "trades"
	DealKindMoney  DealKind = "money"
)

// DealFilter narrows an account's deals. From and To are times (From included, To excluded).
type DealFilter struct {
	From, To  *time.Time
	Symbol    string
	Kind      DealKind
	Cancelled bool // cancelled deals too
}

// DealCursor is the position after which the next page of an account's deals starts (newest first).
type DealCursor struct {
	Time   time.Time `json:"t"`
	Ticket string    `json:"k"`
}

// StoredDeal is a deal as trading_deals keeps it: the deal, when a sync found it cancelled or changed, and what it
// was before the last change (nil: never rewritten).
type StoredDeal struct {
	Deal
	CancelledAt *time.Time
	ChangedAt   *time.Time
	Previous    *Deal
}

// Account reads one trading account by its id (ErrNotFound for none).
func (s *Service) Account(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Account, error) {
	var out Account
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = oneTx(ctx, tx, "account", accountSelect+` WHERE t.id = $1`, scanAccounts, id)
		return err
	})
	return out, err
}

// AccountDeals lists up to limit deals of account a after the cursor (nil: from the newest), newest first.
func (s *Service) AccountDeals(ctx context.Context, t tenants.Tenant, a Account, f DealFilter, after *DealCursor, limit int) ([]StoredDeal, error) {
	q := `SELECT ticket, coalesce(order_id, ''), coalesce(position_id, ''), action, coalesce(entry, ''), coalesce(symbol, ''), volume, price,
		profit, commission, swap, time, comment, cancelled_at, changed_at, previous
		FROM trading_deals WHERE server_id = $1 AND login = $2`
	args := []any{a.ServerID, a.Login}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.From != nil {
		q += ` AND time >= ` + arg(*f.From)
	}
	if f.To != nil {
		q += ` AND time < ` + arg(*f.To)
	}
	if f.Symbol != "" {
		q += ` AND upper(symbol) = upper(` + arg(f.Symbol) + `)`
	}
	switch f.Kind {
	case DealKindTrades:
		q += ` AND action IN ('buy', 'sell')`
	case DealKindMoney:
		q += ` AND action NOT IN ('buy', 'sell')`
	}
	if !f.Cancelled {
		q += ` AND cancelled_at IS NULL`
	}
	if after != nil {
		q += ` AND (time, ticket) < (` + arg(after.Time) + `, ` + arg(after.Ticket) + `)`
	}
	q += ` ORDER BY time DESC, ticket DESC LIMIT ` + arg(limit)
	var out []StoredDeal
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredDeal, error) {
			var r dealRow
			var v StoredDeal
			var prev []byte
			if err := row.Scan(append(r.dest(), &v.CancelledAt, &v.ChangedAt, &prev)...); err != nil {
				return v, err
			}
			v.Deal = r.deal()
			if prev != nil {
				var p Deal
				if err := json.Unmarshal(prev, &p); err != nil {
					return v, err
				}
				v.Previous = &p
			}
			return v, nil
		})
		return err
	})
	return out, err
}

// staffAccount is the trading account of the route's :id and its client, when the staff user may see the client
// (the client page's rule, staffClient's): 404 otherwise, as for no account.
func (s *Service) staffAccount(c *fiber.Ctx) (Account, clients.Client, error) {
	none := web.NotFound("No such trading account.")
	id, err := web.ParseID(c, "id")
	if err != nil {
		return Account{}, clients.Client{}, none
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	a, err := s.Account(ctx, t, id)
	if errors.Is(err, ErrNotFound) {
		return Account{}, clients.Client{}, none
	}
	if err != nil {
		return Account{}, clients.Client{}, err
	}
	cl, err := s.o.Clients.GetFor(ctx, t, clientViewer(c), a.ClientID)
	if errors.Is(err, clients.ErrNotFound) {
		return Account{}, clients.Client{}, none
	}
	return a, cl, err
}

// dealFilter reads an account's deals' query: from and to (dates, YYYY-MM-DD, to included), symbol, kind
// (trades, money, all), cancelled (true: shown too). Bad values answer 422 naming the field.
func dealFilter(c *fiber.Ctx) (DealFilter, error) {
	var f DealFilter
	var fields web.Fields
	day := func(name string) *time.Time {
		v := strings.TrimSpace(c.Query(name))
		if v == "" {
			return nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			fields.Add(name, "must be a date, YYYY-MM-DD")
			return nil
		}
		return &d
	}
	f.From, f.To = day("from"), day("to")
	if f.To != nil {
		end := f.To.AddDate(0, 0, 1)
		f.To = &end
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		fields.Add("to", "must not be before from")
	}
	f.Symbol = strings.TrimSpace(c.Query("symbol"))
	if len(f.Symbol) > 64 {
		fields.Add("symbol", "must be at most 64 characters")
	}
	switch k := DealKind(strings.TrimSpace(c.Query("kind"))); k {
	case DealKindTrades, DealKindMoney:
		f.Kind = k
	case "", "all":
	default:
		fields.Add("kind", "is one of trades, money, all")
	}
	switch v := c.Query("cancelled"); v {
	case "", "false", "0":
	case "true", "1", "on":
		f.Cancelled = true
	default:
		fields.Add("cancelled", "is true or false")
	}
	return f, fields.Err()
}

// DealResponse is a stored deal in the API: money (profit, commission, swap, in the account's currency) and lots as
// exact decimal strings; a cancelled deal carries when, a changed one when and what it was before.
type DealResponse struct {
	Ticket     string `json:"ticket"`
	Order      string `json:"order,omitempty"`
	PositionID string `json:"position_id,omitempty"`
	DealValues
	Currency    string      `json:"currency"`
	CancelledAt *time.Time  `json:"cancelled_at,omitempty"`
	ChangedAt   *time.Time  `json:"changed_at,omitempty"`
	Previous    *DealValues `json:"previous,omitempty"`
}

// DealValues are what a deal says (a changed deal's previous values too), money and lots as exact decimal strings.
type DealValues struct {
	Action     string    `json:"action"`
	Entry      string    `json:"entry,omitempty"`
	Symbol     string    `json:"symbol,omitempty"`
	Volume     string    `json:"volume"`
	Price      string    `json:"price"`
	Profit     string    `json:"profit"`
	Commission string    `json:"commission"`
	Swap       string    `json:"swap"`
	Time       time.Time `json:"time"`
	Comment    string    `json:"comment,omitempty"`
}

func dealValues(d Deal) DealValues {
	return DealValues{Action: string(d.Action), Entry: string(d.Entry), Symbol: d.Symbol, Volume: d.Volume.String(), Price: d.Price.String(),
		Profit: d.Profit.String(), Commission: d.Commission.String(), Swap: d.Swap.String(), Time: d.Time, Comment: d.Comment}
}

// ToDealResponse is a stored deal of an account in currency as the API shows it.
func ToDealResponse(d StoredDeal, currency string) DealResponse {
	out := DealResponse{Ticket: d.Ticket, Order: d.Order, PositionID: d.PositionID, DealValues: dealValues(d.Deal), Currency: currency,
		CancelledAt: d.CancelledAt, ChangedAt: d.ChangedAt}
	if d.Previous != nil {
		v := dealValues(*d.Previous)
		out.Previous = &v
	}
	return out
}

// AccountDealsResponse is a page of an account's deals with the account.
type AccountDealsResponse struct {
	Account    AccountResponse `json:"account"`
	Items      []DealResponse  `json:"items"`
	NextCursor *string         `json:"next_cursor"`
}

// accountDealsPage reads the filter and the page of an account's deals (limit+1 rows, for web.MakePaged).
func (s *Service) accountDealsPage(c *fiber.Ctx, cursors *web.Cursors, a Account) ([]StoredDeal, int, error) {
	f, err := dealFilter(c)
	if err != nil {
		return nil, 0, err
	}
	var after DealCursor
	limit, first, err := cursors.PageQuery(c, &after)
	if err != nil {
		return nil, 0, err
	}
	var from *DealCursor
	if !first {
		from = &after
	}
	list, err := s.AccountDeals(c.UserContext(), tenants.Current(c), a, f, from, limit+1)
	return list, limit, err
}

func dealCursorOf(d StoredDeal) any { return DealCursor{Time: d.Time, Ticket: d.Ticket} }

// dealRoutes are the account's deals' API.
func dealRoutes(api *web.API, s *Service) {
	cursors := web.NewCursors([]byte("brokerdesk trading account deals cursor v1 (positions only, nothing secret)"))
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/accounts/:id/deals", Permission: PermRead, Tag: "trading",
		Response: AccountDealsResponse{},
		Summary: "A trading account's deals as synced, newest first: from, to (dates, to included), symbol, kind=trades|money|all, " +
			"cancelled=true (cancelled ones too); money and lots as decimal strings; cursor paged",
		Handler: func(c *fiber.Ctx) error {
			a, _, err := s.staffAccount(c)
			if err != nil {
				return err
			}
			list, limit, err := s.accountDealsPage(c, cursors, a)
			if err != nil {
				return err
			}
			page, err := web.MakePaged(cursors, list, limit, dealCursorOf)
			if err != nil {
				return err
			}
			out := AccountDealsResponse{Account: ToAccountResponse(a), Items: make([]DealResponse, 0, len(page.Items)), NextCursor: page.NextCursor}
			for _, d := range page.Items {
				out.Items = append(out.Items, ToDealResponse(d, a.Currency.Code))
			}
			return c.JSON(out)
		}})
}

// Example for the OpenAPI document (web.Exampler).
func (DealResponse) Example() any {
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	return DealResponse{Ticket: "1048576", Order: "2097152", PositionID: "2097152", DealValues: DealValues{Action: string(trading.ActionBuy),
		Entry: string(trading.EntryOut), Symbol: "EURUSD", Volume: "0.10", Price: "1.08412", Profit: "12.40", Commission: "-0.70",
		Swap: decimal.Zero.String(), Time: at}, Currency: "USD"}
}
