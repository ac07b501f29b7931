package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// The trail in words. Every module that records actions declares how each one reads (a Phrase), how its records
// are named (a NameFunc for its actor kind or target type) and which of its records are about a client (a
// RelateFunc), on the audit service it holds, through its front door (frontdoor.Door.Trail). The audit page, a
// client's timeline and a client's data export then tell every row as a sentence such as "Colin Compliance
// approved the passport", without this package knowing any module. A row whose action has no phrase still reads
// (a plain fallback), and cmd/brokerdesk's TestEveryAuditedActionHasASentence fails until it has one.

// Ref is a party or record as a sentence names it: a name, the back-office page about it when there is one, and
// whose it is (a document's client) when that tells it apart on the audit page.
type Ref struct {
	Name  string
	Href  string
	Owner *Ref
}

// Part is one piece of a sentence: text, or a named reference.
type Part struct {
	Text string
	Ref  *Ref
}

// Sentence is an audit row in words.
type Sentence []Part

// Say builds a sentence from its pieces: strings are text, Refs are names (linked where they have a page), and
// anything else is printed as fmt's %v does. Empty strings are dropped.
func Say(pieces ...any) Sentence {
	out := make(Sentence, 0, len(pieces))
	for _, p := range pieces {
		switch v := p.(type) {
		case string:
			if v != "" {
				out = append(out, Part{Text: v})
			}
		case Ref:
			out = append(out, Part{Ref: &v})
		case *Ref:
			if v != nil {
				out = append(out, Part{Ref: v})
			}
		case Sentence:
			out = append(out, v...)
		default:
			out = append(out, Part{Text: fmt.Sprint(v)})
		}
	}
	return out
}

// String is the sentence as plain text (exports, emails, logs).
func (s Sentence) String() string {
	var b strings.Builder
	for _, p := range s {
		if p.Ref != nil {
			b.WriteString(p.Ref.Name)
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// HTML is the sentence for a page: text escaped, names linked to their pages.
func (s Sentence) HTML() template.HTML {
	var b strings.Builder
	for _, p := range s {
		switch {
		case p.Ref == nil:
			b.WriteString(template.HTMLEscapeString(p.Text))
		case p.Ref.Href != "":
			fmt.Fprintf(&b, `<a href="%s">%s</a>`, template.HTMLEscapeString(p.Ref.Href), template.HTMLEscapeString(p.Ref.Name))
		default:
			b.WriteString(template.HTMLEscapeString(p.Ref.Name))
		}
	}
	return template.HTML(b.String()) //nolint:gosec // every piece is escaped above
}

// Event is one row as a phrase reads it: the row, its actor and target by name, and its diff's values.
type Event struct {
	Row
	Actor, Target Ref
	changes       map[string]change
}

type change struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// Before is the value the diff holds before the change at pointer ("/status"): a JSON string as its text, any
// other value as its JSON, "" when the diff has none.
func (e Event) Before(pointer string) string { return jsonText(e.changes[pointer].Before) }

// After is the value after the change at pointer, as Before reads it.
func (e Event) After(pointer string) string { return jsonText(e.changes[pointer].After) }

// AfterList is the list of strings the diff holds after the change at pointer (a weakening's "what"), nil for none.
func (e Event) AfterList(pointer string) []string {
	var out []string
	if raw := e.changes[pointer].After; len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		return []string{jsonText(raw)}
	}
	return out
}

// Weakened says what a settings change weakened (the diff's WeakenedKey list) as a sentence's tail: ": a; b", or
// "" for none.
func (e Event) Weakened() string {
	if w := e.AfterList("/" + WeakenedKey); len(w) > 0 {
		return ": " + strings.Join(w, "; ")
	}
	return ""
}

// Whose names the target's owner (" of Hannah Schmidt") unless the actor is the owner or there is none: "Colin
// Compliance approved the passport of Hannah Schmidt", but "Hannah Schmidt uploaded a passport".
func (e Event) Whose() Sentence {
	o := e.Target.Owner
	if o == nil || (o.Href != "" && o.Href == e.Actor.Href) || (o.Href == "" && o.Name == e.Actor.Name) {
		return nil
	}
	return Say(" of ", *o)
}

// Changed reports whether the diff has a change at pointer.
func (e Event) Changed(pointer string) bool { _, ok := e.changes[pointer]; return ok }

func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// NewEvent is the Event of row with its actor and target named (for phrase tests; Tell builds them itself).
func NewEvent(row Row, actor, target Ref) Event {
	e := Event{Row: row, Actor: actor, Target: target}
	if len(row.Diff) > 0 {
		_ = json.Unmarshal(row.Diff, &e.changes) // a diff Record wrote is always this shape; anything else reads as empty
	}
	return e
}

// Phrase is how one audited action reads.
type Phrase struct {
	Action string
	// Kind is what the action is about, the filter of timelines and the audit page: "Status", "Documents",
	// "KYC review", "Sign-in", "Data protection", "Settings", "Staff".
	Kind string
	Say  func(e Event) Sentence
}

// NameFunc names records of one kind, by the ids audit rows hold for them, in a read-only scope of the rows'
// tenant; an id it does not know is left out (and read as "a staff user", "document 1a2b3c4d").
type NameFunc func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]Ref, error)

// UUIDs are the ids a NameFunc was given that are uuids, in order; the others name nothing.
func UUIDs(ids []string) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// RelateFunc lists the records about a subject (a client's documents and review cases), whose rows belong on the
// subject's timeline, in a read-only scope of the subject's tenant.
type RelateFunc func(ctx context.Context, tx pgx.Tx, subjectID string) ([]Target, error)

// RelatedBy is the usual RelateFunc: the records of targetType whose ids query lists, given the subject's uuid as
// $1 (`SELECT id FROM documents WHERE client_id = $1`). A subject id that is not a uuid relates nothing.
func RelatedBy(targetType, query string) RelateFunc {
	return func(ctx context.Context, tx pgx.Tx, subjectID string) ([]Target, error) {
		subject, err := uuid.Parse(subjectID)
		if err != nil {
			return nil, nil
		}
		rows, err := tx.Query(ctx, query, subject)
		if err != nil {
			return nil, fmt.Errorf("%s records related to %s: %w", targetType, subjectID, err)
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Target, error) {
			var id uuid.UUID
			err := r.Scan(&id)
			return Target{Type: targetType, ID: id.String()}, err
		})
	}
}

// Told is one row in words.
type Told struct {
	Row
	Actor, Target Ref
	Kind          string
	Sentence      Sentence
	// Known: the action has a phrase (otherwise Sentence is the fallback).
	Known bool
}

// phrasebook is what the modules declared; they declare while wiring and the pages read while serving.
type phrasebook struct {
	mu      sync.RWMutex
	phrases map[string]Phrase
	names   map[string]NameFunc
	related map[string][]RelateFunc
	errs    []error
}

func newPhrasebook() *phrasebook {
	return &phrasebook{phrases: map[string]Phrase{}, names: map[string]NameFunc{}, related: map[string][]RelateFunc{}}
}

// Phrases declares how actions read. An action declared twice, or a phrase without an action, kind or Say, is an
// error PhrasesErr reports.
func (s *Service) Phrases(ps ...Phrase) {
	b := s.book
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range ps {
		switch {
		case !actionPattern.MatchString(p.Action) || p.Kind == "" || p.Say == nil:
			b.errs = append(b.errs, fmt.Errorf("audit phrase %q: needs an action, a kind and Say", p.Action))
		case b.phrases[p.Action].Say != nil:
			b.errs = append(b.errs, fmt.Errorf("audit phrase %q declared twice", p.Action))
		default:
			b.phrases[p.Action] = p
		}
	}
}

// Names declares how the records of one actor kind or target type ("staff", "document") are named. A kind named
// twice is an error PhrasesErr reports.
func (s *Service) Names(kind string, fn NameFunc) {
	b := s.book
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.names[kind]; dup || kind == "" || fn == nil {
		b.errs = append(b.errs, fmt.Errorf("audit names of %q declared twice or empty", kind))
		return
	}
	b.names[kind] = fn
}

// Relate declares records about subjects of subjectType ("client"), for their timelines.
func (s *Service) Relate(subjectType string, fn RelateFunc) {
	b := s.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.related[subjectType] = append(b.related[subjectType], fn)
}

// PhrasesErr reports every malformed or repeated declaration.
func (s *Service) PhrasesErr() error {
	b := s.book
	b.mu.RLock()
	defer b.mu.RUnlock()
	return errors.Join(b.errs...)
}

// PhraseFor is the phrase of action, if one is declared.
func (s *Service) PhraseFor(action string) (Phrase, bool) {
	b := s.book
	b.mu.RLock()
	defer b.mu.RUnlock()
	p, ok := b.phrases[action]
	return p, ok
}

// Kinds lists the kinds of the declared phrases, sorted.
func (s *Service) Kinds() []string {
	b := s.book
	b.mu.RLock()
	defer b.mu.RUnlock()
	set := map[string]bool{}
	for _, p := range b.phrases {
		set[p.Kind] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// ActionsOf lists the actions of one kind, sorted (none for a kind nobody declared).
func (s *Service) ActionsOf(kind string) []string {
	b := s.book
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []string
	for a, p := range b.phrases {
		if p.Kind == kind {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// About is subject with every record the modules relate to it (Relate), the targets of the subject's timeline.
func (s *Service) About(ctx context.Context, t tenants.Tenant, subject Target) ([]Target, error) {
	b := s.book
	b.mu.RLock()
	fns := slices.Clone(b.related[subject.Type])
	b.mu.RUnlock()
	out := []Target{subject}
	if len(fns) == 0 {
		return out, nil
	}
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		for _, fn := range fns {
			more, err := fn(ctx, tx, subject.ID)
			if err != nil {
				return err
			}
			out = append(out, more...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("records about %s %s: %w", subject.Type, subject.ID, err)
	}
	return out, nil
}

// KindsOf lists the kinds of the rows about targets (a timeline's filters: only kinds that have rows), sorted; an
// action without a phrase is of kind "Other".
func (s *Service) KindsOf(ctx context.Context, t tenants.Tenant, targets []Target) ([]string, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	var args []any
	pairs := make([]string, len(targets))
	for i, tg := range targets {
		args = append(args, tg.Type, tg.ID)
		pairs[i] = fmt.Sprintf("($%d, $%d)", len(args)-1, len(args))
	}
	var actions []string
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT action FROM audit_log WHERE (target_type, target_id) IN (`+strings.Join(pairs, ", ")+`)`,
			append([]any{listExecMode}, args...)...)
		if err != nil {
			return err
		}
		actions, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kinds of a timeline: %w", err)
	}
	set := map[string]bool{}
	for _, a := range actions {
		p, ok := s.PhraseFor(a)
		if !ok {
			p.Kind = "Other"
		}
		set[p.Kind] = true
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// Timeline is one page of the rows about subject and its related records (About), newest first, of one kind
// ("" for every kind).
func (s *Service) Timeline(ctx context.Context, t tenants.Tenant, subject Target, kind, cursor string, limit int) (Page, error) {
	targets, err := s.About(ctx, t, subject)
	if err != nil {
		return Page{}, err
	}
	f := Filter{Targets: targets}
	if kind != "" {
		if f.Actions = s.ActionsOf(kind); len(f.Actions) == 0 {
			return Page{}, fmt.Errorf("%w: no actions of kind %q", ErrBadFilter, kind)
		}
	}
	return s.List(ctx, t, f, cursor, limit)
}

// System parties have no record to name.
var (
	systemRef   = Ref{Name: "BrokerDesk"}
	operatorRef = Ref{Name: "a BrokerDesk operator"}
)

type nameKey struct{ kind, id string }

// name names refs (actor kinds and target types with ids) in one read-only scope of t: each kind's NameFunc once.
func (s *Service) name(ctx context.Context, t tenants.Tenant, keys []nameKey) (map[nameKey]Ref, error) {
	b := s.book
	b.mu.RLock()
	ids := map[string][]string{}
	fns := map[string]NameFunc{}
	for _, k := range keys {
		if fn, ok := b.names[k.kind]; ok && k.id != "" && !slices.Contains(ids[k.kind], k.id) {
			ids[k.kind] = append(ids[k.kind], k.id)
			fns[k.kind] = fn
		}
	}
	b.mu.RUnlock()
	out := map[nameKey]Ref{}
	if len(ids) > 0 {
		err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
			for _, kind := range slices.Sorted(maps.Keys(ids)) {
				named, err := fns[kind](ctx, tx, ids[kind])
				if err != nil {
					return fmt.Errorf("names of %s: %w", kind, err)
				}
				for id, r := range named {
					out[nameKey{kind, id}] = r
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			out[k] = unnamed(k)
		}
	}
	return out, nil
}

// unnamed is how a party or record reads when no module names it (a deleted record, a kind nobody declared).
func unnamed(k nameKey) Ref {
	switch ActorKind(k.kind) {
	case ActorSystem:
		return systemRef
	case ActorOperator:
		return operatorRef
	case ActorStaff:
		return Ref{Name: "a staff user"}
	case ActorClient:
		return Ref{Name: "a client"}
	case ActorAPIKey:
		return Ref{Name: "an API key"}
	}
	name := strings.ReplaceAll(k.kind, "_", " ")
	if id := k.id; id != "" {
		if len(id) == 36 && strings.Count(id, "-") == 4 {
			id = id[:8] // a uuid: enough to tell two apart on one page
		}
		name += " " + id
	}
	return Ref{Name: name}
}

// NameActors names actors (a client's status history's "by" column) as sentences do.
func (s *Service) NameActors(ctx context.Context, t tenants.Tenant, actors []Actor) (map[Actor]Ref, error) {
	keys := make([]nameKey, len(actors))
	for i, a := range actors {
		keys[i] = nameKey{string(a.Kind), a.ID}
	}
	named, err := s.name(ctx, t, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[Actor]Ref, len(actors))
	for _, a := range actors {
		out[a] = named[nameKey{string(a.Kind), a.ID}]
	}
	return out, nil
}

// Tell puts rows of t into words: actors and targets named (one scope for the page), each row's phrase, or a
// plain fallback for an action nobody declared.
func (s *Service) Tell(ctx context.Context, t tenants.Tenant, rows []Row) ([]Told, error) {
	keys := make([]nameKey, 0, 2*len(rows))
	for _, r := range rows {
		keys = append(keys, nameKey{string(r.Actor.Kind), r.Actor.ID}, nameKey{r.Target.Type, r.Target.ID})
	}
	named, err := s.name(ctx, t, keys)
	if err != nil {
		return nil, fmt.Errorf("tell audit rows: %w", err)
	}
	out := make([]Told, len(rows))
	for i, r := range rows {
		actor := named[nameKey{string(r.Actor.Kind), r.Actor.ID}]
		if r.Actor.Kind == ActorSystem {
			actor = systemRef // the system's label ("kyc") is in the raw row; the sentence says who that is
		}
		out[i] = s.tell(NewEvent(r, actor, named[nameKey{r.Target.Type, r.Target.ID}]))
	}
	return out, nil
}

// TellOne is Tell for one event whose names are known (tests, previews).
func (s *Service) TellOne(e Event) Told { return s.tell(e) }

func (s *Service) tell(e Event) Told {
	p, ok := s.PhraseFor(e.Action)
	told := Told{Row: e.Row, Actor: e.Actor, Target: e.Target, Kind: p.Kind, Known: ok}
	if ok {
		told.Sentence = p.Say(e)
	}
	if len(told.Sentence) == 0 {
		told.Kind = cmpOr(told.Kind, "Other")
		told.Sentence = Say(e.Actor, " recorded ", e.Action, " on ", e.Target)
	}
	return told
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Ago is how long before now t was, as a person says it: "just now", "5 minutes ago", "3 days ago".
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	n := func(v int, unit string) string {
		if v == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", v, unit)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return n(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return n(int(d/time.Hour), "hour")
	case d < 45*24*time.Hour:
		return n(int(d/(24*time.Hour)), "day")
	case d < 365*24*time.Hour:
		return n(int(d/(30*24*time.Hour)), "month")
	}
	return n(int(d/(365*24*time.Hour)), "year")
}

// A is the indefinite article for a noun phrase: "a passport", "an API key".
func A(noun string) string {
	if noun == "" {
		return ""
	}
	switch strings.ToLower(noun[:1]) {
	case "a", "e", "i", "o":
		return "an " + noun
	}
	if strings.HasPrefix(noun, "API") || strings.HasPrefix(noun, "ID") {
		return "an " + noun
	}
	return "a " + noun
}

// DiffText is a row's diff as stored, or "" when it says nothing (creation of nothing, no change).
func DiffText(diff []byte) string {
	d := bytes.TrimSpace(diff)
	if len(d) == 0 || string(d) == "null" || string(d) == "{}" {
		return ""
	}
	return string(d)
}
