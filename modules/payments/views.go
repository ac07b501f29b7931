package payments

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Reads for the pages and the dashboard: names of the clients and staff rows point at, the callbacks and cases
// around a deposit or a client, and the day's figures. Each is one read-only scope; clients and staff are named by
// their own modules' functions, never by reading their tables here.

// names holds the clients' and staff users' names a page shows, by id.
type names struct {
	clients map[string]audit.Ref
	staff   map[string]audit.Ref
}

// client is a client's name (the id when the client is unknown or erased).
func (n names) client(id uuid.UUID) string {
	if r, ok := n.clients[id.String()]; ok && r.Name != " " {
		return r.Name
	}
	return id.String()
}

// staffName is a staff user's name, "" for nil.
func (n names) staffName(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	if r, ok := n.staff[id.String()]; ok {
		return r.Name
	}
	return id.String()
}

// namesTx names clientIDs and staffIDs in tx.
func namesTx(ctx context.Context, tx pgx.Tx, clientIDs, staffIDs []uuid.UUID) (names, error) {
	str := func(ids []uuid.UUID) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if id != uuid.Nil && !slices.Contains(out, id.String()) {
				out = append(out, id.String())
			}
		}
		return out
	}
	var n names
	var err error
	if n.clients, err = clients.NameClients(ctx, tx, str(clientIDs)); err != nil {
		return n, err
	}
	n.staff, err = staff.NameStaff(ctx, tx, str(staffIDs))
	return n, err
}

// names reads namesTx in its own scope.
func (s *Service) names(ctx context.Context, t tenants.Tenant, clientIDs, staffIDs []uuid.UUID) (names, error) {
	var n names
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		n, err = namesTx(ctx, tx, clientIDs, staffIDs)
		return err
	})
	return n, err
}

// visibleClients is the clients module's object-level rule for v: limited is false when v sees every client.
func (s *Service) visibleClients(ctx context.Context, t tenants.Tenant, v clients.Viewer) (ids []uuid.UUID, limited bool, err error) {
	err = s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		ids, limited, err = clients.VisibleTx(ctx, tx, v)
		return err
	})
	return ids, limited, err
}

// managedBy lists the ids of the clients manager manages.
func (s *Service) managedBy(ctx context.Context, t tenants.Tenant, manager uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		ids, err = clients.ManagedByTx(ctx, tx, manager)
		return err
	})
	return ids, err
}

// managers lists the staff who manage clients (sales and retention), by name: the deposits list's manager filter.
func (s *Service) managers(ctx context.Context, t tenants.Tenant) ([]staff.Member, error) {
	var out []staff.Member
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = staff.ActiveWithRoles(ctx, tx, staff.RoleSales, staff.RoleRetention)
		return err
	})
	return out, err
}

// CallbackView is a processor's callback as a page shows it.
type CallbackView struct {
	ID         uuid.UUID
	EventID    string
	EventType  string
	Status     string
	Outcome    string
	Reference  string
	ExternalID string
	Body       string
	ReceivedAt time.Time
}

const callbackColumns = `id, event_id, event_type, status, outcome, reference, external_id, body, received_at`

func scanCallback(r pgx.Row) (CallbackView, error) {
	var v CallbackView
	err := r.Scan(&v.ID, &v.EventID, &v.EventType, &v.Status, &v.Outcome, &v.Reference, &v.ExternalID, &v.Body, &v.ReceivedAt)
	return v, err
}

// depositContext is what the deposit page shows around a deposit: the callbacks about it and its cases.
type depositContext struct {
	Callbacks []CallbackView
	Cases     []Case
}

func (s *Service) depositContext(ctx context.Context, t tenants.Tenant, id uuid.UUID) (depositContext, error) {
	var out depositContext
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if out.Callbacks, err = all(ctx, tx, scanCallback, `SELECT `+callbackColumns+` FROM payment_callbacks WHERE deposit_id = $1
			ORDER BY received_at, id`, id); err != nil {
			return err
		}
		out.Cases, err = all(ctx, tx, scanCase, `SELECT `+caseColumns+` FROM payment_exceptions WHERE deposit_id = $1 ORDER BY opened_at, id`, id)
		return err
	})
	return out, err
}

// callback reads one callback (the raw payload a case shows).
func (s *Service) callback(ctx context.Context, t tenants.Tenant, id uuid.UUID) (CallbackView, error) {
	var v CallbackView
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		v, err = scanCallback(tx.QueryRow(ctx, `SELECT `+callbackColumns+` FROM payment_callbacks WHERE id = $1`, id))
		return err
	})
	return v, err
}

// clientMoney is the client page's money: the client's last deposits and the open cases about them.
type clientMoney struct {
	Deposits []Deposit
	Cases    []Case
}

// clientMoney reads the client's last limit deposits and open cases.
func (s *Service) clientMoney(ctx context.Context, t tenants.Tenant, client uuid.UUID, limit int) (clientMoney, error) {
	var out clientMoney
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if out.Deposits, err = all(ctx, tx, scanDeposit, `SELECT `+depositColumns+depositFrom+` WHERE d.client_id = $1
			ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, client, limit); err != nil {
			return err
		}
		out.Cases, err = all(ctx, tx, scanCase, `SELECT `+caseColumns+` FROM payment_exceptions WHERE status = 'open' AND client_id = $1
			ORDER BY due_at, id`, client)
		return err
	})
	return out, err
}

// GatewayTotal is one gateway's completed deposits of the day, per currency.
type GatewayTotal struct {
	Name   string
	Count  int
	Totals []money.Amount
}

// DaySummary is a day's completed deposits: how many, the sum per currency, and the same per gateway.
type DaySummary struct {
	Since     time.Time // midnight UTC: the deposits list's "since" filter that shows the same rows
	Count     int
	Totals    []money.Amount // per currency, by code
	Counts    map[string]int // per currency code
	ByGateway []GatewayTotal // by name
}

// today is midnight UTC of now's day.
func (s *Service) today() time.Time {
	now := s.o.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// depositsToday sums the deposits started today (UTC) and completed, per currency and gateway, in one query over
// the deposits_status index: what the deposits list shows with status=completed&since=<today>. clientIDs limits it
// to those clients (nil: all).
func (s *Service) depositsToday(ctx context.Context, t tenants.Tenant, clientIDs []uuid.UUID) (DaySummary, error) {
	out := DaySummary{Since: s.today(), Counts: map[string]int{}}
	q := `SELECT g.name, d.currency, d.exponent, count(*), sum(d.amount)::bigint FROM deposits d
		JOIN payment_gateways g ON g.id = d.gateway_id WHERE d.status = 'completed' AND d.created_at >= $1`
	args := []any{out.Since}
	if clientIDs != nil {
		q += ` AND d.client_id = ANY($2)`
		args = append(args, clientIDs)
	}
	q += ` GROUP BY g.name, d.currency, d.exponent ORDER BY g.name, d.currency`
	totals := map[string]money.Amount{}
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var a money.Amount
			var exp int16
			var n int
			if err := rows.Scan(&name, &a.Currency.Code, &exp, &n, &a.Minor); err != nil {
				return err
			}
			a.Currency.Exponent = int(exp)
			if len(out.ByGateway) == 0 || out.ByGateway[len(out.ByGateway)-1].Name != name {
				out.ByGateway = append(out.ByGateway, GatewayTotal{Name: name})
			}
			g := &out.ByGateway[len(out.ByGateway)-1]
			g.Count += n
			g.Totals = append(g.Totals, a)
			out.Count += n
			out.Counts[a.Currency.Code] += n
			sum := totals[a.Currency.Code]
			sum.Currency, sum.Minor = a.Currency, sum.Minor+a.Minor
			totals[a.Currency.Code] = sum
		}
		return rows.Err()
	})
	if err != nil {
		return DaySummary{}, fmt.Errorf("payments: deposits today: %w", err)
	}
	for _, a := range totals {
		out.Totals = append(out.Totals, a)
	}
	slices.SortFunc(out.Totals, func(a, b money.Amount) int { return cmp.Compare(a.Currency.Code, b.Currency.Code) })
	return out, nil
}

// openCases counts the open cases and those past their due time, over the queue's partial index.
func (s *Service) openCases(ctx context.Context, t tenants.Tenant) (open, overdue int, err error) {
	err = s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at < $1) FROM payment_exceptions WHERE status = 'open'`,
			s.o.Now()).Scan(&open, &overdue)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("payments: open cases: %w", err)
	}
	return open, overdue, nil
}

// awaitingApproval counts the manual deposits waiting for their second approval.
func (s *Service) awaitingApproval(ctx context.Context, t tenants.Tenant) (int, error) {
	var n int
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM deposits WHERE status = 'awaiting_approval'`).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("payments: deposits awaiting approval: %w", err)
	}
	return n, nil
}

// chartCurrencies lists the currencies the chart can show: those of the enabled gateways and of the deposits
// completed in its window, by code.
func (s *Service) chartCurrencies(ctx context.Context, t tenants.Tenant) ([]string, error) {
	var out []string
	first := s.today().AddDate(0, 0, -(ChartDays - 1))
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT c FROM (
			SELECT currency AS c FROM deposits WHERE status = 'completed' AND created_at >= $1
			UNION SELECT unnest(currencies) FROM payment_gateways WHERE enabled) x ORDER BY c`, first.AddDate(0, 0, -30))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}
