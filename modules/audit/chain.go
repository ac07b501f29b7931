package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Hash is a row's SHA-256.
type Hash [sha256.Size]byte

// String is the lowercase hex of h.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// hashVersion opens every hashed encoding, so a future encoding cannot collide with this one.
const hashVersion = "brokerdesk-audit-v1"

// TimeLayout is how a row's time enters its hash: UTC with exactly six fractional digits, the precision Postgres
// stores. A fixed width (unlike RFC3339Nano, which drops trailing zeros) is easy to reproduce in any language.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// ComputeHash returns SHA-256 over the row's canonical encoding: each of these fields, in this order, as its
// length in bytes (4 bytes, big-endian) followed by its bytes:
//
//	"brokerdesk-audit-v1", prev_hash (32 raw bytes; zeros for row 1), seq (decimal), time (TimeLayout, UTC),
//	actor kind, actor id, action, target type, target id, ip (text, "" if none), user agent, request id, diff
//	(the stored canonical JSON bytes)
//
// Text is UTF-8. Length prefixes make the encoding unambiguous: no two different rows encode to the same bytes,
// however their fields are split. docs/audit.md repeats this with a query that recomputes it in SQL.
func (r Row) ComputeHash() Hash {
	h := sha256.New()
	var num [20]byte
	writeField(h, hashVersion)
	writeBytes(h, r.PrevHash[:])
	writeBytes(h, strconv.AppendInt(num[:0], r.Seq, 10))
	var ts [len(TimeLayout)]byte
	writeBytes(h, r.At.UTC().AppendFormat(ts[:0], TimeLayout))
	writeTail(h, r)
	var out Hash
	h.Sum(out[:0])
	return out
}

// writeTail writes the fields after the time: what a row says, known before its place in the chain is. (The seal
// in tenant migration 0016 computes the same encoding in SQL when the row joins the chain.)
func writeTail(w io.Writer, r Row) {
	writeField(w, string(r.Actor.Kind))
	writeField(w, r.Actor.ID)
	writeField(w, r.Action)
	writeField(w, r.Target.Type)
	writeField(w, r.Target.ID)
	writeField(w, ipText(r.Origin.IP))
	writeField(w, r.Origin.UserAgent)
	writeField(w, r.Origin.RequestID)
	writeBytes(w, r.Diff)
}

// writeBytes writes one field: its length (4 bytes, big-endian), then its bytes.
func writeBytes(w io.Writer, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	_, _ = w.Write(n[:])
	_, _ = w.Write(b)
}

// writeField writes one string field without copying it to a byte slice.
func writeField(w io.Writer, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	_, _ = w.Write(n[:])
	_, _ = io.WriteString(w, s)
}

// ProblemKind names what Verify found wrong.
type ProblemKind string

const (
	// ProblemMissing: a row is gone. Seq is the first missing row; rows were deleted from the middle (the next row
	// has a higher seq) or from the end (the chain head records more rows than exist).
	ProblemMissing ProblemKind = "missing row"
	// ProblemBrokenLink: the row's prev_hash is not the previous row's hash. The rows were reordered, a row was
	// inserted before it, or the previous row was rewritten together with its own hash.
	ProblemBrokenLink ProblemKind = "broken link"
	// ProblemHashMismatch: the row's fields no longer give its stored hash: the row was altered.
	ProblemHashMismatch ProblemKind = "hash mismatch"
	// ProblemHeadMismatch: the rows are consistent with each other but not with the chain head: rows were added
	// without the append trigger, or the last row was rewritten together with its hash.
	ProblemHeadMismatch ProblemKind = "head mismatch"
)

// Problem is the first thing wrong with a chain.
type Problem struct {
	Seq    int64 // the first bad row
	Kind   ProblemKind
	Detail string
}

func (p Problem) String() string {
	return fmt.Sprintf("row %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is what Verify found.
type Report struct {
	Rows     int64    // rows checked, in seq order, up to and including the first bad one
	HeadSeq  int64    // the chain head's seq: the number of rows ever appended
	HeadHash Hash     // the chain head's hash: write it down somewhere else to detect a rewrite of the whole chain
	Problem  *Problem // nil when the chain is intact
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Problem == nil }

// Verify walks the tenant's chain in seq order and reports the first row that was altered, deleted or
// reordered. It reads one consistent snapshot, so it can run while the tenant is busy. A non-nil error means the
// check could not run; a broken chain is a Report with a Problem.
func (s *Service) Verify(ctx context.Context, t tenants.Tenant) (Report, error) {
	var rep Report
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(ctx context.Context, tx pgx.Tx) error {
			var err error
			rep, err = verify(ctx, tx, tenantTables)
			return err
		})
	if err != nil {
		return Report{}, fmt.Errorf("verify audit chain of %s: %w", t.Slug, err)
	}
	return rep, nil
}

func verify(ctx context.Context, tx pgx.Tx, tb chainTables) (Report, error) {
	var rep Report
	var head []byte
	if err := tx.QueryRow(ctx, `SELECT last_seq, last_hash FROM `+tb.head).Scan(&rep.HeadSeq, &head); err != nil {
		return rep, fmt.Errorf("read chain head: %w", err)
	}
	copy(rep.HeadHash[:], head)
	rows, err := tx.Query(ctx, `SELECT seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff,
		ip, user_agent, request_id, prev_hash, hash FROM `+tb.log+` ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("read audit rows: %w", err)
	}
	defer rows.Close()
	var (
		r              Row
		kind, ip       string
		prevRaw, hashR []byte
		prev           Hash // the previous row's stored hash; zeros before row 1
		lastSeq        int64
		at             time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&r.Seq, &at, &kind, &r.Actor.ID, &r.Action, &r.Target.Type, &r.Target.ID, &r.Diff,
			&ip, &r.Origin.UserAgent, &r.Origin.RequestID, &prevRaw, &hashR); err != nil {
			return rep, fmt.Errorf("read audit row after %d: %w", lastSeq, err)
		}
		rep.Rows++
		r.At, r.Actor.Kind = at, ActorKind(kind)
		// The hash covers the address's one canonical text; any other spelling of it was written by someone else.
		var ipErr error
		if r.Origin.IP, ipErr = parseIP(ip); ipErr == nil && ipText(r.Origin.IP) != ip {
			ipErr = fmt.Errorf("not in canonical form")
		}
		copy(r.PrevHash[:], prevRaw)
		copy(r.Hash[:], hashR)
		switch {
		case r.Seq > lastSeq+1:
			rep.Problem = &Problem{lastSeq + 1, ProblemMissing, fmt.Sprintf("the row after %d is %d: %s deleted",
				lastSeq, r.Seq, span(lastSeq+1, r.Seq-1))}
		case r.Seq <= lastSeq:
			rep.Problem = &Problem{r.Seq, ProblemBrokenLink, fmt.Sprintf("seq %d appears again after row %d", r.Seq, lastSeq)}
		case len(prevRaw) != len(prev) || r.PrevHash != prev:
			rep.Problem = &Problem{r.Seq, ProblemBrokenLink, fmt.Sprintf("its prev_hash %x is not row %d's hash %s: rows reordered, "+
				"a row inserted, or row %d rewritten with a new hash", prevRaw, lastSeq, prev, lastSeq)}
		case ipErr != nil:
			rep.Problem = &Problem{r.Seq, ProblemHashMismatch, fmt.Sprintf("ip %q is not as Record writes it (%v): the row was altered", ip, ipErr)}
		case len(hashR) != len(r.Hash):
			rep.Problem = &Problem{r.Seq, ProblemHashMismatch, fmt.Sprintf("stored hash %x is not a SHA-256", hashR)}
		default:
			if got := r.ComputeHash(); got != r.Hash {
				rep.Problem = &Problem{r.Seq, ProblemHashMismatch, fmt.Sprintf("its fields hash to %s, not the stored %s: "+
					"the row was altered after it was written", got, r.Hash)}
			}
		}
		if rep.Problem != nil {
			return rep, nil
		}
		prev, lastSeq = r.Hash, r.Seq
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read audit rows after %d: %w", lastSeq, err)
	}
	switch {
	case rep.HeadSeq > lastSeq:
		rep.Problem = &Problem{lastSeq + 1, ProblemMissing, fmt.Sprintf("the chain head records %d rows but the last is %d: %s deleted",
			rep.HeadSeq, lastSeq, span(lastSeq+1, rep.HeadSeq))}
	case rep.HeadSeq < lastSeq:
		rep.Problem = &Problem{rep.HeadSeq + 1, ProblemHeadMismatch, fmt.Sprintf("the chain head records %d rows but rows go on to %d: "+
			"rows added without the append trigger", rep.HeadSeq, lastSeq)}
	case !bytes.Equal(head, prev[:]):
		rep.Problem = &Problem{lastSeq, ProblemHeadMismatch, fmt.Sprintf("the chain head records hash %x for row %d, the row has %s: "+
			"the last row was rewritten with a new hash", head, lastSeq, prev)}
	}
	return rep, nil
}

func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("row %d was", from)
	}
	return fmt.Sprintf("rows %d to %d were", from, to)
}

func parseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}
