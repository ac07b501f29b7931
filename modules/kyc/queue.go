package kyc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Filter narrows the queue.
type Filter struct {
	// Status: "" lists the undecided cases (open and claimed), oldest first; StatusDecided lists decided cases,
	// latest decision first.
	Status       Status
	DocumentType documents.Type
	HolderID     *uuid.UUID // cases this officer holds
	Overdue      *bool      // waited longer than the SLA, or not (undecided cases only)
}

// Cursor is the queue's keyset position: the last row shown.
type Cursor struct {
	At time.Time `json:"t"` // opened_at, or decided_at when listing decided cases
	ID uuid.UUID `json:"i"`
}

// QueueItem is one row of the queue.
type QueueItem struct {
	Case
	ClientName        string
	ClientCountry     string
	HolderName        string
	FirstApproverName string
	// Waiting is how long the case has waited (until its decision, for a decided case); DueAt is opened + SLA.
	Waiting time.Duration
	DueAt   time.Time
	Overdue bool
}

// CursorOf is the keyset position of item in a queue listed with f.
func CursorOf(f Filter, item QueueItem) Cursor {
	if f.Status == StatusDecided && item.DecidedAt != nil {
		return Cursor{At: *item.DecidedAt, ID: item.ID}
	}
	return Cursor{At: item.OpenedAt, ID: item.ID}
}

// queueSQL builds the queue's query. Every variant reads one of the keyset indexes of migration 0009 in order and
// stops after limit rows, so a page costs the same with 100 or 100,000 cases.
func queueSQL(f Filter, after *Cursor, limit int, cutoff time.Time) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	decided := f.Status == StatusDecided
	if decided {
		where = append(where, "status = 'decided'")
	} else {
		where = append(where, "status <> 'decided'") // the partial indexes' predicate
		if f.Status != "" {
			where = append(where, "status = "+arg(string(f.Status)))
		}
		if f.Overdue != nil {
			op := ">="
			if *f.Overdue {
				op = "<"
			}
			where = append(where, "opened_at "+op+" "+arg(cutoff))
		}
	}
	if f.DocumentType != "" {
		where = append(where, "document_type = "+arg(string(f.DocumentType)))
	}
	if f.HolderID != nil {
		where = append(where, "status = 'claimed'", "holder_id = "+arg(*f.HolderID))
	}
	order := "opened_at, id"
	if decided {
		order = "decided_at DESC, id DESC"
	}
	if after != nil {
		if decided {
			where = append(where, "(decided_at, id) < ("+arg(after.At)+", "+arg(after.ID)+")")
		} else {
			where = append(where, "(opened_at, id) > ("+arg(after.At)+", "+arg(after.ID)+")")
		}
	}
	return `SELECT ` + caseColumns + ` FROM kyc_cases WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + order + ` LIMIT ` + arg(limit), args
}

// List returns up to limit cases of the queue after the cursor, with the names of their clients and officers.
func (s *Service) List(ctx context.Context, t tenants.Tenant, f Filter, after *Cursor, limit int) ([]QueueItem, Settings, error) {
	var out []QueueItem
	var st Settings
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if st, err = settingsTx(ctx, tx); err != nil {
			return err
		}
		now := s.now()
		q, args := queueSQL(f, after, limit, now.Add(-st.SLA()))
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("kyc queue: %w", err)
		}
		cases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) { return scanCase(r.Scan) })
		if err != nil {
			return fmt.Errorf("kyc queue: %w", err)
		}
		names := newNames(s.clients)
		out = make([]QueueItem, 0, len(cases))
		for _, c := range cases {
			it, err := names.item(ctx, tx, c, st, now)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	return out, st, err
}

// names reads and remembers the clients' and officers' names of one page.
type names struct {
	clients Clients
	client  map[uuid.UUID]clients.Client
	officer map[uuid.UUID]string
}

func newNames(c Clients) *names {
	return &names{clients: c, client: map[uuid.UUID]clients.Client{}, officer: map[uuid.UUID]string{}}
}

func (n *names) clientOf(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error) {
	if c, ok := n.client[id]; ok {
		return c, nil
	}
	c, err := n.clients.GetTx(ctx, tx, id)
	if err != nil {
		return c, fmt.Errorf("kyc: client %s: %w", id, err)
	}
	n.client[id] = c
	return c, nil
}

func (n *names) officerOf(ctx context.Context, tx pgx.Tx, id *uuid.UUID) (string, error) {
	if id == nil {
		return "", nil
	}
	if name, ok := n.officer[*id]; ok {
		return name, nil
	}
	m, err := staff.ByID(ctx, tx, *id)
	if errors.Is(err, staff.ErrNotFound) {
		return id.String(), nil
	}
	if err != nil {
		return "", err
	}
	name := m.FullName
	if name == "" {
		name = m.Email
	}
	n.officer[*id] = name
	return name, nil
}

func (n *names) item(ctx context.Context, tx pgx.Tx, c Case, st Settings, now time.Time) (QueueItem, error) {
	it := QueueItem{Case: c, DueAt: c.OpenedAt.Add(st.SLA())}
	cl, err := n.clientOf(ctx, tx, c.ClientID)
	if err != nil {
		return it, err
	}
	it.ClientName, it.ClientCountry = strings.TrimSpace(cl.FirstName+" "+cl.LastName), cl.Country
	if it.HolderName, err = n.officerOf(ctx, tx, c.HolderID); err != nil {
		return it, err
	}
	if it.FirstApproverName, err = n.officerOf(ctx, tx, c.FirstApproverID); err != nil {
		return it, err
	}
	end := now
	if c.DecidedAt != nil {
		end = *c.DecidedAt
	}
	it.Waiting = end.Sub(c.OpenedAt)
	it.Overdue = c.Status != StatusDecided && overdue(c.OpenedAt, now, st.SLA())
	return it, nil
}

// ChecklistState is one checklist item of a case with its tick.
type ChecklistState struct {
	ChecklistItem
	Ticked   bool
	TickedBy string
	TickedAt time.Time
}

// Detail is everything the review page shows of a case.
type Detail struct {
	Item      QueueItem
	Client    clients.Client
	Document  documents.Document
	Checklist []ChecklistState
	// Missing lists the required items not ticked yet (approving is refused until it is empty).
	Missing  []ChecklistItem
	FourEyes bool // an approval needs a second officer
	Settings Settings
}

// Detail returns one case with its client, document and checklist.
func (s *Service) Detail(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Detail, error) {
	docs := s.docs
	var d Detail
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		c, err := caseTx(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if d.Settings, err = settingsTx(ctx, tx); err != nil {
			return err
		}
		n := newNames(s.clients)
		if d.Item, err = n.item(ctx, tx, c, d.Settings, s.now()); err != nil {
			return err
		}
		d.Client = n.client[c.ClientID]
		if d.Document, err = docs.GetTx(ctx, tx, c.DocumentID); err != nil {
			return fmt.Errorf("kyc case %s: document: %w", id, err)
		}
		for _, it := range d.Settings.Checklist(c.DocumentType) {
			cs := ChecklistState{ChecklistItem: it}
			if tk, ok := c.Ticks[it.Key]; ok {
				cs.Ticked, cs.TickedAt = true, tk.At
				if cs.TickedBy, err = n.officerOf(ctx, tx, &tk.By); err != nil {
					return err
				}
			}
			d.Checklist = append(d.Checklist, cs)
		}
		d.Missing = missingItems(d.Settings.Checklist(c.DocumentType), c.Ticks)
		d.FourEyes = fourEyes(d.Settings, d.Client.Country)
		return nil
	})
	return d, err
}

// ViewURL is a short-lived link to the case's document for officer (documents.ViewURL: audited as a view).
func (s *Service) ViewURL(ctx context.Context, t tenants.Tenant, d Detail, actor audit.Actor) (string, error) {
	docs := s.docs
	return docs.ViewURL(ctx, t, d.Document.ID, actor)
}

// Holder is an officer holding cases.
type Holder struct {
	ID   uuid.UUID
	Name string
}

// Holders lists the officers who hold cases now, by name (the queue page's holder filter).
func (s *Service) Holders(ctx context.Context, t tenants.Tenant) ([]Holder, error) {
	var out []Holder
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		// A skip scan of the holder index: one probe per officer, however many cases each holds.
		rows, err := tx.Query(ctx, `WITH RECURSIVE h AS (
				(SELECT holder_id FROM kyc_cases WHERE status = 'claimed' ORDER BY holder_id LIMIT 1)
				UNION ALL
				SELECT (SELECT k.holder_id FROM kyc_cases k WHERE k.status = 'claimed' AND k.holder_id > h.holder_id
					ORDER BY k.holder_id LIMIT 1) FROM h WHERE h.holder_id IS NOT NULL)
			SELECT holder_id FROM h WHERE holder_id IS NOT NULL`)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		n := newNames(s.clients)
		for _, id := range ids {
			name, err := n.officerOf(ctx, tx, &id)
			if err != nil {
				return err
			}
			out = append(out, Holder{ID: id, Name: name})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Holder) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}
