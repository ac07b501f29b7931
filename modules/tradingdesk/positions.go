package tradingdesk

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// PositionAsk names a position whose opening a caller wants (the engines' minimum hold): the server and login, the
// position's id, and the closing deal's time, at or before which it opened.
type PositionAsk struct {
	Server   uuid.UUID
	Login    string
	Position string
	Before   time.Time
}

// PositionsOpened answers, for each ask in its order, when its position opened: the time of its first opening deal
// (entry in or inout) as deal sync stored it, at or before the ask's Before; the zero time when no opening deal is
// stored (the position opened before the account's deals were synced, or the id is unknown). One query however many
// asks, each a short read of trading_deals_position.
func (s *Service) PositionsOpened(ctx context.Context, t tenants.Tenant, asks []PositionAsk) ([]time.Time, error) {
	out := make([]time.Time, len(asks))
	if len(asks) == 0 {
		return out, nil
	}
	servers, logins, positions, befores := make([]uuid.UUID, len(asks)), make([]string, len(asks)), make([]string, len(asks)), make([]time.Time, len(asks))
	for i, a := range asks {
		servers[i], logins[i], positions[i], befores[i] = a.Server, a.Login, a.Position, a.Before
	}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT k.i, o.time
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS k(server_id, login, position_id, before, i)
			CROSS JOIN LATERAL (SELECT d.time FROM trading_deals d
				WHERE d.server_id = k.server_id AND d.login = k.login AND d.position_id = k.position_id AND d.entry IN ('in', 'inout')
					AND d.time <= k.before
				ORDER BY d.time LIMIT 1) o`, servers, logins, positions, befores)
		if err != nil {
			return err
		}
		var i int
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&i, &at}, func() error {
			out[i-1] = at
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tradingdesk: positions opened: %w", err)
	}
	return out, nil
}

// Openings answers when the positions of a batch of closing deals opened, asking once: the first question asks about
// every deal of the batch (one read, through ask), later ones are answered from that; a deal outside the batch is
// asked alone, once. The engines' minimum hold reads it, so a batch of 500 deals costs one read, not 500.
type Openings struct {
	ask     func(context.Context, []PositionAsk) ([]time.Time, error)
	pending []PositionAsk
	known   map[positionKey]time.Time
}

type positionKey struct {
	server          uuid.UUID
	login, position string
}

// NewOpenings answers through ask for deals (those with a position).
func NewOpenings(ask func(context.Context, []PositionAsk) ([]time.Time, error), deals ...DealClosed) *Openings {
	o := &Openings{ask: ask, known: map[positionKey]time.Time{}}
	for _, d := range deals {
		if d.Deal.PositionID != "" {
			o.pending = append(o.pending, PositionAsk{Server: d.ServerID, Login: d.Login, Position: d.Deal.PositionID, Before: d.Deal.Time})
		}
	}
	return o
}

// Opened is when the position of deal d on account a opened; ok is false when no opening deal is known.
func (o *Openings) Opened(ctx context.Context, a DealAccount, d Deal) (at time.Time, ok bool, err error) {
	k := positionKey{a.ServerID, a.Login, d.PositionID}
	if at, seen := o.known[k]; seen {
		return at, !at.IsZero(), nil
	}
	asks := o.pending
	o.pending = nil
	if !slices.ContainsFunc(asks, func(x PositionAsk) bool { return positionKey{x.Server, x.Login, x.Position} == k }) {
		asks = append(asks, PositionAsk{Server: a.ServerID, Login: a.Login, Position: d.PositionID, Before: d.Time})
	}
	times, err := o.ask(ctx, asks)
	if err != nil {
		return time.Time{}, false, err
	}
	for i, x := range asks {
		o.known[positionKey{x.Server, x.Login, x.Position}] = times[i]
	}
	at = o.known[k]
	return at, !at.IsZero(), nil
}
