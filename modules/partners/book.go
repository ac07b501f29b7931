package partners

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// dealBook is what the engine reads to compute deals, read once for many: the attribution history of the clients
// it was loaded for, the parent history of every partner up their trees (whatever it was at any time), those
// partners' status and plan, every version of their plans, the tenant's symbol suffixes, and the account types
// asked so far. A deal's tree is the tree at the deal's time (treeAt): effective dates are kept, so deals of one
// client at different times in one batch each see the tree of their own time. A book lives in one transaction.
type dealBook struct {
	clients  map[uuid.UUID]bool
	attrs    map[uuid.UUID][]edge // client -> partner from a time on, oldest first
	parents  map[uuid.UUID][]edge // partner -> parent from a time on, oldest first
	partners map[uuid.UUID]levelPartner
	versions map[uuid.UUID][]Plan // plan -> its versions, oldest first
	suffixes []string
	types    map[uuid.UUID]string // account -> its type
	// openings answers positions' openings (the minimum hold), a batch's at once (nil: asked per deal).
	openings *tradingdesk.Openings
}

// edge is one row of an effective-dated link: to (nil: none) from a time on.
type edge struct {
	from time.Time
	to   *uuid.UUID
}

func newDealBook() *dealBook {
	return &dealBook{clients: map[uuid.UUID]bool{}, attrs: map[uuid.UUID][]edge{}, parents: map[uuid.UUID][]edge{},
		partners: map[uuid.UUID]levelPartner{}, versions: map[uuid.UUID][]Plan{}, suffixes: nil, types: map[uuid.UUID]string{}}
}

// load reads, in one round trip, what the book lacks for clients.
func (b *dealBook) load(ctx context.Context, tx pgx.Tx, clients []uuid.UUID) error {
	var want []uuid.UUID
	for _, c := range clients {
		if !b.clients[c] {
			b.clients[c] = true
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	// The partners reachable up the tree from the clients' partners through any parent link of any time.
	const reach = `WITH RECURSIVE reach(id) AS (
			SELECT partner_id FROM partner_attributions WHERE client_id = ANY ($1) AND partner_id IS NOT NULL
			UNION SELECT pp.parent_id FROM reach JOIN partner_parents pp ON pp.partner_id = reach.id WHERE pp.parent_id IS NOT NULL) `
	var batch pgx.Batch
	batch.Queue(`SELECT client_id, effective_from, partner_id FROM partner_attributions WHERE client_id = ANY ($1) ORDER BY client_id, effective_from`,
		want)
	batch.Queue(reach+`SELECT pp.partner_id, pp.effective_from, pp.parent_id FROM partner_parents pp
		WHERE pp.partner_id IN (SELECT id FROM reach) ORDER BY pp.partner_id, pp.effective_from`, want)
	batch.Queue(reach+`SELECT pa.id, pa.status, pa.plan_id, pl.name, pl.currency, v.version, v.rules, v.created_at
		FROM partners pa LEFT JOIN partner_plans pl ON pl.id = pa.plan_id LEFT JOIN partner_plan_versions v ON v.plan_id = pa.plan_id
		WHERE pa.id IN (SELECT id FROM reach) ORDER BY pa.id, v.version`, want)
	if b.suffixes == nil {
		batch.Queue(`SELECT coalesce((SELECT symbol_suffixes FROM partner_settings), '{}')`)
	}
	res := tx.SendBatch(ctx, &batch)
	defer res.Close()

	rows, err := res.Query()
	if err != nil {
		return fmt.Errorf("partners: attributions: %w", err)
	}
	var id uuid.UUID
	var e edge
	if _, err := pgx.ForEachRow(rows, []any{&id, &e.from, &e.to}, func() error {
		b.attrs[id] = append(b.attrs[id], e)
		return nil
	}); err != nil {
		return fmt.Errorf("partners: attributions: %w", err)
	}

	if rows, err = res.Query(); err != nil {
		return fmt.Errorf("partners: parents: %w", err)
	}
	parents := map[uuid.UUID][]edge{}
	if _, err := pgx.ForEachRow(rows, []any{&id, &e.from, &e.to}, func() error {
		parents[id] = append(parents[id], e)
		return nil
	}); err != nil {
		return fmt.Errorf("partners: parents: %w", err)
	}
	for id, es := range parents {
		b.parents[id] = es
	}

	if rows, err = res.Query(); err != nil {
		return fmt.Errorf("partners: partners up the tree: %w", err)
	}
	var lp levelPartner
	var name, currency *string
	var version *int32
	var rules []byte
	var created *time.Time
	plans := map[uuid.UUID][]Plan{}
	if _, err := pgx.ForEachRow(rows, []any{&lp.id, &lp.status, &lp.plan, &name, &currency, &version, &rules, &created}, func() error {
		b.partners[lp.id] = levelPartner{id: lp.id, status: lp.status, plan: lp.plan}
		if lp.plan == nil || version == nil {
			return nil
		}
		vs := plans[*lp.plan]
		if n := len(vs); n > 0 && vs[n-1].Version >= int(*version) {
			return nil // the plan's versions, read already for another partner on it
		}
		c, ok := money.Lookup(*currency)
		if !ok {
			return fmt.Errorf("partners: plan %s has an unknown currency %q", *name, *currency)
		}
		v := Plan{ID: *lp.plan, Name: *name, Currency: c, Version: int(*version), CreatedAt: *created}
		if err := json.Unmarshal(rules, &v.Rules); err != nil {
			return fmt.Errorf("partners: plan %s v%d: %w", v.Name, v.Version, err)
		}
		plans[*lp.plan] = append(vs, v)
		return nil
	}); err != nil {
		return fmt.Errorf("partners: partners up the tree: %w", err)
	}
	for id, vs := range plans {
		b.versions[id] = vs
	}

	if b.suffixes == nil {
		var s []string
		if err := res.QueryRow().Scan(&s); err != nil {
			return fmt.Errorf("partners: symbol suffixes: %w", err)
		}
		b.suffixes = append([]string{}, s...)
	}
	return res.Close()
}

// edgeAt is the link in force at time at: the latest from at or before it (false: none yet).
func edgeAt(es []edge, at time.Time) (*uuid.UUID, bool) {
	i, _ := slices.BinarySearchFunc(es, at, func(e edge, at time.Time) int {
		if e.from.After(at) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return nil, false
	}
	return es[i-1].to, true
}

// treeAt is the partners up the tree from the client's partner at time at, nearest first, each with the version
// of its plan in force then (none when the client was attributed to no one then). The client must be loaded.
func (b *dealBook) treeAt(client uuid.UUID, at time.Time) ([]levelPartner, error) {
	first, _ := edgeAt(b.attrs[client], at)
	var out []levelPartner
	for id := first; id != nil; id, _ = edgeAt(b.parents[*id], at) {
		for _, lp := range out {
			if lp.id == *id {
				return nil, fmt.Errorf("partners: the tree above client %s has a cycle at %s", client, at)
			}
		}
		lp, ok := b.partners[*id]
		if !ok {
			return nil, fmt.Errorf("partners: partner %s up the tree of client %s not read", *id, client)
		}
		if lp.plan != nil {
			v, err := b.planAt(*lp.plan, at)
			if err != nil {
				return nil, err
			}
			lp.version = &v
		}
		out = append(out, lp)
	}
	return out, nil
}

// planAt is the version of a plan in force at time at: the latest made at or before it, or the first when the plan
// is younger than the deal (planAtTx's choice).
func (b *dealBook) planAt(plan uuid.UUID, at time.Time) (Plan, error) {
	vs := b.versions[plan]
	if len(vs) == 0 {
		return Plan{}, fmt.Errorf("partners: plan %s: %w", plan, ErrNotFound)
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].CreatedAt.After(at) {
			return vs[i], nil
		}
	}
	return vs[0], nil
}

// latestPlan is a plan's latest version.
func (b *dealBook) latestPlan(plan uuid.UUID) (Plan, error) {
	vs := b.versions[plan]
	if len(vs) == 0 {
		return Plan{}, fmt.Errorf("partners: plan %s: %w", plan, ErrNotFound)
	}
	return vs[len(vs)-1], nil
}

// openingsFor is the book's openings, made to ask tr deal by deal when the book was not given a batch's.
func (b *dealBook) openingsFor(tr Trades, t tenants.Tenant) *tradingdesk.Openings {
	if b.openings == nil {
		b.openings = tradingdesk.NewOpenings(func(ctx context.Context, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
			return tr.PositionsOpened(ctx, t, asks)
		})
	}
	return b.openings
}

// accountType is an account's type, asked of the Trades seam once per account per book.
func (b *dealBook) accountType(ctx context.Context, tr Trades, t tenants.Tenant, account uuid.UUID) (string, error) {
	if typ, ok := b.types[account]; ok {
		return typ, nil
	}
	typ, err := tr.AccountType(ctx, t, account)
	if err != nil {
		return "", err
	}
	b.types[account] = typ
	return typ, nil
}
