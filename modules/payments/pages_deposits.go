package payments

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The back office's deposits: the list with its filters in one row (status, gateway, client, manager, currency with
// amounts, dates), a deposit's page with its callbacks and cases, the four-eyes approval of manual deposits, and the
// manual deposit form. A sales or retention user who sees only their own clients sees only their deposits.

type depositRow struct {
	ID, Href, Created, Client, ClientHref, Amount, Method, StatusLabel, Number string
	Tone                                                                       web.Tone
}

// depositQuery is the list's filters as the query string carries them.
type depositQuery struct {
	Status, Gateway, Client, Manager, Currency, Min, Max, Since, Until string
}

func depositQueryOf(c *fiber.Ctx) depositQuery {
	q := func(k string) string { return strings.TrimSpace(c.Query(k)) }
	return depositQuery{Status: q("status"), Gateway: q("gateway"), Client: q("client"), Manager: q("manager"),
		Currency: strings.ToUpper(q("currency")), Min: q("min"), Max: q("max"), Since: q("since"), Until: q("until")}
}

func (q depositQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"status": q.Status, "gateway": q.Gateway, "client": q.Client, "manager": q.Manager,
		"currency": q.Currency, "min": q.Min, "max": q.Max, "since": q.Since, "until": q.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

type depositsPage struct {
	Query                                    depositQuery
	Statuses, Gateways, Managers, Currencies []option
	Rows                                     []depositRow
	Next, Error                              string
	Problems                                 []string
	// First: the first page, whose rows the live script refreshes; a later page only says there are new ones.
	First, MayRecord, Limited bool
	Reset                     string
}

// filter turns the list's query into the service's filter, naming every bad field. The client field takes a
// client's id, or text that the clients list's search matches (name or email); the manager field "me" or a
// manager's id: both become the list of clients the deposits may be of, narrowed to what the viewer may see.
func (p *pages) filter(c *fiber.Ctx, q depositQuery, r reach) (DepositFilter, []string, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	var f DepositFilter
	var bad []string
	if q.Status != "" {
		st := Status(q.Status)
		if !contains(statuses, st) {
			bad = append(bad, "Status: choose one of the list.")
		}
		f.Status = st
	}
	if q.Gateway != "" {
		g, err := p.s.Gateway(ctx, t, q.Gateway)
		if errors.Is(err, ErrNotFound) {
			bad = append(bad, "Gateway: no such gateway.")
		} else if err != nil {
			return f, nil, err
		}
		f.GatewayID = g.ID
	}
	var cur money.Currency
	if q.Currency != "" {
		var ok bool
		if cur, ok = money.Lookup(q.Currency); !ok {
			bad = append(bad, "Currency: not a currency BrokerDesk handles.")
		}
		f.Currency = cur.Code
	}
	for _, b := range []struct {
		name, v string
		dst     *int64
	}{{"Minimum", q.Min, &f.MinAmount}, {"Maximum", q.Max, &f.MaxAmount}} {
		if b.v == "" {
			continue
		}
		if cur.Code == "" {
			bad = append(bad, b.name+": choose the currency the amounts are in.")
			continue
		}
		m, err := money.Parse(strings.ReplaceAll(b.v, ",", ""), cur)
		if err != nil || m < 0 {
			bad = append(bad, b.name+": a positive amount in "+cur.Code+".")
		}
		*b.dst = m
	}
	for _, b := range []struct {
		name, v string
		dst     *time.Time
		plus    int
	}{{"From", q.Since, &f.Since, 0}, {"To", q.Until, &f.Until, 1}} {
		if b.v == "" {
			continue
		}
		day, err := time.Parse(time.DateOnly, b.v)
		if err != nil {
			bad = append(bad, b.name+": a date (YYYY-MM-DD).")
			continue
		}
		*b.dst = day.AddDate(0, 0, b.plus) // "to" includes its day
	}
	var ids []uuid.UUID // nil: any client
	if q.Client != "" {
		if id, err := uuid.Parse(q.Client); err == nil {
			ids = []uuid.UUID{id}
		} else {
			found, err := p.s.o.Clients.List(ctx, t, clientViewer(c), clients.Filter{Query: q.Client}, nil, 200)
			if err != nil {
				return f, nil, err
			}
			ids = []uuid.UUID{}
			for i, cl := range found {
				if i < 200 {
					ids = append(ids, cl.ID)
				}
			}
		}
	}
	if q.Manager != "" {
		manager := staffID(c)
		if q.Manager != "me" {
			id, err := uuid.Parse(q.Manager)
			if err != nil {
				bad = append(bad, "Manager: choose one of the list.")
			}
			manager = id
		}
		managed, err := p.s.managedBy(ctx, t, manager)
		if err != nil {
			return f, nil, err
		}
		if ids == nil {
			ids = managed
		} else {
			ids = intersect(ids, managed)
		}
	}
	f.ClientIDs = r.narrow(ids)
	return f, bad, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// depositsLimit is the list's page size.
const depositsLimit = web.DefaultPageLimit

func (p *pages) deposits(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	q := depositQueryOf(c)
	r, err := p.reachOf(c)
	if err != nil {
		return err
	}
	d := depositsPage{Query: q, MayRecord: p.may(c, PermApprove), Limited: r.limited, Reset: depositsPath}
	d.Statuses = []option{{Value: "", Label: "Any status", Selected: q.Status == ""}}
	for _, st := range statuses {
		d.Statuses = append(d.Statuses, option{Value: string(st), Label: st.Label(), Selected: string(st) == q.Status})
	}
	gateways, err := p.s.Gateways(ctx, t)
	if err != nil {
		return err
	}
	d.Gateways = []option{{Value: "", Label: "Any method", Selected: q.Gateway == ""}}
	currencies := map[string]bool{}
	for _, g := range gateways {
		d.Gateways = append(d.Gateways, option{Value: g.Slug, Label: g.Name, Selected: g.Slug == q.Gateway})
		for _, cur := range g.Currencies {
			currencies[cur] = true
		}
	}
	if q.Currency != "" {
		currencies[q.Currency] = true
	}
	d.Currencies = []option{{Value: "", Label: "Any", Selected: q.Currency == ""}}
	for _, code := range money.Codes() {
		if currencies[code] {
			d.Currencies = append(d.Currencies, option{Value: code, Label: code, Selected: code == q.Currency})
		}
	}
	managers, err := p.s.managers(ctx, t)
	if err != nil {
		return err
	}
	d.Managers = []option{{Value: "", Label: "Any manager", Selected: q.Manager == ""}, {Value: "me", Label: "My clients", Selected: q.Manager == "me"}}
	for _, m := range managers {
		name := m.FullName
		if name == "" {
			name = m.Email
		}
		d.Managers = append(d.Managers, option{Value: m.ID.String(), Label: name, Selected: m.ID.String() == q.Manager})
	}
	f, bad, err := p.filter(c, q, r)
	if err != nil {
		return err
	}
	var after *DepositCursor
	if cur := c.Query("after"); cur != "" && len(bad) == 0 {
		var a DepositCursor
		if p.cursors.Decode(cur, &a) != nil {
			bad = append(bad, "That page link is not valid any more: start from the first page.")
		}
		after = &a
	}
	if len(bad) > 0 {
		d.Error, d.Problems = "Check the filters:", bad
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "payments_deposits", "Deposits", d)
	}
	d.First = after == nil
	list, err := p.s.Deposits(ctx, t, f, after, depositsLimit)
	if err != nil {
		return err
	}
	if len(list) > depositsLimit {
		last := list[depositsLimit-1]
		next, err := p.cursors.Encode(DepositCursor{CreatedAt: last.CreatedAt, ID: last.ID})
		if err != nil {
			return err
		}
		v := q.values()
		v.Set("after", next)
		d.Next = depositsPath + "?" + v.Encode()
		list = list[:depositsLimit]
	}
	rows, err := p.depositRows(ctx, t, list)
	if err != nil {
		return err
	}
	d.Rows = rows
	return p.shell.Render(c, fiber.StatusOK, "payments_deposits", "Deposits", d)
}

// depositRows are deposits as the back office's tables show them, with their clients' names.
func (p *pages) depositRows(ctx context.Context, t tenants.Tenant, list []Deposit) ([]depositRow, error) {
	ids := make([]uuid.UUID, len(list))
	for i, d := range list {
		ids[i] = d.ClientID
	}
	n, err := p.s.names(ctx, t, ids, nil)
	if err != nil {
		return nil, err
	}
	rows := make([]depositRow, len(list))
	for i, d := range list {
		rows[i] = depositRow{ID: d.ID.String(), Href: depositsPath + "/" + d.ID.String(), Created: when(d.CreatedAt),
			Client: n.client(d.ClientID), ClientHref: clientPagePath + d.ClientID.String(), Amount: d.Amount.String(),
			Method: d.GatewayName, StatusLabel: d.Status.Label(), Tone: statusTone(d.Status)}
		if d.DepositNumber > 0 {
			rows[i].Number = web.Ordinal(d.DepositNumber)
		}
	}
	return rows, nil
}

// One deposit.

type callbackRow struct {
	At, Event, Type, Status, Outcome string
}

type caseRow struct {
	ID, Href, Kind, Opened, Age, Due, Money, Client, ClientHref, Deposit, DepositHref, Assignee, Reason, State string
	Overdue, Open                                                                                              bool
}

type depositPage struct {
	ID, StatusLabel, Amount, Method, Kind, Client, ClientHref, External, Created, Updated, Completed string
	Failure, BankReference, RecordedBy, ApprovedBy, LedgerTx, Instructions, RedirectURL              string
	Tone                                                                                             web.Tone
	Number                                                                                           string
	CSRF, Notice, Error                                                                              string
	Problems                                                                                         []string
	Awaiting, MayApprove, RecordedByViewer                                                           bool
	Reason                                                                                           string
	Callbacks                                                                                        []callbackRow
	Cases                                                                                            []caseRow
	// Manual: a deposit finance recorded, which may have a bank statement (Evidence: its link and description).
	Manual   bool
	Evidence evidenceView
}

// evidenceView is a manual deposit's bank statement as its page shows it: a link that opens it, its name, type
// and size.
type evidenceView struct {
	Href, Name, Type, Size string
}

var depositNotices = map[string]string{
	"credited": "Recorded and credited to the client's wallet.",
	"waiting":  "Recorded. It is at or above the four-eyes threshold: another finance user must approve it before the money moves.",
	"approved": "Approved and credited to the client's wallet.",
	"rejected": "Rejected: the deposit is cancelled and no money moved.",
}

func (p *pages) deposit(c *fiber.Ctx) error {
	d, err := p.depositOf(c)
	if err != nil {
		return err
	}
	return p.renderDeposit(c, d, fiber.StatusOK, depositPage{Notice: depositNotices[c.Query("notice")]})
}

func (p *pages) renderDeposit(c *fiber.Ctx, d Deposit, status int, page depositPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	around, err := p.s.depositContext(ctx, t, d.ID)
	if err != nil {
		return err
	}
	staffIDs := []uuid.UUID{}
	var recorder *uuid.UUID
	if kind, id, ok := strings.Cut(d.CreatedBy, ":"); ok && kind == "staff" {
		if u, err := uuid.Parse(id); err == nil {
			recorder = &u
			staffIDs = append(staffIDs, u)
		}
	}
	if d.ApprovedBy != nil {
		staffIDs = append(staffIDs, *d.ApprovedBy)
	}
	for _, cs := range around.Cases {
		if cs.AssigneeID != nil {
			staffIDs = append(staffIDs, *cs.AssigneeID)
		}
	}
	n, err := p.s.names(ctx, t, []uuid.UUID{d.ClientID}, staffIDs)
	if err != nil {
		return err
	}
	me := staffID(c)
	page.ID, page.StatusLabel, page.Tone, page.Amount, page.Method, page.Kind = d.ID.String(), d.Status.Label(), statusTone(d.Status),
		d.Amount.String(), d.GatewayName, d.GatewayKind
	page.Client, page.ClientHref, page.External = n.client(d.ClientID), clientPagePath+d.ClientID.String(), d.ExternalID
	page.Created, page.Updated, page.Completed = when(d.CreatedAt), when(d.UpdatedAt), whenPtr(d.CompletedAt)
	page.Failure, page.BankReference, page.Instructions, page.RedirectURL = d.Failure, d.BankReference, d.Instructions, d.RedirectURL
	switch {
	case recorder != nil:
		page.RecordedBy = n.staffName(recorder)
	case strings.HasPrefix(d.CreatedBy, "client:"):
		page.RecordedBy = "the client, in the portal"
	default:
		page.RecordedBy = d.CreatedBy
	}
	page.ApprovedBy = n.staffName(d.ApprovedBy)
	if d.LedgerTx != nil {
		page.LedgerTx = d.LedgerTx.String()
	}
	if d.DepositNumber > 0 {
		page.Number = web.Ordinal(d.DepositNumber) + " deposit of the client"
	}
	page.Manual = d.GatewayKind == KindManual
	if d.EvidenceKey != "" {
		page.Evidence = evidenceView{Href: depositsPath + "/" + d.ID.String() + "/evidence", Name: d.EvidenceName,
			Type: EvidenceLabel(d.EvidenceType), Size: content.Size(d.EvidenceSize)}
	}
	page.CSRF = p.shell.CSRF(c)
	page.Awaiting = d.Status == StatusAwaitingApproval
	page.MayApprove = p.may(c, PermApprove)
	page.RecordedByViewer = recorder != nil && *recorder == me
	for _, cb := range around.Callbacks {
		page.Callbacks = append(page.Callbacks, callbackRow{At: when(cb.ReceivedAt), Event: cb.EventID, Type: cb.EventType,
			Status: cb.Status, Outcome: strings.ReplaceAll(cb.Outcome, "_", " ")})
	}
	now := p.s.o.Now()
	for _, cs := range around.Cases {
		page.Cases = append(page.Cases, p.caseRowOf(cs, n, now))
	}
	return p.shell.Render(c, status, "payments_deposit", "Deposit "+d.Amount.String(), page)
}

// evidence opens a deposit's bank statement: 303 to a fresh signed link, audited as a view.
func (p *pages) evidence(c *fiber.Ctx) error {
	d, err := p.depositOf(c) // one the viewer may see
	if err != nil {
		return err
	}
	l, err := p.s.EvidenceURL(c.UserContext(), tenants.Current(c), d.ID, identity.Actor(c))
	if errors.Is(err, ErrNoEvidence) {
		return web.NotFound("This deposit has no bank statement.")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(l.URL, fiber.StatusSeeOther)
}

// depositAction runs an approval form and returns to the deposit with a notice, or shows why not.
func (p *pages) depositAction(c *fiber.Ctx, do func(ctx context.Context, t tenants.Tenant, id uuid.UUID) (string, error)) error {
	d, err := p.depositOf(c)
	if err != nil {
		return err
	}
	notice, err := do(c.UserContext(), tenants.Current(c), d.ID)
	if err == nil {
		return c.Redirect(depositsPath+"/"+d.ID.String()+"?notice="+notice, fiber.StatusSeeOther)
	}
	pr, ok := refusal(err)
	if !ok {
		return err
	}
	if pr.Status == fiber.StatusNotFound {
		return pr
	}
	page := depositPage{Error: pr.Detail, Problems: problemLines(pr), Reason: c.FormValue("reason")}
	if len(pr.Errors) > 0 {
		page.Error = "Not done:"
	}
	return p.renderDeposit(c, d, pr.Status, page)
}

func (p *pages) approve(c *fiber.Ctx) error {
	return p.depositAction(c, func(ctx context.Context, t tenants.Tenant, id uuid.UUID) (string, error) {
		_, err := p.s.Approve(ctx, t, id, staffID(c))
		return "approved", err
	})
}

func (p *pages) reject(c *fiber.Ctx) error {
	return p.depositAction(c, func(ctx context.Context, t tenants.Tenant, id uuid.UUID) (string, error) {
		_, err := p.s.Reject(ctx, t, id, staffID(c), c.FormValue("reason"))
		return "rejected", err
	})
}

// The manual deposit form.

type clientChoice struct {
	ID, Label string
	Selected  bool
}

type manualPage struct {
	CSRF, Query, Error, Thresholds string
	Problems                       []string
	Searched                       bool
	Candidates                     []clientChoice
	Gateways, Currencies           []option
	Form                           struct{ ClientID, Amount, BankReference string }
	// MaxEvidence is the bank statement's size limit, as the form states it.
	MaxEvidence string
}

type manualForm struct {
	ClientID, Gateway, Currency, Amount, BankReference, Query, Error string
	Problems                                                         []string
}

func (p *pages) manualForm(c *fiber.Ctx) error {
	return p.renderManual(c, fiber.StatusOK, manualForm{Query: strings.TrimSpace(c.Query("q")), ClientID: c.Query("client")})
}

// clientChoices finds the clients a search names (id, email or name, through the clients list and its rule), with
// chosen among them first when it is a client the viewer may see.
func (p *pages) clientChoices(c *fiber.Ctx, query, chosen string) ([]clientChoice, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	var out []clientChoice
	seen := map[string]bool{}
	add := func(list []clients.Client) {
		for _, cl := range list {
			if seen[cl.ID.String()] || len(out) >= 10 {
				continue
			}
			seen[cl.ID.String()] = true
			out = append(out, clientChoice{ID: cl.ID.String(), Label: cl.Name() + " · " + cl.Email + " · " + cl.Status.Label(),
				Selected: cl.ID.String() == chosen})
		}
	}
	if _, err := uuid.Parse(chosen); err == nil {
		list, err := p.s.o.Clients.List(ctx, t, clientViewer(c), clients.Filter{Query: chosen}, nil, 1)
		if err != nil {
			return nil, err
		}
		add(list)
	}
	if query != "" {
		list, err := p.s.o.Clients.List(ctx, t, clientViewer(c), clients.Filter{Query: query}, nil, 10)
		if err != nil {
			return nil, err
		}
		add(list)
	}
	return out, nil
}

func (p *pages) renderManual(c *fiber.Ctx, status int, f manualForm) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := manualPage{CSRF: p.shell.CSRF(c), Query: f.Query, Error: f.Error, Problems: f.Problems, Searched: f.Query != "",
		MaxEvidence: mib(MaxEvidenceBytes)}
	d.Form.ClientID, d.Form.Amount, d.Form.BankReference = f.ClientID, f.Amount, f.BankReference
	var err error
	if d.Candidates, err = p.clientChoices(c, f.Query, f.ClientID); err != nil {
		return err
	}
	gateways, err := p.s.Gateways(ctx, t)
	if err != nil {
		return err
	}
	currencies := map[string]bool{}
	for _, g := range gateways {
		if g.Kind != KindManual || !g.Enabled {
			continue
		}
		d.Gateways = append(d.Gateways, option{Value: g.Slug, Label: g.Name + " (" + strings.Join(g.Currencies, ", ") + ")", Selected: g.Slug == f.Gateway})
		for _, cur := range g.Currencies {
			currencies[cur] = true
		}
	}
	for _, code := range money.Codes() {
		if currencies[code] {
			d.Currencies = append(d.Currencies, option{Value: code, Label: code, Selected: code == f.Currency})
		}
	}
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	d.Thresholds = thresholdsText(st.ManualApproval)
	return p.shell.Render(c, status, "payments_manual", "Record a bank deposit", d)
}

// thresholdsText says the four-eyes thresholds in words.
func thresholdsText(m map[string]int64) string {
	var parts []string
	for _, code := range money.Codes() {
		if v, ok := m[code]; ok {
			if cur, ok := money.Lookup(code); ok {
				parts = append(parts, money.Amount{Minor: v, Currency: cur}.String())
			}
		}
	}
	if len(parts) == 0 {
		return "No currency needs a second approval."
	}
	return "A deposit of at least " + strings.Join(parts, ", ") + " waits for a second finance user's approval; other currencies need none."
}

// recordManual records the form's deposit (a multipart form with the bank statement in "evidence", read whole by
// the shell's Upload, or a url-encoded one without it) and goes to its page, or shows the form again with why not.
func (p *pages) recordManual(c *fiber.Ctx) error {
	f := manualForm{ClientID: strings.TrimSpace(c.FormValue("client_id")), Gateway: c.FormValue("gateway"), Currency: c.FormValue("currency"),
		Amount: strings.TrimSpace(c.FormValue("amount")), BankReference: c.FormValue("bank_reference"), Query: strings.TrimSpace(c.FormValue("q"))}
	var ev *Evidence
	if web.IsMultipart(c) {
		form, err := web.MultipartForm(c) // read (and checked) already, before the CSRF check
		if err != nil {
			return err
		}
		if ev, err = formEvidence(form); err != nil {
			return p.refuseManual(c, f, err)
		}
	}
	client, _ := uuid.Parse(f.ClientID)
	if client != uuid.Nil {
		r, err := p.reachOf(c)
		if err != nil {
			return err
		}
		if !r.sees(client) {
			client = uuid.Nil // as if not chosen: the same answer as an unknown client
		}
	}
	d, err := p.s.RecordManual(c.UserContext(), tenants.Current(c), staffID(c), ManualDeposit{ClientID: client, Gateway: f.Gateway,
		Amount: f.Amount, Currency: f.Currency, BankReference: f.BankReference, Evidence: ev})
	if err != nil {
		return p.refuseManual(c, f, err)
	}
	notice := "credited"
	if d.Status == StatusAwaitingApproval {
		notice = "waiting"
	}
	return c.Redirect(depositsPath+"/"+d.ID.String()+"?notice="+notice, fiber.StatusSeeOther)
}

// refuseManual shows the manual deposit form again with why it was refused (an internal error is the error page).
func (p *pages) refuseManual(c *fiber.Ctx, f manualForm, err error) error {
	pr, ok := refusal(err)
	if !ok {
		return err
	}
	f.Error, f.Problems = pr.Detail, problemLines(pr)
	if len(pr.Errors) > 0 {
		f.Error = "The deposit was not recorded:"
	}
	return p.renderManual(c, pr.Status, f)
}
