package audit

import (
	"embed"
	"errors"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PermRead is reading the tenant's audit trail (the back office's audit page).
const PermRead web.Permission = "audit.read"

// PageFiles are the audit page's templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// trailPath is the back office's audit page.
const trailPath = "/backoffice/audit"

// ClientHub is the page shell's hub of a client (the clients module's page), whose subjects are audit targets of
// this type: the activity tab shows the rows about the client and the records the modules relate to them.
const ClientHub = "client"

// MountPages adds the audit page (rows newest first, in sentences, with filters, "Older entries" keeping them) to
// the back office, under Settings, and the activity tab of the client page.
func MountPages(shell *web.Shell, s *Service) {
	shell.Nav(web.NavEntry{Group: web.GroupSettings, Label: "Audit trail", Href: trailPath, Permission: PermRead})
	shell.Page(fiber.MethodGet, trailPath, PermRead, func(c *fiber.Ctx) error { return trailPage(c, shell, s) })
	shell.HubSection(ClientHub, web.HubSection{ID: "activity", Label: "Activity", Order: 90,
		Hint: "Everything recorded about this client, their documents and reviews, in sentences",
		Render: func(c *fiber.Ctx, subject uuid.UUID) (template.HTML, error) {
			return timelineSection(c, shell, s, Target{Type: ClientHub, ID: subject.String()})
		}})
}

// toldRow is one row on a page: the sentence, its time as a person says it and exactly, and the raw row.
type toldRow struct {
	Ago, At, ISO, Kind                         string
	Sentence                                   template.HTML
	Actor, Action, Target, Diff, IP, RequestID string
}

func toldRows(told []Told, now time.Time) []toldRow {
	out := make([]toldRow, len(told))
	for i, r := range told {
		out[i] = toldRow{Ago: Ago(now, r.At), At: r.At.UTC().Format("2006-01-02 15:04:05") + " UTC", ISO: r.At.UTC().Format(time.RFC3339),
			Kind: r.Kind, Sentence: r.Sentence.HTML(), Actor: string(r.Row.Actor.Kind) + ":" + r.Row.Actor.ID, Action: r.Action,
			Target: r.Row.Target.Type + ":" + r.Row.Target.ID, Diff: DiffText(r.Diff), RequestID: r.Origin.RequestID}
		if r.Origin.IP.IsValid() {
			out[i].IP = r.Origin.IP.String()
		}
	}
	return out
}

type option struct {
	Value, Label string
	Selected     bool
}

type trailData struct {
	Actor, Action, Target, From, To, Kind string
	Kinds                                 []option
	Rows                                  []toldRow
	Next, Error                           string
}

// timeInput is the format of <input type="datetime-local">, read as UTC.
const timeInput = "2006-01-02T15:04"

func trailPage(c *fiber.Ctx, shell *web.Shell, s *Service) error {
	d := trailData{Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		Target: strings.TrimSpace(c.Query("target")), From: c.Query("from"), To: c.Query("to"), Kind: c.Query("kind")}
	d.Kinds = []option{{Value: "", Label: "Any kind", Selected: d.Kind == ""}}
	for _, k := range s.Kinds() {
		d.Kinds = append(d.Kinds, option{Value: k, Label: k, Selected: k == d.Kind})
	}
	f, msg := pageFilter(d)
	if msg == "" && d.Kind != "" {
		if f.Actions = s.ActionsOf(d.Kind); len(f.Actions) == 0 {
			msg = "Kind: choose one of the list."
		}
	}
	if msg != "" {
		d.Error = msg
		return shell.Render(c, fiber.StatusUnprocessableEntity, "audit_trail", "Audit trail", d)
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	page, err := s.List(ctx, t, f, c.Query("after"), DefaultLimit)
	if errors.Is(err, ErrBadCursor) || errors.Is(err, ErrBadFilter) {
		d.Error = "That filter or page link is not valid."
		return shell.Render(c, fiber.StatusUnprocessableEntity, "audit_trail", "Audit trail", d)
	}
	if err != nil {
		return err
	}
	told, err := s.Tell(ctx, t, page.Rows)
	if err != nil {
		return err
	}
	d.Rows = toldRows(told, time.Now())
	if page.Next != "" {
		q := url.Values{"actor": {d.Actor}, "action": {d.Action}, "target": {d.Target}, "from": {d.From}, "to": {d.To}, "kind": {d.Kind}, "after": {page.Next}}
		d.Next = trailPath + "?" + q.Encode()
	}
	return shell.Render(c, fiber.StatusOK, "audit_trail", "Audit trail", d)
}

// pageFilter reads the audit page's filter fields: actor and target as "kind" or "kind:id", times as UTC. A
// non-empty message says what to correct.
func pageFilter(d trailData) (Filter, string) {
	var f Filter
	if d.Actor != "" {
		kind, id, _ := strings.Cut(d.Actor, ":")
		f.ActorKind, f.ActorID = ActorKind(kind), id
		if !f.ActorKind.Valid() {
			return f, "Actor: write a kind (staff, client, operator, system, api_key), optionally followed by :id."
		}
	}
	f.ActionPrefix = d.Action
	if d.Target != "" {
		f.TargetType, f.TargetID, _ = strings.Cut(d.Target, ":")
	}
	for _, p := range []struct {
		in  string
		out *time.Time
	}{{d.From, &f.From}, {d.To, &f.To}} {
		if p.in == "" {
			continue
		}
		t, err := time.Parse(timeInput, p.in)
		if err != nil {
			return f, "Times: use the form 2026-01-31T14:05 (UTC)."
		}
		*p.out = t
	}
	return f, ""
}

type chip struct {
	Label, Href string
	Current     bool
}

type timelineData struct {
	Kinds           []chip
	Rows            []toldRow
	Next, TrailHref string
	Error           string
}

// timelineSection is a hub subject's activity: the rows about it and its related records, newest first, in
// sentences, filtered by kind with links (?kind=), older rows a link away.
func timelineSection(c *fiber.Ctx, shell *web.Shell, s *Service, subject Target) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	kind := c.Query("kind")
	here := func(kind, after string) string {
		q := url.Values{"tab": {"activity"}}
		if kind != "" {
			q.Set("kind", kind)
		}
		if after != "" {
			q.Set("after", after)
		}
		return c.Path() + "?" + q.Encode()
	}
	var d timelineData
	targets, err := s.About(ctx, t, subject)
	if err != nil {
		return "", err
	}
	kinds, err := s.KindsOf(ctx, t, targets)
	if err != nil {
		return "", err
	}
	d.Kinds = []chip{{Label: "Everything", Href: here("", ""), Current: kind == ""}}
	for _, k := range kinds {
		if len(s.ActionsOf(k)) > 0 { // "Other" (actions nobody declared) is not a filter
			d.Kinds = append(d.Kinds, chip{Label: k, Href: here(k, ""), Current: k == kind})
		}
	}
	f := Filter{Targets: targets}
	var page Page
	if kind != "" {
		if f.Actions = s.ActionsOf(kind); len(f.Actions) == 0 {
			err = ErrBadFilter
		}
	}
	if err == nil {
		page, err = s.List(ctx, t, f, c.Query("after"), DefaultLimit)
	}
	switch {
	case errors.Is(err, ErrBadCursor) || errors.Is(err, ErrBadFilter):
		d.Error = "That filter or page link is not valid; start from the newest."
	case err != nil:
		return "", err
	default:
		told, err := s.Tell(ctx, t, page.Rows)
		if err != nil {
			return "", err
		}
		d.Rows = toldRows(told, time.Now())
		if page.Next != "" {
			d.Next = here(kind, page.Next)
		}
	}
	if v, ok, err := shell.Viewer(c); err == nil && ok && v.Can(PermRead) {
		d.TrailHref = trailPath + "?" + url.Values{"target": {subject.Type + ":" + subject.ID}}.Encode()
	}
	return shell.Fragment(c, "audit_timeline", d)
}
