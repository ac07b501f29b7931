package audit

import (
	"embed"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

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

// MountPages adds the audit page (rows newest first, with filters, "Older entries" keeping them) to the back office,
// under Settings.
func MountPages(shell *web.Shell, s *Service) {
	shell.Nav(web.NavEntry{Group: web.GroupSettings, Label: "Audit trail", Href: trailPath, Permission: PermRead})
	shell.Page(fiber.MethodGet, trailPath, PermRead, func(c *fiber.Ctx) error { return trailPage(c, shell, s) })
}

type trailData struct {
	Actor, Action, Target, From, To string
	Rows                            []trailRow
	Next, Error                     string
}

type trailRow struct {
	At, Actor, Action, Target, Diff, IP, RequestID string
}

// timeInput is the format of <input type="datetime-local">, read as UTC.
const timeInput = "2006-01-02T15:04"

func trailPage(c *fiber.Ctx, shell *web.Shell, s *Service) error {
	d := trailData{Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		Target: strings.TrimSpace(c.Query("target")), From: c.Query("from"), To: c.Query("to")}
	f, msg := pageFilter(d)
	if msg != "" {
		d.Error = msg
		return shell.Render(c, fiber.StatusUnprocessableEntity, "audit_trail", "Audit trail", d)
	}
	page, err := s.List(c.UserContext(), tenants.Current(c), f, c.Query("after"), DefaultLimit)
	if errors.Is(err, ErrBadCursor) || errors.Is(err, ErrBadFilter) {
		d.Error = "That filter or page link is not valid."
		return shell.Render(c, fiber.StatusUnprocessableEntity, "audit_trail", "Audit trail", d)
	}
	if err != nil {
		return err
	}
	for _, r := range page.Rows {
		row := trailRow{At: r.At.UTC().Format("2006-01-02 15:04:05"), Actor: string(r.Actor.Kind) + ":" + r.Actor.ID,
			Action: r.Action, Target: r.Target.Type + ":" + r.Target.ID, RequestID: r.Origin.RequestID}
		if r.Origin.IP.IsValid() {
			row.IP = r.Origin.IP.String()
		}
		if len(r.Diff) > 0 && string(r.Diff) != "null" && string(r.Diff) != "{}" {
			row.Diff = string(r.Diff)
		}
		d.Rows = append(d.Rows, row)
	}
	if page.Next != "" {
		q := url.Values{"actor": {d.Actor}, "action": {d.Action}, "target": {d.Target}, "from": {d.From}, "to": {d.To}, "after": {page.Next}}
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
