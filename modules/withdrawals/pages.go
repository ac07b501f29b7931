package withdrawals

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The module's pages: server-rendered, every form a plain POST with its CSRF token, so they work without JavaScript.
//
//	/portal/withdrawals                          the client's form (amount, where the rest goes, the code) and their withdrawals
//	/portal/withdrawals/:id/cancel               POST: cancel one waiting for approval
//	/backoffice/withdrawals                      finance's queue: open ones oldest first against the SLA; filters
//	/backoffice/withdrawals/:id                  one withdrawal: checks, money in and out, decisions, the forms
//	/backoffice/withdrawals/:id/{approve,reject,paid,failed}   POST: finance's decisions
//	/backoffice/compliance/withdrawals           compliance's flagged withdrawals
//	/backoffice/compliance/withdrawals/:id       the same page with compliance's form (review POST)
//	/backoffice/settings/withdrawals             the rules for money out (settings_page.go)

// PageFiles are the module's page templates.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	// PortalPath is the client's withdrawals page.
	PortalPath     = "/portal/withdrawals"
	compliancePath = "/backoffice/compliance/withdrawals"
	clientPagePath = "/backoffice/clients/"
)

type pages struct {
	shell *web.Shell
	s     *Service
}

func (s *Service) mountPages(shell *web.Shell) {
	p := &pages{shell: shell, s: s}
	shell.Nav(
		web.NavEntry{Group: web.GroupPortal, Label: "Withdraw", Href: PortalPath, Permission: identity.PermPortalAccount, Order: 26},
		web.NavEntry{Group: web.GroupMoney, Label: "Withdrawals", Href: QueuePath, Permission: identity.PermPaymentsApprove, Order: 25},
		web.NavEntry{Group: web.GroupCompliance, Label: "Flagged withdrawals", Href: compliancePath, Permission: identity.PermWithdrawalsReview, Order: 40},
	)
	shell.Tiles(
		web.Tile{Group: web.GroupMoney, Label: "Withdrawals waiting", Href: QueuePath, Permission: identity.PermPaymentsApprove, Order: 20,
			Count: func(c *fiber.Ctx) (web.TileCount, error) {
				n, err := s.CountsOf(c.UserContext(), tenants.Current(c))
				if err != nil {
					return web.TileCount{}, err
				}
				out := web.TileCount{Value: n.Waiting, Alert: n.Overdue > 0}
				if n.Overdue > 0 {
					out.Detail, out.DetailHref = strconv.Itoa(n.Overdue)+" overdue", QueuePath+"?overdue=true"
				}
				return out, nil
			}},
		web.Tile{Group: web.GroupMoney, Label: "Withdrawals paid today", Href: QueuePath + "?status=paid&today=true", Permission: identity.PermPaymentsApprove,
			Order: 21, Count: func(c *fiber.Ctx) (web.TileCount, error) {
				n, err := s.CountsOf(c.UserContext(), tenants.Current(c))
				return web.TileCount{Value: n.PaidToday}, err
			}},
		web.Tile{Group: web.GroupCompliance, Label: "Withdrawals flagged", Href: compliancePath, Permission: identity.PermWithdrawalsReview, Order: 30,
			Count: func(c *fiber.Ctx) (web.TileCount, error) {
				n, err := s.CountsOf(c.UserContext(), tenants.Current(c))
				return web.TileCount{Value: n.Flagged, Alert: n.Flagged > 0}, err
			}},
	)
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "withdrawals", Label: "Withdrawals", Order: 42, Permission: identity.PermPaymentsRead,
		Hint: "The client's withdrawals: held, decided, paid", Render: p.hubTab})
	shell.Page(fiber.MethodGet, PortalPath, identity.PermPortalAccount, p.portal)
	shell.Post(PortalPath, identity.PermPortalAccount, p.request)
	shell.Post(PortalPath+"/:id/cancel", identity.PermPortalAccount, p.cancel)
	shell.Page(fiber.MethodGet, QueuePath, identity.PermPaymentsApprove, p.queue)
	shell.Page(fiber.MethodGet, QueuePath+"/:id", identity.PermPaymentsApprove, func(c *fiber.Ctx) error { return p.withdrawal(c, false, "", nil) })
	for _, action := range []string{"approve", "reject", "paid", "failed"} {
		shell.Post(QueuePath+"/:id/"+action, identity.PermPaymentsApprove, p.decide(action))
	}
	shell.Page(fiber.MethodGet, compliancePath, identity.PermWithdrawalsReview, p.queue)
	shell.Page(fiber.MethodGet, compliancePath+"/:id", identity.PermWithdrawalsReview, func(c *fiber.Ctx) error { return p.withdrawal(c, true, "", nil) })
	shell.Post(compliancePath+"/:id/review", identity.PermWithdrawalsReview, p.decide("review"))
	shell.Nav(web.NavEntry{Group: web.GroupMoney, Label: "Withdrawal rules", Href: SettingsPath, Permission: identity.PermPaymentsApprove, Order: 26})
	p.mountSettings()
}

func (p *pages) may(c *fiber.Ctx, perm web.Permission) bool {
	v, ok, err := p.shell.Viewer(c)
	return err == nil && ok && v.Can(perm)
}

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// statusTone is a status's badge tone.
func statusTone(s Status) web.Tone {
	switch s {
	case StatusPaid:
		return web.ToneGood
	case StatusPending, StatusApproved:
		return web.ToneInfo
	case StatusFailed, StatusRejected:
		return web.ToneBad
	}
	return web.ToneNeutral
}

func outcomeTone(o Outcome) web.Tone {
	switch o {
	case Pass:
		return web.ToneGood
	case Review:
		return web.ToneWarn
	}
	return web.ToneBad
}

// age is how long ago t was, in hours or days.
func age(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}

type row struct {
	ID, Href, Client, ClientHref, Amount, Status, Method, Waiting, Age, Created, Flags string
	Tone                                                                               web.Tone
	Overdue                                                                            bool
}

type option struct {
	Value, Label string
	Selected     bool
}

type queuePage struct {
	Rows                                           []row
	Statuses, Methods, Managers                    []option
	Currency, Min, Max                             string
	Flagged, Overdue, Today, Compliance            bool
	SLAHours                                       int
	Action                                         string
	Waiting, OverdueCount, PaidToday, FlaggedCount int
}

// queue is finance's queue (and compliance's flagged list): open withdrawals oldest first, each aged against the
// SLA; filters in one row.
func (p *pages) queue(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	compliance := strings.HasPrefix(c.Path(), compliancePath)
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	f := Filter{Status: Status(c.Query("status")), Method: c.Query("method"), Currency: strings.ToUpper(c.Query("currency", "USD")),
		Flagged: compliance || c.Query("flagged") == "true"}
	d := queuePage{Currency: f.Currency, Min: c.Query("min"), Max: c.Query("max"), Flagged: f.Flagged, Overdue: c.Query("overdue") == "true",
		Today: c.Query("today") == "true", Compliance: compliance, SLAHours: st.SLAHours, Action: QueuePath}
	if compliance {
		d.Action = compliancePath
	}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return web.NotFound("No such status.")
	}
	if d.Overdue {
		f.Overdue = time.Duration(st.SLAHours) * time.Hour
	}
	if d.Today {
		f.PaidSince = p.s.o.Now().UTC().Truncate(24 * time.Hour)
	}
	if id, err := uuid.Parse(c.Query("manager")); err == nil {
		f.Manager = id
	}
	for name, dst := range map[string]*int64{"min": &f.MinAmount, "max": &f.MaxAmount} {
		if v := strings.TrimSpace(c.Query(name)); v != "" {
			if n, ok := amountOf(v, f.Currency); ok {
				*dst = n
			}
		}
	}
	if d.Min == "" && d.Max == "" && c.Query("currency") == "" {
		f.Currency = "" // no amount filter: every currency
	}
	list, err := p.s.List(ctx, t, f)
	if err != nil {
		return err
	}
	now := p.s.o.Now()
	sla := time.Duration(st.SLAHours) * time.Hour
	base := QueuePath
	if compliance {
		base = compliancePath
	}
	for _, w := range list {
		r := row{ID: w.ID.String(), Href: base + "/" + w.ID.String(), Client: w.ClientName, ClientHref: clientPagePath + w.ClientID.String(),
			Amount: w.Amount.String(), Status: w.Status.Label(), Tone: statusTone(w.Status), Method: w.Method, Created: when(&w.CreatedAt)}
		if w.Status.Open() {
			r.Age, r.Overdue = age(now.Sub(w.CreatedAt)), now.Sub(w.CreatedAt) > sla
			r.Waiting = "Finance"
			if w.Status == StatusApproved {
				r.Waiting = "The payout"
			} else if w.Flagged {
				r.Waiting = "Compliance, then finance"
			}
			if w.NeedsSecond {
				r.Waiting += " (two approvers)"
			}
		}
		var flags []string
		if w.Flagged {
			flags = append(flags, "flagged")
		}
		if w.Blocked {
			flags = append(flags, "blocked")
		}
		if w.NeedsSecond {
			flags = append(flags, "four-eyes")
		}
		r.Flags = strings.Join(flags, ", ")
		d.Rows = append(d.Rows, r)
	}
	d.Statuses = []option{{Value: "", Label: "Any status"}}
	for _, s := range Statuses {
		d.Statuses = append(d.Statuses, option{Value: string(s), Label: s.Label(), Selected: f.Status == s})
	}
	d.Methods = []option{{Value: "", Label: "Any method"}}
	for _, m := range st.Methods {
		d.Methods = append(d.Methods, option{Value: m, Label: m, Selected: f.Method == m})
	}
	d.Managers = []option{{Value: "", Label: "Any manager"}}
	if err := p.s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		ms, err := staff.ActiveWithRoles(ctx, tx, "sales", "retention")
		for _, m := range ms {
			d.Managers = append(d.Managers, option{Value: m.ID.String(), Label: m.FullName, Selected: f.Manager == m.ID})
		}
		return err
	}); err != nil {
		return err
	}
	n, err := p.s.CountsOf(ctx, t)
	if err != nil {
		return err
	}
	d.Waiting, d.OverdueCount, d.PaidToday, d.FlaggedCount = n.Waiting, n.Overdue, n.PaidToday, n.Flagged
	title := "Withdrawals"
	if compliance {
		title = "Flagged withdrawals"
	}
	return p.shell.Render(c, fiber.StatusOK, "withdrawals_queue", title, d)
}

type checkRow struct {
	Label, Outcome, Answer string
	Tone                   web.Tone
}

type legRow struct{ Kind, Amount, Status, Reference string }

type decisionRow struct{ Who, What, Reason, At string }

type detailPage struct {
	ID, Client, ClientHref, Amount, Status, Method, Destination, WaitingFor, Created, Age, Expires, Finished, Reason, Failure, Paid string
	Tone                                                                                                                            web.Tone
	Overdue, Compliance, MayDecide, MayReview, MayPay, Flagged, Blocked, NeedsSecond                                                bool
	Checks                                                                                                                          []checkRow
	Legs                                                                                                                            []legRow
	Decisions                                                                                                                       []decisionRow
	Summary                                                                                                                         Summary
	Lots                                                                                                                            string
	CSRF, Base, Error                                                                                                               string
	Problems                                                                                                                        []string
}

// withdrawal is one withdrawal's page: everything a decision looks at, and the forms of the viewer's decisions.
func (p *pages) withdrawal(c *fiber.Ctx, compliance bool, errText string, problems []string) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such withdrawal.")
	}
	w, err := p.s.Get(ctx, t, id, uuid.Nil)
	if errors.Is(err, ErrNotFound) || (err == nil && compliance && !w.Flagged) {
		return web.NotFound("No such withdrawal.")
	}
	if err != nil {
		return err
	}
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	sum, err := p.s.SummaryOf(ctx, t, w)
	if err != nil {
		return err
	}
	now := p.s.o.Now()
	d := detailPage{ID: w.ID.String(), Client: w.ClientName, ClientHref: clientPagePath + w.ClientID.String(), Amount: w.Amount.String(),
		Status: w.Status.Label(), Tone: statusTone(w.Status), Method: w.Method, Destination: w.Destination, WaitingFor: w.WaitingFor(),
		Created: when(&w.CreatedAt), Expires: when(&w.ExpiresAt), Finished: when(w.FinishedAt), Reason: w.Reason, Failure: w.Failure,
		Paid: money.Amount{Minor: w.PaidAmount, Currency: w.Amount.Currency}.String(), Compliance: compliance, Flagged: w.Flagged,
		Blocked: w.Blocked, NeedsSecond: w.NeedsSecond, Summary: sum, Lots: sum.Lots30d.String(), CSRF: p.shell.CSRF(c), Error: errText,
		Problems: problems, Base: QueuePath}
	if compliance {
		d.Base = compliancePath
	}
	if w.Status.Open() {
		d.Age, d.Overdue = age(now.Sub(w.CreatedAt)), now.Sub(w.CreatedAt) > time.Duration(st.SLAHours)*time.Hour
	}
	d.MayDecide = !compliance && w.Status == StatusPending && p.may(c, identity.PermPaymentsApprove)
	d.MayReview = compliance && w.WaitingFor() == "compliance" && p.may(c, identity.PermWithdrawalsReview)
	for _, l := range w.Legs {
		d.MayPay = d.MayPay || (!compliance && w.Status == StatusApproved && l.Kind != LegCardRefund && l.Status == "planned")
	}
	for _, ch := range w.Checks {
		d.Checks = append(d.Checks, checkRow{Label: CheckLabel(ch.Name), Outcome: string(ch.Outcome), Answer: ch.Answer, Tone: outcomeTone(ch.Outcome)})
	}
	for _, l := range w.Legs {
		kind := map[LegKind]string{LegCardRefund: "Back to the card", LegBank: "Bank transfer", LegGateway: "Through " + l.GatewaySlug}[l.Kind]
		d.Legs = append(d.Legs, legRow{Kind: kind, Amount: l.Amount.String(), Status: l.Status, Reference: l.Reference})
	}
	names := map[uuid.UUID]string{}
	if err := p.s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		for _, dec := range w.Decisions {
			if _, ok := names[dec.StaffID]; ok {
				continue
			}
			m, err := staff.ByID(ctx, tx, dec.StaffID)
			if err != nil {
				names[dec.StaffID] = "A former staff user"
				continue
			}
			names[dec.StaffID] = m.FullName
		}
		return nil
	}); err != nil {
		return err
	}
	words := map[DecisionKind]string{ComplianceCleared: "Cleared for finance", ComplianceRefused: "Refused for compliance", Approved: "Approved",
		Rejected: "Refused", MarkedPaid: "Marked paid", MarkedFailed: "Marked failed"}
	for _, dec := range w.Decisions {
		at := dec.At
		d.Decisions = append(d.Decisions, decisionRow{Who: names[dec.StaffID], What: words[dec.Kind], Reason: dec.Reason, At: when(&at)})
	}
	status := fiber.StatusOK
	if errText != "" {
		status = fiber.StatusUnprocessableEntity
	}
	return p.shell.Render(c, status, "withdrawals_withdrawal", "Withdrawal of "+w.Amount.String(), d)
}

// decide takes one of the page's decision forms.
func (p *pages) decide(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, t := c.UserContext(), tenants.Current(c)
		id, err := uuid.Parse(c.Params("id"))
		if err != nil {
			return web.NotFound("No such withdrawal.")
		}
		actor, staffID, reason := identity.Actor(c), staffID(c), strings.TrimSpace(c.FormValue("reason"))
		switch action {
		case "approve":
			_, err = p.s.Approve(ctx, t, actor, staffID, id, reason)
		case "reject":
			_, err = p.s.Reject(ctx, t, actor, staffID, id, reason)
		case "paid":
			_, err = p.s.MarkPaid(ctx, t, actor, staffID, id, strings.TrimSpace(c.FormValue("reference")))
		case "failed":
			_, err = p.s.MarkFailed(ctx, t, actor, staffID, id, reason)
		case "review":
			_, err = p.s.Review(ctx, t, actor, staffID, id, c.FormValue("decision") == "clear", reason)
		}
		compliance := action == "review"
		if err != nil {
			lines, status, ok := problemLines(apiError(err))
			if !ok {
				return err
			}
			if status == fiber.StatusNotFound {
				return web.NotFound("No such withdrawal.")
			}
			return p.withdrawal(c, compliance, "Nothing was decided:", lines)
		}
		base := QueuePath
		if compliance {
			base = compliancePath
		}
		return c.Redirect(base+"/"+id.String(), fiber.StatusSeeOther)
	}
}

// problemLines are a mapped error's lines for a form ("reason: is required"); ok is false for an internal error.
func problemLines(mapped error) ([]string, int, bool) {
	pr, ok := web.ProblemOf(mapped)
	if !ok {
		return nil, 0, false
	}
	var out []string
	for _, fe := range pr.Errors {
		out = append(out, strings.ReplaceAll(fe.Field, "_", " ")+": "+fe.Message)
	}
	if len(out) == 0 {
		out = []string{pr.Detail}
	}
	return out, pr.Status, true
}

// hubTab is the client page's Withdrawals tab: the client's withdrawals, open ones first, with links to their pages
// for those who decide them.
func (p *pages) hubTab(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	list, err := p.s.List(c.UserContext(), tenants.Current(c), Filter{Client: client, Limit: 50})
	if err != nil {
		return "", err
	}
	var rows []row
	link := p.may(c, identity.PermPaymentsApprove)
	for _, w := range list {
		r := row{ID: w.ID.String(), Amount: w.Amount.String(), Status: w.Status.Label(), Tone: statusTone(w.Status), Method: w.Method,
			Created: when(&w.CreatedAt), Waiting: w.Outcome()}
		if link {
			r.Href = QueuePath + "/" + w.ID.String()
		}
		rows = append(rows, r)
	}
	return p.shell.Fragment(c, "withdrawals_hub", rows)
}

type portalRow struct {
	ID, Amount, Status, Outcome, Created string
	Tone                                 web.Tone
	Cancel                               bool
}

type portalPage struct {
	Wallets                               []string
	Rows                                  []portalRow
	Amount, Currency, Method, Destination string
	Methods                               []option
	TwoFactor                             bool
	Notice, Error                         string
	Problems                              []string
	CSRF                                  string
	// Bonuses are the client's open bonuses (a withdrawal in their currency forfeits some or all of each);
	// Forfeits what the refused withdrawal would forfeit, with the box that confirms it.
	Bonuses       []string
	Forfeits      []string
	ForfeitNotice string
}

// portal is the client's page: the form and their withdrawals.
func (p *pages) portal(c *fiber.Ctx) error {
	// ?amount=&currency= prefill the form: the partner area sends a partner here after moving earnings to the wallet.
	d := portalPage{Currency: "USD", Amount: c.Query("amount")}
	if cur := c.Query("currency"); len(cur) == 3 {
		d.Currency = cur
	}
	return p.renderPortal(c, fiber.StatusOK, d)
}

func (p *pages) renderPortal(c *fiber.Ctx, status int, d portalPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	client, user, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	balances, err := p.s.o.Ledger.ClientBalances(ctx, t, client)
	if err != nil {
		return err
	}
	for _, b := range balances {
		d.Wallets = append(d.Wallets, money.Amount{Minor: b.Available(), Currency: b.Account.Currency}.String()+" available")
	}
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	for _, m := range st.Methods {
		label := m
		if m == MethodBank {
			label = "Bank transfer"
		}
		d.Methods = append(d.Methods, option{Value: m, Label: label, Selected: d.Method == m})
	}
	if err := p.s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		for _, b := range balances {
			open, err := p.s.o.Bonuses.OpenBonusesTx(ctx, tx, client, b.Account.Currency.Code)
			if err != nil {
				return err
			}
			for _, o := range open {
				d.Bonuses = append(d.Bonuses, o.Description)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	d.TwoFactor, err = p.s.o.Portal.TwoFactorOn(ctx, t, user)
	if err != nil {
		return err
	}
	list, err := p.s.List(ctx, t, Filter{Client: client, Limit: 20})
	if err != nil {
		return err
	}
	for _, w := range list {
		d.Rows = append(d.Rows, portalRow{ID: w.ID.String(), Amount: w.Amount.String(), Status: w.Status.Label(), Tone: statusTone(w.Status),
			Outcome: w.Outcome(), Created: when(&w.CreatedAt), Cancel: w.Status == StatusPending})
	}
	if id, err := uuid.Parse(c.Query("withdrawal")); err == nil && d.Notice == "" {
		if w, err := p.s.Get(ctx, t, id, client); err == nil {
			d.Notice = w.Outcome()
		}
	}
	d.CSRF = p.shell.CSRF(c)
	return p.shell.Render(c, status, "withdrawals_portal", "Withdraw", d)
}

// request takes the portal's form.
func (p *pages) request(c *fiber.Ctx) error {
	client, user, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	in := Input{Amount: c.FormValue("amount"), Currency: c.FormValue("currency"), Method: c.FormValue("method"),
		Destination: c.FormValue("destination"), Code: c.FormValue("code"), ForfeitBonuses: c.FormValue("forfeit_bonuses") == "yes"}
	w, err := p.s.Request(c.UserContext(), tenants.Current(c), client, user, in)
	if err != nil {
		mapped := apiError(err)
		lines, status, ok := problemLines(mapped)
		if !ok {
			return err
		}
		d := portalPage{Amount: in.Amount, Currency: in.Currency, Method: in.Method, Destination: in.Destination,
			Error: "The withdrawal was not made:", Problems: lines}
		if ve, isField := validation.As(err); isField && len(ve.Fields) == 1 && ve.Fields[0].Field == "forfeit_bonuses" {
			// Nothing is wrong but the confirmation: say what it gives up, and ask for it.
			_, list, perr := p.s.Preview(c.UserContext(), tenants.Current(c), client, in.Amount, in.Currency)
			if perr != nil {
				return perr
			}
			d.Error, d.Problems, d.Forfeits, d.ForfeitNotice = "", nil, ForfeitLines(list), ForfeitNotice
		}
		return p.renderPortal(c, status, d)
	}
	return c.Redirect(PortalPath+"?"+url.Values{"withdrawal": {w.ID.String()}}.Encode(), fiber.StatusSeeOther)
}

// cancel takes a withdrawal's cancel button.
func (p *pages) cancel(c *fiber.Ctx) error {
	client, _, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such withdrawal.")
	}
	if _, err := p.s.Cancel(c.UserContext(), tenants.Current(c), client, id); err != nil {
		return apiError(err)
	}
	return c.Redirect(PortalPath+"?"+url.Values{"withdrawal": {id.String()}}.Encode(), fiber.StatusSeeOther)
}
