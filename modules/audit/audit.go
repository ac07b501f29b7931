// Package audit is the room for the audit trail: who (staff, client, operator, the system, an API key) did what
// (an action such as "staff.invited") to which record, what changed (a redacted diff), and from where (IP, user
// agent, request id), for every state-changing action in a brokerage; the back office's audit page (pages.go) reads
// it.
//
// Each tenant's rows form a hash chain (see Hash and docs/audit.md): each row stores the previous row's hash and
// its own SHA-256 over a canonical encoding of its fields, so Verify can name the first row that was altered,
// deleted or reordered. Rows are written by Record in the caller's own transaction, so a change never commits
// without its audit row, and the tenant role can neither update nor delete them (migration 0002_audit).
package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ActorKind says what kind of party acted.
type ActorKind string

const (
	ActorStaff    ActorKind = "staff"
	ActorClient   ActorKind = "client"
	ActorOperator ActorKind = "operator"
	ActorSystem   ActorKind = "system"
	ActorAPIKey   ActorKind = "api_key"
)

// Valid reports whether k is one of the known kinds.
func (k ActorKind) Valid() bool {
	switch k {
	case ActorStaff, ActorClient, ActorOperator, ActorSystem, ActorAPIKey:
		return true
	}
	return false
}

// Actor is who acted: a staff user's, client's, operator's or API key's id, or a label for the system part that
// acted on its own (e.g. "provisioning", "withdrawal-sweeper").
type Actor struct {
	Kind ActorKind
	ID   string
}

// System is an actor for work the platform did on its own.
func System(label string) Actor { return Actor{Kind: ActorSystem, ID: label} }

// Target is the record acted on, e.g. {"staff_user", "<uuid>"}.
type Target struct {
	Type string
	ID   string
}

// Origin is where a request came from. A zero field is filled from the context (see WithOrigin).
type Origin struct {
	IP        netip.Addr
	UserAgent string
	RequestID string
}

// Entry is one action to record.
type Entry struct {
	Actor  Actor
	Action string // "<area>.<verb in the past tense>", lower case: "staff.invited", "withdrawal.approved"
	Target Target
	// Before and After are the target's state around the change, as anything encoding/json marshals; nil for
	// "did not exist". Only the differences are kept, with secrets and document contents redacted (see Diff).
	Before, After any
	Origin        Origin
}

// Row is one stored audit row.
type Row struct {
	Seq      int64
	At       time.Time
	Actor    Actor
	Action   string
	Target   Target
	Diff     []byte // canonical JSON, exactly as hashed
	Origin   Origin
	PrevHash Hash
	Hash     Hash
}

// Limits on entry fields. An entry over them is refused rather than cut, except the user agent, which comes
// from the client and is cut (at a character boundary) so a long header cannot block the action it accompanies.
const (
	maxIDLen        = 200
	maxUserAgentLen = 512
	maxRequestIDLen = 128
)

var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// ErrInvalidEntry is wrapped by every error about an entry's content.
var ErrInvalidEntry = errors.New("invalid audit entry")

// Service records, lists and verifies audit trails.
type Service struct {
	gate *tenants.Gate
	book *phrasebook // how rows read (phrases.go): declared by the modules while wiring
}

// NewService returns the audit service. Record uses only the caller's transaction; List and Verify open their
// own read-only scopes through gate.
func NewService(gate *tenants.Gate) *Service { return &Service{gate: gate, book: newPhrasebook()} }

// Record appends e to the audit trail of the tenant whose scope tx is (see tenants.Gate.Scope), in that same
// transaction: the row commits exactly when the caller's change does.
//
// Appends are serialised per tenant by a row lock on the chain head that is held until tx ends, so call Record as
// the last statement before commit: the shorter the hold, the more actions per second a tenant can take, and a
// transaction that takes other locks after Record can deadlock with one that took them before. Under REPEATABLE
// READ or SERIALIZABLE a concurrent append makes Record fail with a serialization error (40001); retry the whole
// transaction, as for any such error.
func (s *Service) Record(ctx context.Context, tx pgx.Tx, e Entry) error {
	return record(ctx, tx, tenantTables, e)
}

// chainTables names a chain's tables: the log, its head, and the rows waiting for their transaction's commit. A
// tenant's are unqualified (the scope's search_path finds them); the platform's are schema-qualified (platform.go).
type chainTables struct{ log, head, pending string }

var tenantTables = chainTables{log: "audit_log", head: "audit_chain", pending: "audit_pending"}

// record appends e to the chain in tb, in tx: Record's and Platform.Record's one implementation.
func record(ctx context.Context, tx pgx.Tx, tb chainTables, e Entry) error {
	if err := validate(&e); err != nil {
		return err
	}
	fillOrigin(ctx, &e.Origin)
	diff, err := Diff(e.Before, e.After)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidEntry, e.Action, err)
	}
	// The row waits in the pending table (no lock taken) until the transaction commits; then the seal (tenant
	// migration 0016) locks the head, appends it with its seq, time and hash, and removes it. The head is locked
	// only for the commit itself, so a tenant's audited transactions never queue behind one another's round trips.
	// Until then the row is in no one's audit_log, the transaction's own reads included. Nobody reads its answer,
	// so it travels with the transaction's next statement (database.ExecLater).
	err = database.ExecLater(ctx, tx, `INSERT INTO `+tb.pending+` (actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
		request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		string(e.Actor.Kind), e.Actor.ID, e.Action, e.Target.Type, e.Target.ID, diff, ipText(e.Origin.IP), e.Origin.UserAgent,
		e.Origin.RequestID)
	if err != nil {
		return fmt.Errorf("audit %s: record: %w", e.Action, err)
	}
	return nil
}

func validate(e *Entry) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidEntry, fmt.Sprintf(format, a...))
	}
	for _, s := range []string{e.Actor.ID, e.Target.Type, e.Target.ID, e.Origin.RequestID} {
		if strings.ContainsRune(s, 0) {
			return bad("NUL in %q", s)
		}
	}
	switch {
	case !e.Actor.Kind.Valid():
		return bad("actor kind %q", e.Actor.Kind)
	case e.Actor.ID == "" || len(e.Actor.ID) > maxIDLen || !utf8.ValidString(e.Actor.ID):
		return bad("actor id must be 1 to %d bytes of UTF-8", maxIDLen)
	case !actionPattern.MatchString(e.Action) || len(e.Action) > maxIDLen:
		return bad("action %q must look like area.verb (lower case, dot-separated)", e.Action)
	case e.Target.Type == "" || len(e.Target.Type) > maxIDLen || !utf8.ValidString(e.Target.Type):
		return bad("target type must be 1 to %d bytes of UTF-8", maxIDLen)
	case len(e.Target.ID) > maxIDLen || !utf8.ValidString(e.Target.ID):
		return bad("target id must be at most %d bytes of UTF-8", maxIDLen)
	case len(e.Origin.RequestID) > maxRequestIDLen || !utf8.ValidString(e.Origin.RequestID):
		return bad("request id must be at most %d bytes of UTF-8", maxRequestIDLen)
	}
	return nil
}

// fillOrigin completes o from the context and normalises it to what is stored and hashed.
func fillOrigin(ctx context.Context, o *Origin) {
	from := OriginFrom(ctx)
	if !o.IP.IsValid() {
		o.IP = from.IP
	}
	if o.UserAgent == "" {
		o.UserAgent = from.UserAgent
	}
	if o.RequestID == "" {
		o.RequestID = from.RequestID
	}
	if o.RequestID == "" {
		o.RequestID = logging.RequestID(ctx)
	}
	// One address, one text: an IPv4 client seen through an IPv6 socket is the IPv4 address, and a zone is a
	// property of the server's interface, not of the client.
	o.IP = o.IP.Unmap().WithZone("")
	o.UserAgent = cut(o.UserAgent, maxUserAgentLen)
}

// cut shortens s to at most n bytes of valid UTF-8 without NULs (which Postgres text cannot hold).
func cut(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func ipText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

type originKey struct{}

// WithOrigin returns ctx carrying the request's origin, for every Record made with it. The HTTP layer sets it
// once per request (see OriginMiddleware), so services need not pass IPs around.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin in ctx, if any.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
