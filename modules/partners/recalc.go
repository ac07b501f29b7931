package partners

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Recalculation (docs/partners.md, "Recalculation"): a partner's deals of a period computed again with today's
// tree and plans (the tree at each deal's time as it is recorded today, moves and attributions dated in the past
// included; each partner's plan today at its latest version), compared with what the partner's stored rows add up
// to on each deal, per level. A preview writes nothing. Posting writes, for each deal that differs, a new generation
// of the deal: a reversal of each of the partner's rows not yet reversed and the partner's row as computed now, in
// the transaction that bumps the deal's generation (partner_deal_states, locked), so the engine's own changes and a
// recalculation never interleave on one deal. The batch poster then posts the new rows like any other. Running it
// again finds nothing to change: the stored rows then add up to what the computation gives.
//
// Only the named partner's rows change; the other levels of the same deals keep theirs (recalculate them by name).
// CPA rows are not recalculated.

// ActionRecalculated is the audited action of a recalculation that wrote rows.
const ActionRecalculated = "partner.recalculated"

// RecalcMaxDays bounds a recalculation's period.
const RecalcMaxDays = 366

// RecalcLine is one level of one deal whose amount for the partner differs: Before what its stored rows add up to,
// After what it computes to now (minor units of Currency).
type RecalcLine struct {
	ServerID    uuid.UUID
	Ticket      string
	Login       string
	Symbol      string
	Lots        decimal.Decimal
	DealTime    time.Time
	Level       int
	Currency    string
	Before      int64
	After       int64
	PlanVersion int    // the version computed with now (0: the partner earns nothing at this level now)
	Why         string // the computed row in words
}

// Recalc is a recalculation's outcome: its lines, the net difference per currency, and what was written.
type Recalc struct {
	ID         *uuid.UUID // the run, when rows were written
	PartnerID  uuid.UUID
	From, To   time.Time // dates; To included
	Deals      int       // deals examined
	Changed    int       // deals that differ
	Lines      []RecalcLine
	Difference map[string]int64
	Posted     bool
	Rows       int // rows written
}

// RecalcInput is a recalculation's request: the period (dates, to included), whether to write, and why.
type RecalcInput struct {
	From, To string
	Post     bool
	Reason   string
}

// Recalculate computes partner's deals of the period again and compares (a preview), or writes the differences
// (in.Post, which needs a reason), audited as actor.
func (s *Service) Recalculate(ctx context.Context, t tenants.Tenant, actor audit.Actor, partner uuid.UUID, in RecalcInput) (Recalc, error) {
	var f validation.Fields
	day := func(field, v string) time.Time {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
		if err != nil {
			f.Add(field, "must be a date, YYYY-MM-DD")
		}
		return d
	}
	from, to := day("from", in.From), day("to", in.To)
	if !f.Has("from") && !f.Has("to") {
		switch {
		case to.Before(from):
			f.Add("to", "must be on or after from")
		case to.Sub(from) > RecalcMaxDays*24*time.Hour:
			f.Add("to", "at most "+strconv.Itoa(RecalcMaxDays)+" days after from")
		}
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Post {
		if err := checkReason(in.Reason); err != nil {
			f.Merge(err)
		}
	}
	f.MaxLen("reason", in.Reason, 500)
	if err := f.Err(); err != nil {
		return Recalc{}, err
	}
	out := Recalc{PartnerID: partner, From: from, To: to, Difference: map[string]int64{}, Posted: in.Post}
	run := func(ctx context.Context, tx pgx.Tx) error {
		if _, err := partnerTx(ctx, tx, partner); err != nil {
			return err
		}
		return s.recalcTx(ctx, tx, t, actor, &out, in)
	}
	var err error
	if in.Post {
		err = s.o.Gate.Scope(ctx, t, run)
	} else {
		err = s.readOnly(ctx, t, run)
	}
	return out, err
}

// recalcDeal is a deal as its stored rows describe it.
type recalcDeal struct {
	account tradingdesk.DealAccount
	deal    tradingdesk.Deal
	held    *int64
}

// recalcDealsTx lists the deals of the period the partner may earn on: those it has rows on, and those of clients
// ever attributed to it or to a partner ever below it (a move or an attribution dated in the past may have put them
// under it). Each is read from its newest computed rows, so a changed deal is taken as it is now; a deal the
// platform cancelled or that no longer closes is left out.
func recalcDealsTx(ctx context.Context, tx pgx.Tx, partner uuid.UUID, from, to time.Time) ([]recalcDeal, error) {
	rows, err := tx.Query(ctx, `WITH RECURSIVE sub(id) AS (
			SELECT $1::uuid UNION SELECT pp.partner_id FROM partner_parents pp JOIN sub ON pp.parent_id = sub.id),
		cl AS (SELECT DISTINCT client_id FROM partner_attributions WHERE partner_id IN (SELECT id FROM sub)),
		deals AS (
			SELECT DISTINCT ON (server_id, ticket) server_id, ticket, login, account_id, client_id, symbol, lots, deal_time, reason
			FROM partner_commissions c
			WHERE source = 'deal' AND kind <> 'reversal' AND deal_time >= $2 AND deal_time < $3
				AND (partner_id = $1 OR client_id IN (SELECT client_id FROM cl))
			ORDER BY server_id, ticket, generation DESC, level)
		SELECT d.server_id, d.ticket, d.login, d.account_id, d.client_id, d.symbol, d.lots, d.deal_time,
			(SELECT (h.explanation->>'held_seconds')::bigint FROM partner_commissions h WHERE h.source = 'deal' AND h.server_id = d.server_id
				AND h.ticket = d.ticket AND h.kind <> 'reversal' AND h.explanation ? 'held_seconds' ORDER BY h.generation DESC LIMIT 1)
		FROM deals d WHERE d.reason NOT IN ('deal_cancelled', 'deal_not_closing')
		ORDER BY d.deal_time, d.server_id, d.ticket`, partner, from, to.AddDate(0, 0, 1))
	if err != nil {
		return nil, fmt.Errorf("partners: recalculation's deals: %w", err)
	}
	var out []recalcDeal
	var d recalcDeal
	if _, err := pgx.ForEachRow(rows, []any{&d.account.ServerID, &d.deal.Ticket, &d.account.Login, &d.account.AccountID, &d.account.ClientID,
		&d.deal.Symbol, &d.deal.Volume, &d.deal.Time, &d.held}, func() error {
		out = append(out, d)
		d = recalcDeal{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("partners: recalculation's deals: %w", err)
	}
	return out, nil
}

type levelCur struct {
	level    int
	currency string
}

func (s *Service) recalcTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, actor audit.Actor, out *Recalc, in RecalcInput) error {
	deals, err := recalcDealsTx(ctx, tx, out.PartnerID, out.From, out.To)
	if err != nil {
		return err
	}
	out.Deals = len(deals)
	runID := uuid.Must(uuid.NewV7())
	says := "recalculated with today's tree and plans: " + in.Reason
	book := newDealBook()
	var clients []uuid.UUID
	for _, d := range deals {
		if d.account.ClientID != nil {
			clients = append(clients, *d.account.ClientID)
		}
	}
	if err := book.load(ctx, tx, clients); err != nil {
		return err
	}
	for _, d := range deals {
		gen := 0
		if in.Post { // the deal's state row, locked: the engine's changes of this deal wait for this transaction
			if err := tx.QueryRow(ctx, `SELECT generation FROM partner_deal_states WHERE server_id = $1 AND ticket = $2 FOR UPDATE`,
				d.account.ServerID, d.deal.Ticket).Scan(&gen); err != nil {
				return fmt.Errorf("partners: deal state of %s: %w", d.deal.Ticket, err)
			}
		}
		before := map[levelCur]int64{}
		// The partner's paid rows of the deal (by the row key) and their reversals (each names the paid row it takes
		// back, with its level and currency).
		rows, err := tx.Query(ctx, `SELECT c.level, c.currency, sum(c.amount + coalesce(r.amount, 0))::bigint
			FROM partner_commissions c LEFT JOIN partner_commissions r ON r.reverses = c.id
			WHERE c.source = 'deal' AND c.server_id = $1 AND c.ticket = $2 AND c.partner_id = $3 AND c.kind = 'paid' GROUP BY c.level, c.currency`,
			d.account.ServerID, d.deal.Ticket, out.PartnerID)
		if err != nil {
			return err
		}
		var k levelCur
		var sum int64
		if _, err := pgx.ForEachRow(rows, []any{&k.level, &k.currency, &sum}, func() error { before[k] = sum; return nil }); err != nil {
			return err
		}
		computed, err := s.dealRowsTx(ctx, tx, t, book, d.account, d.deal, gen+1, computeWith{latestPlans: true, held: d.held})
		if err != nil {
			return err
		}
		var mine *row
		for i := range computed {
			if computed[i].partner != nil && *computed[i].partner == out.PartnerID {
				mine = &computed[i]
				break
			}
		}
		after := map[levelCur]int64{}
		if mine != nil && mine.kind == KindPaid {
			after[levelCur{mine.level, mine.currency}] = mine.amount
		}
		keys := slices.Collect(maps.Keys(before))
		for k := range after {
			if _, ok := before[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b levelCur) int {
			if a.level != b.level {
				return a.level - b.level
			}
			return strings.Compare(a.currency, b.currency)
		})
		changed := false
		for _, k := range keys {
			if before[k] == after[k] {
				continue
			}
			changed = true
			line := RecalcLine{ServerID: d.account.ServerID, Ticket: d.deal.Ticket, Login: d.account.Login, Symbol: d.deal.Symbol, Lots: d.deal.Volume,
				DealTime: d.deal.Time, Level: k.level, Currency: k.currency, Before: before[k], After: after[k]}
			if mine != nil && mine.level == k.level {
				line.PlanVersion = mine.planVersion
				if mine.kind == KindPaid {
					line.Why = explainPaid(mine.explanation)
				} else {
					line.Why = Explain[mine.reason]
				}
			} else {
				line.Why = "no longer earns at this level"
			}
			out.Lines = append(out.Lines, line)
			out.Difference[k.currency] += after[k] - before[k]
		}
		if !changed {
			continue
		}
		out.Changed++
		if !in.Post {
			continue
		}
		n, err := s.writeRecalcTx(ctx, tx, t, d, gen+1, out.PartnerID, mine, runID, says)
		if err != nil {
			return err
		}
		out.Rows += n
	}
	if !in.Post || out.Rows == 0 {
		return nil
	}
	out.ID = &runID
	diff, err := json.Marshal(out.Difference)
	if err != nil {
		return err
	}
	by, err := json.Marshal(actor)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO partner_recalcs (id, partner_id, period_from, period_to, reason, actor, deals, rows_written, difference)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, runID, out.PartnerID, out.From, out.To, in.Reason, by, out.Changed, out.Rows, diff); err != nil {
		return fmt.Errorf("partners: recalculation: %w", err)
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionRecalculated, Target: audit.Target{Type: partnerTarget, ID: out.PartnerID.String()},
		After: map[string]string{"from": out.From.Format(time.DateOnly), "to": out.To.Format(time.DateOnly), "deals": strconv.Itoa(out.Changed),
			"difference": formatDifference(out.Difference), "reason": in.Reason, "run": runID.String()}})
}

// writeRecalcTx writes generation gen of one deal for the partner: its rows not yet reversed, reversed, and its
// row as computed now (mine; none when it no longer earns on the deal), and announces them to the partner
// (partners.commission_recorded, as the engine does: its portal updates live). It returns the rows written.
func (s *Service) writeRecalcTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, d recalcDeal, gen int, partner uuid.UUID, mine *row, runID uuid.UUID, says string) (int, error) {
	if _, err := tx.Exec(ctx, `UPDATE partner_deal_states SET generation = $3 WHERE server_id = $1 AND ticket = $2`,
		d.account.ServerID, d.deal.Ticket, gen); err != nil {
		return 0, fmt.Errorf("partners: deal state of %s: %w", d.deal.Ticket, err)
	}
	var n int
	err := tx.QueryRow(ctx, `WITH `+writeID+`, ins AS (
			INSERT INTO partner_commissions (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
				plan_version, kind, amount, currency, symbol, lots, deal_time, explanation, reverses, write_id)
			SELECT source, server_id, ticket, $3, login, account_id, client_id, level, partner_id, plan_id, plan_version, 'reversal', -amount,
				currency, symbol, lots, deal_time, jsonb_build_object('says', $5::text, 'change', 'recalculated', 'recalc', $6::text), id,
				(SELECT id FROM w)
			FROM partner_commissions c WHERE source = 'deal' AND server_id = $1 AND ticket = $2 AND partner_id = $4 AND kind = 'paid'
				AND NOT EXISTS (SELECT 1 FROM partner_commissions r WHERE r.reverses = c.id)
			RETURNING id, kind),
		`+queueWrite+`
		SELECT count(*) FROM ins`,
		d.account.ServerID, d.deal.Ticket, gen, partner, says, runID.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("partners: reverse deal %s: %w", d.deal.Ticket, err)
	}
	if mine != nil {
		mine.explanation.Says = strings.TrimSpace(mine.explanation.Says + " (" + says + ")")
		if err := insertRowTx(ctx, tx, *mine); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	server := d.account.ServerID
	return n, s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceDeal, ServerID: &server, Ticket: d.deal.Ticket, Generation: gen}, &partner)
}

// formatDifference is a net difference per currency in words: "+12.50 USD, -3.00 EUR".
func formatDifference(m map[string]int64) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		v := m[code]
		c, ok := money.Lookup(code)
		if !ok || v == 0 {
			continue
		}
		sign := "+"
		if v < 0 {
			sign = ""
		}
		parts = append(parts, sign+money.Format(v, c)+" "+code)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// PartnerByCode is the partner holding a referral code (compared without case), or ErrNotFound.
func (s *Service) PartnerByCode(ctx context.Context, t tenants.Tenant, code string) (Partner, error) {
	id, err := s.partnerByCode(ctx, t, code)
	if err != nil {
		return Partner{}, err
	}
	return s.Partner(ctx, t, id)
}
