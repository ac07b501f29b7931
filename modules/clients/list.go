package clients

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Viewer is the staff user (or API key) reading clients, for the object-level rule: when the tenant's setting
// managers_see_own_clients_only is on, a staff user whose roles are only sales and/or retention sees only the
// clients they manage. API keys and every other role see every client their permission allows.
type Viewer struct {
	StaffID uuid.UUID
	Roles   []string
}

// ownOnly reports whether v sees only their own clients under st.
func (v Viewer) ownOnly(st Settings) bool {
	if !st.ManagersSeeOwnClientsOnly || len(v.Roles) == 0 {
		return false
	}
	for _, r := range v.Roles {
		if r != "sales" && r != "retention" {
			return false
		}
	}
	return true
}

// Filter narrows List; zero fields do not filter.
type Filter struct {
	// Query matches a client id exactly, an email by prefix, or a name or email by substring (case-insensitive).
	Query     string
	Status    Status
	Country   string
	ManagerID uuid.UUID
	// Unassigned lists clients without a manager (ManagerID is then ignored).
	Unassigned bool
	Tier       string
	// Since lists clients registered at or after it.
	Since time.Time
}

// After is a List position: the last row of the previous page.
type After struct {
	CreatedAt time.Time `json:"c"`
	ID        uuid.UUID `json:"i"`
}

// Key is the position after c.
func Key(c Client) After { return After{CreatedAt: c.CreatedAt, ID: c.ID} }

// MaxQueryLen bounds a search.
const MaxQueryLen = 200

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// List returns up to limit+1 clients matching f that v may see, newest first, after the position after (nil for
// the first page): one more than limit tells the caller there is a next page (web.MakePaged).
func (s *Service) List(ctx context.Context, t tenants.Tenant, v Viewer, f Filter, after *After, limit int) ([]Client, error) {
	var out []Client
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		var args []any
		arg := func(x any) string { args = append(args, x); return "$" + strconv.Itoa(len(args)) }
		where := listWhere(v, st, f, arg)
		if after != nil {
			where = append(where, "(c.created_at, c.id) < ("+arg(after.CreatedAt)+", "+arg(after.ID)+")")
		}
		sql := `SELECT ` + clientColumns + clientFrom
		if len(where) > 0 {
			sql += " WHERE " + strings.Join(where, " AND ")
		}
		sql += " ORDER BY c.created_at DESC, c.id DESC LIMIT " + arg(limit+1)
		rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanClient(r) })
		return err
	})
	return out, err
}

// Count is how many clients List would show v with f, on every page together (the dashboard's tiles, whose numbers
// link to the list with the same filter). A filter on the registration time or the status reads its index.
func (s *Service) Count(ctx context.Context, t tenants.Tenant, v Viewer, f Filter) (int, error) {
	var n int
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		var args []any
		arg := func(x any) string { args = append(args, x); return "$" + strconv.Itoa(len(args)) }
		sql := `SELECT count(*) FROM clients c`
		if where := listWhere(v, st, f, arg); len(where) > 0 {
			sql += " WHERE " + strings.Join(where, " AND ")
		}
		return tx.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count clients: %w", err)
	}
	return n, nil
}

// listWhere is the WHERE conditions of List and Count: the viewer's rule, then f (arg adds a query argument and
// returns its placeholder).
func listWhere(v Viewer, st Settings, f Filter, arg func(any) string) []string {
	var where []string
	if v.ownOnly(st) {
		where = append(where, "c.manager_id = "+arg(v.StaffID))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		if id, err := uuid.Parse(q); err == nil {
			where = append(where, "c.id = "+arg(id))
		} else if strings.Contains(q, "@") {
			where = append(where, "c.email LIKE "+arg(likeEscaper.Replace(strings.ToLower(q))+"%"))
		} else {
			// lower() and LIKE rather than ILIKE: the same answer, several times cheaper per row (emails are
			// stored lower case).
			p := arg("%" + likeEscaper.Replace(strings.ToLower(q)) + "%")
			where = append(where, "(lower(c.first_name || ' ' || c.last_name) LIKE "+p+" OR c.email LIKE "+p+")")
		}
	}
	if f.Status != "" {
		where = append(where, "c.status = "+arg(string(f.Status)))
	}
	if f.Country != "" {
		where = append(where, "c.country = "+arg(f.Country))
	}
	if f.Unassigned {
		where = append(where, "c.manager_id IS NULL")
	} else if f.ManagerID != uuid.Nil {
		where = append(where, "c.manager_id = "+arg(f.ManagerID))
	}
	if f.Tier != "" {
		where = append(where, "c.tier = "+arg(f.Tier))
	}
	if !f.Since.IsZero() {
		where = append(where, "c.created_at >= "+arg(f.Since))
	}
	return where
}

// GetFor is Get for a viewer: ErrNotFound for a client the object-level rule hides from v.
func (s *Service) GetFor(ctx context.Context, t tenants.Tenant, v Viewer, id uuid.UUID) (Client, error) {
	var c Client
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = s.getForTx(ctx, tx, v, id)
		return err
	})
	return c, err
}

func (s *Service) getForTx(ctx context.Context, tx pgx.Tx, v Viewer, id uuid.UUID) (Client, error) {
	c, err := s.GetTx(ctx, tx, id)
	if err != nil {
		return c, err
	}
	st, err := settingsTx(ctx, tx)
	if err != nil {
		return Client{}, err
	}
	if v.ownOnly(st) && (c.ManagerID == nil || *c.ManagerID != v.StaffID) {
		return Client{}, ErrNotFound
	}
	return c, nil
}

// Manager is a staff user who can manage clients (the list's filter and the settings' manager rules).
type Manager struct {
	ID    uuid.UUID
	Name  string
	Email string
	Roles []string
}

// Managers lists the tenant's active staff holding sales or retention, by name.
func (s *Service) Managers(ctx context.Context, t tenants.Tenant) ([]Manager, error) {
	var out []Manager
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		members, err := staff.ActiveWithRoles(ctx, tx, staff.RoleSales, staff.RoleRetention)
		for _, m := range members {
			roles := make([]string, len(m.Roles))
			for i, r := range m.Roles {
				roles[i] = string(r)
			}
			out = append(out, Manager{ID: m.ID, Name: m.FullName, Email: m.Email, Roles: roles})
		}
		return err
	})
	return out, err
}

// managerName finds id among ms ("" when absent).
func managerName(ms []Manager, id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	i := slices.IndexFunc(ms, func(m Manager) bool { return m.ID == *id })
	if i < 0 {
		return id.String()
	}
	return ms[i].Name
}
