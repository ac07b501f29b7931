package payments

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Group commit of callbacks on the straight path: many paid deposits completed in one transaction, one statement
// per step for the whole group, so a busy gateway's callbacks share the statements, round trips and commit a
// callback alone would pay for each, and the gateway's clearing account is moved once per group.
//
// An authenticated callback that is on the straight path (paid, saying how much, for one of our deposits by its
// id) joins its gateway's queue. There is no timer: while the gateway's groups run (inFlight of them at most),
// the callbacks that arrive wait, and when a group ends, those waiting (up to maxGroup) are the next group, as
// Postgres groups commits. At low load a group is one callback, so nothing waits longer than it would alone. A
// tenant's gateways have queues of their own: no group mixes tenants or gateways.
//
// The group's transaction (groupTx), top to bottom:
//
//	one per event and deposit  a second callback with the same event id or reference goes alone (below)
//	match and lock             the group's deposits, one statement, in one fixed order (by id)
//	straight?                  pending, the currency and amount asked: the others go alone
//	the policy gate            the group's clients, one read (clients.MayEachTx): a client refused goes alone
//	record                     the callbacks, one statement, as credited; an event id recorded before goes alone
//	complete                   completeEachTx: the ledger's transactions in one batch (ledger.PostEachTx), the
//	                           deposits completed and numbered in one statement, deposit.completed and the audit row
//	                           of each, the live pages woken
//	commit                     and only then each handler answers its processor
//
// A callback that leaves the straight path goes "alone": after the group's transaction ends, its handler records
// and applies it in a transaction of its own (applyAlone, recordTx), exactly as if it had never been in a group,
// so every unusual outcome (a case for finance, a duplicate, already done, ...) has one place. If the group's
// transaction fails for any reason, every callback of the group goes alone: one bad callback fails only itself.
//
// A handler whose request is cancelled while its callback waits takes it out of the queue (nothing recorded: the
// processor sends it again); once its group has taken it, the group's transaction decides, and the processor's
// next delivery is a duplicate.
//
// Locks: a group locks its deposits (in id order) before it records its callbacks, a callback alone records itself
// first. So a redelivery running alone while the group that holds its deposit records the same event id can wait
// in a cycle; Postgres breaks it (deadlock_timeout, 1 s) by failing one of the two, which then goes alone or is
// answered with a retry: slower, never wrong.

// maxGroup bounds a group: the callbacks of one transaction.
const maxGroup = 64

// inFlight is how many groups of one gateway run at once. With one, a group's round trips to Postgres and the
// server's work between them left a core idle (40% of the machine during the deposit benchmark); with two, one
// group's statements run while the other waits for its next. Two groups never wait on each other in a cycle:
// every group takes its locks in the same steps (deposits, ledger accounts it creates, wallets and the clearing
// account's balance row, deposit counts, the audit chain at commit), each step in one order, and every lock
// belongs to one step; two groups sharing a client simply queue at that client's wallet. The clearing account's
// balance row is one of its shards, picked by the group's first ledger transaction.
const inFlight = 2

// groupTimeout bounds a group's transaction (its handlers' own deadlines do not stop it).
const groupTimeout = 30 * time.Second

// straight reports whether a callback may join a group: paid, saying how much, about one of our deposits by its id.
func (c received) straight() bool {
	if c.parseErr != nil || c.n.Status != NotifiedPaid || !c.n.AmountKnown || strings.HasPrefix(c.n.Reference, PayoutReferencePrefix) {
		return false
	}
	_, err := uuid.Parse(c.n.Reference)
	return err == nil
}

// groups are the queues of callbacks waiting for their gateway's next group, by tenant and gateway.
type groups struct {
	mu      sync.Mutex
	waiting map[groupKey][]*member
	running map[groupKey]int // groups running or about to take callbacks, at most inFlight
	hold    chan struct{}    // tests: groups wait for it to close before taking their callbacks
	midTx   func(size int)   // tests: runs inside each group's transaction once its deposits are completed
}

type groupKey struct{ tenant, gateway uuid.UUID }

// member is a callback in a queue or a group, with what the group did with it.
type member struct {
	ctx   context.Context // its request's, without the cancellation: the audit row's origin
	c     received
	row   storedCallback
	taken bool          // a group took it: the group's transaction decides
	done  chan struct{} // closed when its group's transaction has ended
	// Set by the group when it committed the callback: its result. Otherwise it goes alone.
	r        CallbackResult
	credited bool
	d        Deposit
}

// joinGroup queues c for its gateway's next group and waits for that group's transaction: the result if the
// group credited it; alone if it must be recorded and applied in a transaction of its own.
func (s *Service) joinGroup(ctx context.Context, t tenants.Tenant, c received) (r CallbackResult, alone bool, err error) {
	row, err := c.row()
	if err != nil {
		return CallbackResult{}, false, err
	}
	m := &member{ctx: context.WithoutCancel(ctx), c: c, row: row, done: make(chan struct{})}
	k := groupKey{t.ID, c.g.ID}
	q := &s.groups
	q.mu.Lock()
	if q.waiting == nil {
		q.waiting, q.running = map[groupKey][]*member{}, map[groupKey]int{}
	}
	q.waiting[k] = append(q.waiting[k], m)
	if q.running[k] < inFlight {
		q.running[k]++
		go s.runGroups(t, k)
	}
	q.mu.Unlock()
	select {
	case <-m.done:
		return m.r, !m.credited, nil
	case <-ctx.Done():
		q.mu.Lock()
		if !m.taken {
			q.waiting[k] = slices.DeleteFunc(q.waiting[k], func(o *member) bool { return o == m })
		}
		q.mu.Unlock()
		return CallbackResult{}, false, ctx.Err()
	}
}

// runGroups commits groups of queue k one after the other while callbacks wait in it; up to inFlight of them run
// side by side, each taking what waits when its last group ends.
func (s *Service) runGroups(t tenants.Tenant, k groupKey) {
	q := &s.groups
	for {
		q.mu.Lock()
		hold := q.hold
		q.mu.Unlock()
		if hold != nil {
			<-hold
		}
		q.mu.Lock()
		list := q.waiting[k]
		if len(list) == 0 {
			if q.running[k]--; q.running[k] == 0 {
				delete(q.waiting, k)
				delete(q.running, k)
			}
			q.mu.Unlock()
			return
		}
		group := slices.Clone(list[:min(len(list), maxGroup)])
		q.waiting[k] = slices.Clone(list[len(group):])
		for _, m := range group {
			m.taken = true
		}
		q.mu.Unlock()
		s.commitGroup(t, group)
		for _, m := range group {
			close(m.done)
		}
	}
}

// commitGroup runs a group's transaction; if it fails, every callback of the group goes alone.
func (s *Service) commitGroup(t tenants.Tenant, group []*member) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	s.metrics.groupSize.Observe(float64(len(group)))
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error { return s.groupTx(ctx, tx, t, group) })
	if err != nil {
		s.o.Log.WarnContext(ctx, "a group of payment callbacks failed; each goes alone", "gateway", group[0].c.g.Slug,
			"callbacks", len(group), "err", err)
		for _, m := range group {
			m.credited, m.r = false, CallbackResult{}
		}
	}
}

// groupTx credits the group's callbacks that are on the straight path, in tx (see the top of this file); the others
// are left to go alone.
func (s *Service) groupTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, group []*member) error {
	g := group[0].c.g
	// One per event id and one per deposit: a second is judged after the first commits, as it would be alone.
	events, refs := map[string]bool{}, map[string]bool{}
	var list []*member
	var ids []uuid.UUID
	for _, m := range group {
		if events[m.row.eventID] || refs[m.c.n.Reference] {
			continue
		}
		events[m.row.eventID], refs[m.c.n.Reference] = true, true
		list = append(list, m)
		ids = append(ids, uuid.MustParse(m.c.n.Reference))
	}

	// Match and lock the deposits, in one fixed order; keep those waiting for exactly this payment.
	deposits, err := all(ctx, tx, scanDeposit, `SELECT `+depositColumns+depositFrom+`
		WHERE d.id = ANY($1) AND d.gateway_id = $2 ORDER BY d.id FOR UPDATE OF d`, ids, g.ID)
	if err != nil {
		return fmt.Errorf("payments: match a group's deposits: %w", err)
	}
	byID := make(map[uuid.UUID]Deposit, len(deposits))
	for _, d := range deposits {
		byID[d.ID] = d
	}
	list = slices.DeleteFunc(list, func(m *member) bool {
		d, ok := byID[uuid.MustParse(m.c.n.Reference)]
		paid := m.c.n.Amount
		if !ok || d.Status != StatusPending || paid.Currency.Code != d.Amount.Currency.Code || paid.Minor != d.Amount.Minor {
			return true
		}
		m.d = d
		return false
	})
	if len(list) == 0 {
		return nil
	}

	// The policy gate, for the group's clients at once.
	owners := make([]uuid.UUID, 0, len(list))
	for _, m := range list {
		owners = append(owners, m.d.ClientID)
	}
	decisions, err := s.o.Clients.MayEachTx(ctx, tx, owners, clients.ActionDeposit)
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(m *member) bool { return !decisions[m.d.ClientID].Allowed })
	if len(list) == 0 {
		return nil
	}

	// Record the callbacks, credited; an event id recorded before (a delivery again) records nothing and goes alone.
	n := len(list)
	var (
		cbIDs, depIDs                                              = make([]uuid.UUID, n), make([]uuid.UUID, n)
		eventIDs, types, statuses, references, externals, currency = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts                                                    = make([]int64, n)
		sums                                                       = make([][]byte, n)
		bodies                                                     = make([]string, n)
	)
	for i, m := range list {
		r := m.row
		cbIDs[i], depIDs[i], eventIDs[i], types[i], statuses[i] = r.id, m.d.ID, r.eventID, r.eventType, r.status
		references[i], externals[i], currency[i], amounts[i], sums[i], bodies[i] = r.reference, r.externalID, r.cur, *r.amount, r.sum, r.body
	}
	rows, err := tx.Query(ctx, `INSERT INTO payment_callbacks (id, gateway_id, event_id, event_type, status, reference, external_id,
			amount, currency, body_sha256, body, outcome, deposit_id)
		SELECT id, $1, e, ty, st, ref, ext, am, cur, sha, body, 'credited', dep
		FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bytea[],
			$11::text[], $12::uuid[]) WITH ORDINALITY AS x(id, e, ty, st, ref, ext, am, cur, sha, body, dep, n)
		ORDER BY n
		ON CONFLICT (gateway_id, event_id) DO NOTHING RETURNING id`,
		g.ID, cbIDs, eventIDs, types, statuses, references, externals, amounts, currency, sums, bodies, depIDs)
	if err != nil {
		return fmt.Errorf("payments: record a group's callbacks: %w", err)
	}
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("payments: record a group's callbacks: %w", err)
	}
	list = slices.DeleteFunc(list, func(m *member) bool { return !slices.Contains(recorded, m.row.id) })
	if len(list) == 0 {
		return nil
	}

	// Complete the deposits: the money, the numbers, deposit.completed, the audit rows.
	done := make([]completion, len(list))
	for i, m := range list {
		event := m.c.n.EventID
		if event == "" {
			event = m.row.eventID // the body's hash
		}
		done[i] = completion{ctx: m.ctx, d: m.d, from: ledger.Clearing(g.Slug, m.d.Amount.Currency), actor: systemActor,
			meta: map[string]any{"callback": m.row.id, "event": event, "external_id": m.c.n.ExternalID}}
	}
	if err := s.completeEachTx(ctx, tx, t, g, done); err != nil {
		return err
	}
	if s.groups.midTx != nil {
		s.groups.midTx(len(list))
	}
	for _, m := range list {
		m.credited, m.r = true, CallbackResult{Outcome: OutcomeCredited, Deposit: m.d.ID, Callback: m.row.id}
	}
	return nil
}
