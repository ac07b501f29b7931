package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Filter narrows List. Zero fields do not filter.
type Filter struct {
	ActorKind ActorKind
	ActorID   string // only with ActorKind
	// ActionPrefix matches actions that start with it, byte for byte: "staff." for every staff action,
	// "staff.invited" for that one (and any "staff.invited_..." there may be).
	ActionPrefix string
	TargetType   string
	TargetID     string    // only with TargetType
	From, To     time.Time // From <= time < To
	// Targets matches rows about any of these records (a client's timeline: the client, their documents, their
	// review cases); each needs its type and id.
	Targets []Target
	// Actions matches rows whose action is one of these (a kind of the trail's phrases).
	Actions []string
}

// Page is one page of List, newest first. Next is the cursor of the following page, "" after the last.
type Page struct {
	Rows []Row
	Next string
}

// DefaultLimit and MaxLimit bound a page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ErrBadCursor is returned for a cursor List did not make.
var ErrBadCursor = errors.New("invalid audit cursor")

// ErrBadFilter is returned for a filter that cannot be served.
var ErrBadFilter = errors.New("invalid audit filter")

// List returns the tenant's audit rows matching f, newest first, limit at a time (DefaultLimit if limit <= 0,
// at most MaxLimit). cursor is "" for the first page, then the previous page's Next. Paging is by seq, so rows
// appended while a reader pages do not shift or repeat what it sees.
//
// Each filter has an index (migration 0002_audit): actor and target filters walk (kind, id, seq) and
// (type, id, seq) in seq order, an action prefix is a byte range on (action, seq), a time range uses created_at.
func (s *Service) List(ctx context.Context, t tenants.Tenant, f Filter, cursor string, limit int) (Page, error) {
	sql, args, limit, err := listQuery(f, cursor, limit)
	if err != nil {
		return Page{}, err
	}
	var page Page
	err = s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, append([]any{listExecMode}, args...)...)
		if err != nil {
			return err
		}
		page.Rows, err = pgx.CollectRows(rows, scanRow)
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("list audit rows of %s: %w", t.Slug, err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		page.Next = encodeCursor(page.Rows[limit-1].Seq)
	}
	return page, nil
}

// listExecMode runs List's queries as unnamed statements, planned for their actual arguments every time. A cached
// prepared statement turns generic after a few runs, and a generic plan cannot tell a rare action prefix from a
// common one: it walks the primary key backwards filtering on action, which for a rare prefix reads the whole
// log. The filters also combine into many distinct SQL texts that would only crowd pgx's statement cache.
const listExecMode = pgx.QueryExecModeExec

// listQuery builds List's SQL; it asks for one row more than limit to know whether there is a next page.
func listQuery(f Filter, cursor string, limit int) (string, []any, int, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.ActorKind != "" {
		if !f.ActorKind.Valid() {
			return "", nil, 0, fmt.Errorf("%w: actor kind %q", ErrBadFilter, f.ActorKind)
		}
		where = append(where, "actor_kind = "+arg(string(f.ActorKind)))
		if f.ActorID != "" {
			where = append(where, "actor_id = "+arg(f.ActorID))
		}
	} else if f.ActorID != "" {
		return "", nil, 0, fmt.Errorf("%w: an actor id needs its kind", ErrBadFilter)
	}
	if f.ActionPrefix != "" {
		// Actions are lower-case ASCII, so a prefix outside that alphabet matches nothing; refusing it also keeps
		// the upper bound below valid UTF-8.
		if !actionPrefixPattern.MatchString(f.ActionPrefix) {
			return "", nil, 0, fmt.Errorf("%w: action prefix %q (actions use a-z, 0-9, '_' and '.')", ErrBadFilter, f.ActionPrefix)
		}
		upper, _ := prefixUpperBound(f.ActionPrefix)
		where = append(where, "action >= "+arg(f.ActionPrefix), "action < "+arg(upper))
	}
	if f.TargetType != "" {
		where = append(where, "target_type = "+arg(f.TargetType))
		if f.TargetID != "" {
			where = append(where, "target_id = "+arg(f.TargetID))
		}
	} else if f.TargetID != "" {
		return "", nil, 0, fmt.Errorf("%w: a target id needs its type", ErrBadFilter)
	}
	if len(f.Targets) > 0 {
		pairs := make([]string, len(f.Targets))
		for i, tg := range f.Targets {
			if tg.Type == "" || tg.ID == "" {
				return "", nil, 0, fmt.Errorf("%w: a target needs its type and id", ErrBadFilter)
			}
			pairs[i] = "(" + arg(tg.Type) + ", " + arg(tg.ID) + ")"
		}
		where = append(where, "(target_type, target_id) IN ("+strings.Join(pairs, ", ")+")")
	}
	if len(f.Actions) > 0 {
		where = append(where, "action = ANY("+arg(f.Actions)+")")
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < "+arg(f.To))
	}
	if cursor != "" {
		seq, err := decodeCursor(cursor)
		if err != nil {
			return "", nil, 0, err
		}
		where = append(where, "seq < "+arg(seq))
	}
	sql := `SELECT seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
		request_id, prev_hash, hash FROM audit_log`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY seq DESC LIMIT " + arg(limit+1)
	return sql, args, limit, nil
}

var actionPrefixPattern = regexp.MustCompile(`^[a-z0-9_.]{1,200}$`)

// prefixUpperBound returns the least string greater than every string that starts with p (byte order, which is
// the order of the column's "C" collation); ok is false when there is none (p is all 0xff bytes).
func prefixUpperBound(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

func scanRow(r pgx.CollectableRow) (Row, error) {
	var row Row
	var kind, ip string
	var prev, hash []byte
	err := r.Scan(&row.Seq, &row.At, &kind, &row.Actor.ID, &row.Action, &row.Target.Type, &row.Target.ID, &row.Diff,
		&ip, &row.Origin.UserAgent, &row.Origin.RequestID, &prev, &hash)
	if err != nil {
		return row, err
	}
	row.At = row.At.UTC()
	row.Actor.Kind = ActorKind(kind)
	row.Origin.IP, _ = parseIP(ip) // a bad address is Verify's to report; a listing shows none
	copy(row.PrevHash[:], prev)
	copy(row.Hash[:], hash)
	return row, nil
}

// Cursors are opaque to clients so their form can change; today they carry the last seq shown.
const cursorPrefix = "a1."

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, ErrBadCursor
	}
	s, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, ErrBadCursor
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 1 {
		return 0, ErrBadCursor
	}
	return seq, nil
}
