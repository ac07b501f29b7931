package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The exceptions queue for finance: open cases overdue first, each case's kind in words, its money, who holds it
// and its age against the SLA; filters mine or all, open or resolved, overdue. A case's page shows the reason, the
// callback's raw payload, the deposit and the client, and the resolutions, each with its required note.

// age is a duration as finance reads it: "3 d 4 h", "5 h 12 min", "7 min".
func age(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%d d %d h", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d min", int(d/time.Minute))
}

var resolutionWords = map[Resolution]string{
	ResolvedMatched:    "Matched to a client",
	ResolvedRefunded:   "Refunded",
	ResolvedWrittenOff: "Written off",
	ResolvedDismissed:  "Dismissed",
}

// caseRowOf is a case as the queue and the deposit page show it.
func (p *pages) caseRowOf(cs Case, n names, now time.Time) caseRow {
	r := caseRow{ID: cs.ID.String(), Href: exceptionsPath + "/" + cs.ID.String(), Kind: cs.Kind.Label(), Opened: when(cs.OpenedAt),
		Due: when(cs.DueAt), Assignee: n.staffName(cs.AssigneeID), Reason: cs.Reason, Overdue: cs.Overdue(now), Open: cs.Open}
	if cs.Open {
		r.Age = age(now.Sub(cs.OpenedAt))
		if r.Overdue {
			r.State = "overdue by " + age(now.Sub(cs.DueAt))
		} else {
			r.State = "due in " + age(cs.DueAt.Sub(now))
		}
	} else {
		r.State = resolutionWords[cs.Resolution]
		if cs.ResolvedAt != nil {
			r.Age = age(cs.ResolvedAt.Sub(cs.OpenedAt))
		}
	}
	if cs.Amount != nil {
		r.Money = cs.Amount.String()
	}
	if cs.ClientID != nil {
		r.Client, r.ClientHref = n.client(*cs.ClientID), clientPagePath+cs.ClientID.String()
	}
	if cs.DepositID != nil {
		r.Deposit, r.DepositHref = "Deposit", depositsPath+"/"+cs.DepositID.String()
	}
	return r
}

type exceptionsPage struct {
	Who, States, Overdue []option
	Rows                 []caseRow
	SLAHours             int
	Limited, Resolved    bool
	More                 bool
}

// queueLimit bounds the queue's page: open cases are few, and the oldest due come first.
const queueLimit = 200

func (p *pages) exceptions(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	who, state, overdue := c.Query("who"), c.Query("status"), c.Query("overdue")
	d := exceptionsPage{Who: options(who, "", "Everyone's", "mine", "Mine"), States: options(state, "", "Open", "resolved", "Resolved"),
		Overdue: options(overdue, "", "Any", "true", "Overdue only"), Resolved: state == "resolved"}
	open := state != "resolved"
	f := CaseFilter{Open: &open}
	if who == "mine" {
		f.Assignee = staffID(c)
		if f.Assignee == uuid.Nil {
			f.Assignee = uuid.Max // an API key holds no cases
		}
	}
	list, err := p.s.Cases(ctx, t, f, queueLimit)
	if err != nil {
		return err
	}
	d.More = len(list) == queueLimit
	r, err := p.reachOf(c)
	if err != nil {
		return err
	}
	d.Limited = r.limited
	now := p.s.o.Now()
	var shown []Case
	var clientIDs, staffIDs []uuid.UUID
	for _, cs := range list {
		if r.limited && (cs.ClientID == nil || !r.sees(*cs.ClientID)) {
			continue
		}
		if overdue == "true" && !cs.Overdue(now) {
			continue
		}
		shown = append(shown, cs)
		if cs.ClientID != nil {
			clientIDs = append(clientIDs, *cs.ClientID)
		}
		if cs.AssigneeID != nil {
			staffIDs = append(staffIDs, *cs.AssigneeID)
		}
	}
	n, err := p.s.names(ctx, t, clientIDs, staffIDs)
	if err != nil {
		return err
	}
	for _, cs := range shown {
		d.Rows = append(d.Rows, p.caseRowOf(cs, n, now))
	}
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	d.SLAHours = st.ExceptionSLAHours
	return p.shell.Render(c, fiber.StatusOK, "payments_exceptions", "Payment exceptions", d)
}

type callbackDetail struct {
	Event, Type, Status, Outcome, Received, Reference, External, Body string
}

type casePage struct {
	Case                                             caseRow
	Resolution, ResolutionNote, ResolvedBy, Resolved string
	Gateway                                          string
	Callback                                         *callbackDetail
	Deposit                                          *depositRow
	CSRF, Notice, Error                              string
	Problems                                         []string
	MayResolve, HasMoney, CanRefund                  bool
	Query                                            string
	Searched                                         bool
	Candidates                                       []clientChoice
	Form                                             struct{ Resolution, Note string }
}

var caseNotices = map[string]string{
	string(ResolvedMatched):    "Resolved: the money was credited to the client as a completed deposit.",
	string(ResolvedRefunded):   "Resolved: the money was refunded and left suspense.",
	string(ResolvedWrittenOff): "Resolved: the money was written off.",
	string(ResolvedDismissed):  "Resolved: the case is dismissed.",
}

// caseOf reads the :id case, 404 when absent or about a client the viewer may not see.
func (p *pages) caseOf(c *fiber.Ctx) (Case, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return Case{}, web.NotFound("No such case.")
	}
	cs, err := p.s.Case(c.UserContext(), tenants.Current(c), id)
	if errors.Is(err, ErrNotFound) {
		return Case{}, web.NotFound("No such case.")
	}
	if err != nil {
		return Case{}, err
	}
	r, err := p.reachOf(c)
	if err != nil {
		return Case{}, err
	}
	if r.limited && (cs.ClientID == nil || !r.sees(*cs.ClientID)) {
		return Case{}, web.NotFound("No such case.")
	}
	return cs, nil
}

func (p *pages) exception(c *fiber.Ctx) error {
	cs, err := p.caseOf(c)
	if err != nil {
		return err
	}
	return p.renderCase(c, cs, fiber.StatusOK, casePage{Notice: caseNotices[c.Query("notice")], Query: strings.TrimSpace(c.Query("q"))})
}

// gatewayName names a gateway by id ("" when it is gone).
func (s *Service) gatewayName(ctx context.Context, t tenants.Tenant, id uuid.UUID) (string, error) {
	var g Gateway
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		g, _, err = s.gatewayTx(ctx, tx, `id = $1`, id, false)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return g.Name, err
}

// payload is a callback's body as the page shows it: JSON indented, anything else as it was kept.
func payload(body string) string {
	var out bytes.Buffer
	if json.Valid([]byte(body)) && json.Indent(&out, []byte(body), "", "  ") == nil {
		return out.String()
	}
	return body
}

func (p *pages) renderCase(c *fiber.Ctx, cs Case, status int, page casePage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	var clientIDs, staffIDs []uuid.UUID
	if cs.ClientID != nil {
		clientIDs = append(clientIDs, *cs.ClientID)
	}
	for _, id := range []*uuid.UUID{cs.AssigneeID, cs.ResolvedBy} {
		if id != nil {
			staffIDs = append(staffIDs, *id)
		}
	}
	var dep *Deposit
	if cs.DepositID != nil {
		d, err := p.s.Deposit(ctx, t, *cs.DepositID)
		if err != nil {
			return err
		}
		dep = &d
		clientIDs = append(clientIDs, d.ClientID)
	}
	n, err := p.s.names(ctx, t, clientIDs, staffIDs)
	if err != nil {
		return err
	}
	page.Case = p.caseRowOf(cs, n, p.s.o.Now())
	if dep != nil {
		rows, err := p.depositRows(ctx, t, []Deposit{*dep})
		if err != nil {
			return err
		}
		page.Deposit = &rows[0]
	}
	if !cs.Open {
		page.Resolution, page.ResolutionNote = resolutionWords[cs.Resolution], cs.ResolutionNote
		page.ResolvedBy, page.Resolved = n.staffName(cs.ResolvedBy), whenPtr(cs.ResolvedAt)
	}
	if cs.GatewayID != nil {
		if page.Gateway, err = p.s.gatewayName(ctx, t, *cs.GatewayID); err != nil {
			return err
		}
	}
	if cs.CallbackID != nil {
		cb, err := p.s.callback(ctx, t, *cs.CallbackID)
		if err != nil {
			return err
		}
		page.Callback = &callbackDetail{Event: cb.EventID, Type: cb.EventType, Status: cb.Status, Outcome: strings.ReplaceAll(cb.Outcome, "_", " "),
			Received: when(cb.ReceivedAt), Reference: cb.Reference, External: cb.ExternalID, Body: payload(cb.Body)}
	}
	page.CSRF = p.shell.CSRF(c)
	page.MayResolve = cs.Open && p.may(c, PermApprove)
	page.HasMoney = cs.Amount != nil
	page.CanRefund = page.HasMoney && cs.GatewayID != nil && cs.CallbackID != nil
	page.Searched = page.Query != ""
	if page.MayResolve && page.HasMoney {
		chosen := c.FormValue("client_id")
		if chosen == "" && cs.ClientID != nil {
			chosen = cs.ClientID.String()
		}
		if page.Candidates, err = p.clientChoices(c, page.Query, chosen); err != nil {
			return err
		}
	}
	return p.shell.Render(c, status, "payments_case", cs.Kind.Label(), page)
}

func (p *pages) resolve(c *fiber.Ctx) error {
	cs, err := p.caseOf(c)
	if err != nil {
		return err
	}
	r := Resolution(c.FormValue("resolution"))
	note := c.FormValue("note")
	var client uuid.UUID
	if v := strings.TrimSpace(c.FormValue("client_id")); v != "" {
		client, _ = uuid.Parse(v)
		rc, err := p.reachOf(c)
		if err != nil {
			return err
		}
		if !rc.sees(client) {
			client = uuid.Nil
		}
	}
	_, err = p.s.Resolve(c.UserContext(), tenants.Current(c), cs.ID, staffID(c), r, client, note)
	if err == nil {
		return c.Redirect(exceptionsPath+"/"+cs.ID.String()+"?notice="+string(r), fiber.StatusSeeOther)
	}
	pr, ok := refusal(err)
	if !ok {
		return err
	}
	if pr.Status == fiber.StatusNotFound {
		return pr
	}
	page := casePage{Error: pr.Detail, Problems: problemLines(pr), Query: strings.TrimSpace(c.FormValue("q"))}
	if len(pr.Errors) > 0 {
		page.Error = "The case was not resolved:"
	}
	page.Form.Resolution, page.Form.Note = string(r), note
	fresh, err := p.s.Case(c.UserContext(), tenants.Current(c), cs.ID)
	if err != nil {
		return err
	}
	return p.renderCase(c, fresh, pr.Status, page)
}
