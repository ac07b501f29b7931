package clients

import (
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
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are this module's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	listPath     = "/backoffice/clients"
	settingsPath = "/backoffice/settings/onboarding"
	registerPath = "/portal/register"
	verifyPath   = "/portal/verify/"
	resendPath   = "/portal/verify/resend"
	profilePath  = "/portal/profile"
)

type pages struct {
	shell   *web.Shell
	s       *Service
	o       Options
	cursors *web.Cursors
}

// MountPages adds the back office's client list, client page and onboarding settings, and the portal's
// registration, verification, resend and profile pages to the page shell.
func MountPages(shell *web.Shell, s *Service) {
	o := s.o
	p := &pages{shell: shell, s: s, o: o, cursors: web.NewCursors([]byte("brokerdesk clients list page cursor v1 (positions only)"))}
	shell.Nav(web.NavEntry{Group: web.GroupClients, Label: "Clients", Href: listPath, Permission: identity.PermClientsRead},
		web.NavEntry{Group: web.GroupSettings, Label: "Onboarding settings", Href: settingsPath, Permission: identity.PermSettingsManage})
	shell.Tiles(p.tiles()...)
	shell.Page(fiber.MethodGet, listPath, identity.PermClientsRead, p.list)
	shell.Page(fiber.MethodGet, listPath+"/:id", identity.PermClientsRead, p.client)
	shell.HubSummary(ClientHub, web.HubSummary{ID: "facts", Order: 10, Label: "About this client", Facts: p.facts})
	shell.HubSummary(ClientHub, web.HubSummary{ID: "policy", Order: 90, Label: "What this client can do", Badges: true, Facts: p.policyFacts})
	shell.HubSection(ClientHub, web.HubSection{ID: "profile", Label: "Profile and status", Order: 10, Render: p.profileTab})
	shell.Post(listPath+"/:id/status", identity.PermClientsStatus, p.changeStatus)
	shell.Post(listPath+"/:id/2fa/reset", identity.PermClientsStatus, p.resetTwoFactor)
	shell.Page(fiber.MethodGet, settingsPath, identity.PermSettingsManage, p.settings)
	shell.Post(settingsPath, identity.PermSettingsManage, p.saveSettings)

	shell.Page(fiber.MethodGet, registerPath, web.Public, p.registerForm)
	shell.Post(registerPath, web.Public, p.register)
	shell.Page(fiber.MethodGet, resendPath, web.Public, p.resendForm)
	shell.Post(resendPath, web.Public, p.resend)
	shell.Page(fiber.MethodGet, verifyPath+":token", web.Public, p.verifyForm)
	shell.Post(verifyPath+":token", web.Public, p.verify)
	shell.Page(fiber.MethodGet, profilePath, identity.PermPortalAccount, p.profile)
}

type option struct {
	Value, Label string
	Selected     bool
}

func statusOptions(current Status) []option {
	out := []option{{Value: "", Label: "Any status", Selected: current == ""}}
	for _, st := range Statuses {
		out = append(out, option{Value: string(st), Label: st.Label(), Selected: st == current})
	}
	return out
}

func countryOptions(current, blank string) []option {
	out := []option{{Value: "", Label: blank, Selected: current == ""}}
	for _, c := range Countries() {
		out = append(out, option{Value: c.Code, Label: c.Name + " (" + c.Code + ")", Selected: c.Code == current})
	}
	return out
}

// Back office: the list.

type listRow struct {
	Href, Name, Email, Country, Status, Tier, Manager, Created string
	Tone                                                       web.Tone
}

type listData struct {
	Query, Since                         string
	Statuses, Countries, Managers, Tiers []option
	Rows                                 []listRow
	Next, Error                          string
}

func (p *pages) list(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	f, ferr := filterOf(func(k string, _ ...string) string { return utils.CopyString(c.Query(k)) })
	since := strings.TrimSpace(c.Query("since"))
	if ferr == nil && since != "" {
		f.Since, ferr = sinceOf(since)
	}
	st, err := p.s.Settings(ctx, t)
	if err != nil {
		return err
	}
	managers, err := p.s.Managers(ctx, t)
	if err != nil {
		return err
	}
	d := listData{Query: f.Query, Since: since, Statuses: statusOptions(f.Status), Countries: countryOptions(f.Country, "Any country")}
	manager := c.Query("manager")
	d.Managers = []option{{Value: "", Label: "Any manager", Selected: manager == ""}, {Value: "none", Label: "Nobody", Selected: manager == "none"}}
	for _, m := range managers {
		d.Managers = append(d.Managers, option{Value: m.ID.String(), Label: m.Name, Selected: manager == m.ID.String()})
	}
	d.Tiers = []option{{Value: "", Label: "Any tier", Selected: f.Tier == ""}}
	for _, tr := range st.Tiers {
		d.Tiers = append(d.Tiers, option{Value: tr.Name, Label: tr.Label, Selected: tr.Name == f.Tier})
	}
	if ferr != nil {
		d.Error = "Check the filters: " + problemText(ferr)
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "clients_list", "Clients", d)
	}
	var after *After
	if cur := c.Query("after"); cur != "" {
		var a After
		if p.cursors.Decode(cur, &a) != nil {
			d.Error = "That page link is not valid any more; start from the first page."
			return p.shell.Render(c, fiber.StatusUnprocessableEntity, "clients_list", "Clients", d)
		}
		after = &a
	}
	rows, err := p.s.List(ctx, t, viewerOf(c), f, after, web.DefaultPageLimit)
	if err != nil {
		return err
	}
	page, err := web.MakePaged(p.cursors, rows, web.DefaultPageLimit, func(cl Client) any { return Key(cl) })
	if err != nil {
		return err
	}
	for _, cl := range page.Items {
		d.Rows = append(d.Rows, listRow{Href: listPath + "/" + cl.ID.String(), Name: cl.Name(), Email: cl.Email,
			Country: cl.Country, Status: cl.Status.Label(), Tone: statusTone(cl.Status), Tier: st.TierLabel(cl.Tier), Manager: managerName(managers, cl.ManagerID),
			Created: cl.CreatedAt.UTC().Format("2006-01-02 15:04")})
	}
	if page.NextCursor != nil {
		q := url.Values{"q": {f.Query}, "status": {string(f.Status)}, "country": {f.Country}, "manager": {manager}, "tier": {f.Tier}, "since": {since}, "after": {*page.NextCursor}}
		d.Next = listPath + "?" + q.Encode()
	}
	return p.shell.Render(c, fiber.StatusOK, "clients_list", "Clients", d)
}

// problemText is a field problem's fields and messages as one line.
func problemText(err error) string {
	pr, ok := validation.As(err)
	if !ok || len(pr.Fields) == 0 {
		return "the request is not valid."
	}
	parts := make([]string, len(pr.Fields))
	for i, f := range pr.Fields {
		parts[i] = f.Field + " " + f.Message
	}
	return strings.Join(parts, "; ") + "."
}

// Back office: one client. The client page is the shell's "client" hub: a header of facts other modules may add
// to (web.Shell.HubSummary) and one tab per module (web.Shell.HubSection); this module draws the page, the client's
// facts, the policy badges and the "Profile and status" tab.

// ClientHub is the client page's hub (the audit trail's target type of a client): modules add their tabs and
// header facts to it from their front doors.
const ClientHub = audit.ClientHub

type kv struct{ Label, Value string }

type historyRow struct {
	At, From, To, Reason string
	By                   audit.Ref
}

type policyRow struct {
	Action, Reason string
	Allowed        bool
}

type actionOption struct{ Value, Label string }

// profileSection is the "Profile and status" tab.
type profileSection struct {
	Name, ID, CSRF    string
	Profile           []kv
	History           []historyRow
	CanManage, Erased bool
	// SignIn is the client's portal sign-in (SignInWired: identity is wired to tell).
	SignIn        identity.ClientSignIn
	SignInWired   bool
	Actions       []actionOption
	Error, Notice string
}

// clientPage is the hub page itself.
type clientPage struct {
	Hub           web.Hub
	Notice, Error string
}

// shown is the client a hub request is about, loaded once by the page and read by this module's facts and tab.
type shown struct {
	detail        Detail
	notice, error string
}

type shownKey struct{}

func (p *pages) client(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such client.")
	}
	d, err := p.s.Detail(ctx, t, viewerOf(c), id)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such client.")
	}
	if err != nil {
		return err
	}
	return p.renderClient(c, fiber.StatusOK, d, notices[c.Query("notice")], "")
}

var notices = map[string]string{"changed": "The status is changed.",
	"2fa-reset": "Two-factor sign-in is off and the client's sessions are ended; the client is emailed how to set it up again."}

// renderClient draws the hub for a client the viewer may see (d, loaded with the viewer's rule).
func (p *pages) renderClient(c *fiber.Ctx, status int, d Detail, notice, problem string) error {
	c.Locals(shownKey{}, shown{detail: d, notice: notice, error: problem})
	hub, err := p.shell.Hub(c, ClientHub, d.Client.ID, listPath+"/"+d.Client.ID.String())
	if err != nil {
		return err
	}
	hub.Title = d.Client.Name()
	page := clientPage{Hub: hub}
	if hub.Current.ID != "profile" { // the profile tab shows them beside its form
		page.Notice, page.Error = notice, problem
	}
	return p.shell.Render(c, status, "clients_client", d.Client.Name(), page)
}

// detailOf is the client the hub request is about: the page's own load, or (for a tab drawn another way) a fresh
// one under the viewer's rule.
func (p *pages) detailOf(c *fiber.Ctx, id uuid.UUID) (shown, error) {
	if sh, ok := c.Locals(shownKey{}).(shown); ok && sh.detail.Client.ID == id {
		return sh, nil
	}
	d, err := p.s.Detail(c.UserContext(), tenants.Current(c), viewerOf(c), id)
	return shown{detail: d}, err
}

// statusTone is how a status is coloured in the header.
func statusTone(s Status) web.Tone {
	switch s {
	case StatusKYCApproved:
		return web.ToneGood
	case StatusKYCSubmitted, StatusKYCMoreInfo, StatusRestricted:
		return web.ToneWarn
	case StatusKYCRejected, StatusSuspended:
		return web.ToneBad
	case StatusEmailVerified:
		return web.ToneInfo
	}
	return web.ToneNeutral
}

// referralText is a client's referral as the page says it.
func referralText(cl Client) string {
	if cl.ReferralCode == "" {
		return "None"
	}
	return cl.ReferralCode + " (" + map[string]string{ReferralLink: "from a referral link", ReferralTyped: "typed at registration"}[cl.ReferralSource] + ")"
}

// facts are the header's facts about the client: status (coloured), tier, manager, IB, country, since when.
func (p *pages) facts(c *fiber.Ctx, id uuid.UUID) ([]web.HubFact, error) {
	sh, err := p.detailOf(c, id)
	if err != nil {
		return nil, err
	}
	d, cl := sh.detail, sh.detail.Client
	managers, err := p.s.Managers(c.UserContext(), tenants.Current(c))
	if err != nil {
		return nil, err
	}
	status := web.HubFact{Label: "Status", Value: cl.Status.Label(), Tone: statusTone(cl.Status)}
	if n := len(d.History); n > 0 && d.History[n-1].Reason != "" {
		status.Hint = d.History[n-1].Reason
	}
	if cl.ErasedAt != nil {
		status.Hint = "personal data erased"
	}
	tier := web.HubFact{Label: "Tier", Value: d.Settings.TierLabel(cl.Tier)}
	if tier.Value == "" {
		tier.Value, tier.Hint = "None yet", "assigned at email verification"
	}
	manager := web.HubFact{Label: "Manager", Value: managerName(managers, cl.ManagerID)}
	if manager.Value == "" {
		manager.Value = "Nobody yet"
	} else if cl.ManagerID != nil {
		manager.Href = listPath + "?" + url.Values{"manager": {cl.ManagerID.String()}}.Encode()
	}
	ib := web.HubFact{Label: "IB", Value: "None"}
	if cl.ReferralCode != "" {
		ib.Value, ib.Hint = cl.ReferralCode, referralText(cl)
	}
	return []web.HubFact{status, tier, manager, ib,
		{Label: "Country", Value: CountryName(cl.Country) + " (" + cl.Country + ")"},
		{Label: "Client since", Value: cl.CreatedAt.UTC().Format("2 Jan 2006")}}, nil
}

// policyFacts are the policy gate's answers as badges: the action, allowed or not, and why.
func (p *pages) policyFacts(c *fiber.Ctx, id uuid.UUID) ([]web.HubFact, error) {
	sh, err := p.detailOf(c, id)
	if err != nil {
		return nil, err
	}
	out := make([]web.HubFact, 0, len(sh.detail.Policy))
	for _, pd := range sh.detail.Policy {
		f := web.HubFact{Label: pd.Action.Label(), Value: "not allowed", Tone: web.ToneBad, Hint: pd.Reason}
		if pd.Allowed {
			f.Value, f.Tone = "allowed", web.ToneGood
		}
		out = append(out, f)
	}
	return out, nil
}

// profileTab is the "Profile and status" tab: the profile, the status form, the portal sign-in and the status
// history with who made each change.
func (p *pages) profileTab(c *fiber.Ctx, id uuid.UUID) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	sh, err := p.detailOf(c, id)
	if err != nil {
		return "", err
	}
	d, cl := sh.detail, sh.detail.Client
	managers, err := p.s.Managers(ctx, t)
	if err != nil {
		return "", err
	}
	data := profileSection{Name: cl.Name(), ID: cl.ID.String(), CSRF: p.shell.CSRF(c), Notice: sh.notice, Error: sh.error}
	manager := managerName(managers, cl.ManagerID)
	if manager == "" {
		manager = "Nobody yet"
	}
	tier := d.Settings.TierLabel(cl.Tier)
	if tier == "" {
		tier = "Assigned at email verification"
	}
	dob := ""
	if !cl.DateOfBirth.IsZero() {
		dob = cl.DateOfBirth.Format(time.DateOnly)
	}
	exp := cl.Experience
	if exp == "" {
		exp = "Not declared"
	}
	data.Profile = []kv{{"Client id", cl.ID.String()}, {"Email", cl.Email}, {"Phone", cl.Phone}, {"Country", CountryName(cl.Country) + " (" + cl.Country + ")"},
		{"Date of birth", dob}, {"Declared experience", exp}, {"Marketing consent", map[bool]string{true: "Yes", false: "No"}[cl.MarketingConsent]},
		{"Status", cl.Status.Label()}, {"Tier", tier}, {"Account manager", manager}, {"Referral", referralText(cl)},
		{"Registered", cl.CreatedAt.UTC().Format("2006-01-02 15:04 UTC")}}
	actors := make([]audit.Actor, len(d.History))
	for i, h := range d.History {
		actors[i] = h.Actor
	}
	by, err := p.o.Audit.NameActors(ctx, t, actors)
	if err != nil {
		return "", err
	}
	for i := len(d.History) - 1; i >= 0; i-- {
		h := d.History[i]
		from := "—"
		if h.From != "" {
			from = h.From.Label()
		}
		data.History = append(data.History, historyRow{At: h.At.UTC().Format("2006-01-02 15:04"), From: from, To: h.To.Label(),
			Reason: h.Reason, By: by[h.Actor]})
	}
	v, _, err := p.shell.Viewer(c)
	if err != nil {
		return "", err
	}
	data.CanManage = v.Can(identity.PermClientsStatus)
	data.Erased = cl.ErasedAt != nil
	if p.o.Portal != nil {
		if data.SignIn, err = p.o.Portal.ClientSignIn(ctx, t, cl.ID); err != nil {
			return "", err
		}
		data.SignInWired = true
	}
	for _, a := range []struct{ action, label string }{{"restrict", "Restrict (withdrawals only)"}, {"suspend", "Suspend"}, {"close", "Close"}} {
		if !data.Erased && CanMove(cl.Status, staffActions[a.action]) {
			data.Actions = append(data.Actions, actionOption{a.action, a.label})
		}
	}
	switch {
	case d.Reinstate != "" && cl.Status == StatusClosed:
		data.Actions = append(data.Actions, actionOption{"reinstate", "Reopen (KYC starts again)"})
	case d.Reinstate != "":
		data.Actions = append(data.Actions, actionOption{"reinstate", "Reinstate (to " + d.Reinstate.Label() + ")"})
	}
	return p.shell.Fragment(c, "clients_hub_profile", data)
}

// resetTwoFactor is the client page's "Reset two-factor sign-in" button (identity.Service.ResetClientTwoFactor:
// the lost-phone procedure of docs/security.md).
func (p *pages) resetTwoFactor(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	id, err := web.ParseID(c, "id")
	if err != nil || p.o.Portal == nil {
		return web.NotFound("No such client.")
	}
	if _, err := p.s.Detail(ctx, t, viewerOf(c), id); errors.Is(err, ErrNotFound) { // the viewer's rule applies here too
		return web.NotFound("No such client.")
	} else if err != nil {
		return err
	}
	_, err = p.o.Portal.ResetClientTwoFactor(ctx, t, id, identity.Actor(c))
	if errors.Is(err, identity.ErrNotFound) {
		return web.NotFound("This client has no portal login.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(listPath+"/"+id.String()+"?notice=2fa-reset", fiber.StatusSeeOther)
}

func (p *pages) changeStatus(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such client.")
	}
	v := viewerOf(c)
	_, err = p.s.ChangeStatus(ctx, t, v, id, utils.CopyString(c.FormValue("action")), utils.CopyString(c.FormValue("reason")), identity.Actor(c))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such client.")
	}
	var msg string
	var te *TransitionError
	var ve *validation.Error
	switch {
	case err == nil:
		return c.Redirect(listPath+"/"+id.String()+"?notice=changed", fiber.StatusSeeOther)
	case errors.Is(err, ErrReasonRequired):
		msg = "Write the reason for the change (at most 500 characters): it goes into the client's history and the audit trail."
	case errors.As(err, &te) && te.Erased:
		msg = "This client's status cannot change: their personal data was erased. A returning person registers anew."
	case errors.As(err, &te):
		msg = fmt.Sprintf("A client who is %s cannot be moved to %s.", te.From.Label(), te.To.Label())
	case errors.As(err, &ve):
		msg = "Choose what to do: restrict, suspend, close or reinstate (reopen)."
	default:
		return err
	}
	d, err := p.s.Detail(ctx, t, v, id)
	if err != nil {
		return err
	}
	return p.renderClient(c, fiber.StatusUnprocessableEntity, d, "", msg)
}

// Back office: onboarding settings.

type settingsData struct {
	CSRF                                                   string
	MinimumAge, Tiers, TierRules, Blocked, Domains, MRules string
	Assignment                                             []option
	OwnOnly, DepositsEarly, DemoEarly                      bool
	Errors                                                 []string
	Notice                                                 string
}

func (p *pages) settingsData(c *fiber.Ctx, st Settings, managers []Manager) settingsData {
	d := settingsData{CSRF: p.shell.CSRF(c), MinimumAge: strconv.Itoa(st.MinimumAge), Blocked: strings.Join(st.BlockedCountries, ", "),
		Domains: strings.Join(st.ExtraDisposableDomains, "\n"), OwnOnly: st.ManagersSeeOwnClientsOnly,
		DepositsEarly: st.AllowDepositsBeforeKYC, DemoEarly: st.DemoFromEmailVerified}
	var lines []string
	for _, t := range st.Tiers {
		l := t.Name + " | " + t.Label
		if t.DepositsBeforeKYC {
			l += " | deposits before KYC"
		}
		lines = append(lines, l)
	}
	d.Tiers = strings.Join(lines, "\n")
	lines = nil
	for _, r := range st.TierRules {
		var parts []string
		if len(r.Countries) > 0 {
			parts = append(parts, "countries "+strings.Join(r.Countries, ","))
		}
		if len(r.Experience) > 0 {
			parts = append(parts, "experience "+strings.Join(r.Experience, ","))
		}
		lines = append(lines, r.Tier+": "+strings.Join(parts, "; "))
	}
	d.TierRules = strings.Join(lines, "\n")
	lines = nil
	for _, r := range st.ManagerRules {
		who := r.ManagerID.String()
		if i := slices.IndexFunc(managers, func(m Manager) bool { return m.ID == r.ManagerID }); i >= 0 {
			who = managers[i].Email
		}
		lines = append(lines, strings.Join(r.Countries, ",")+": "+who)
	}
	d.MRules = strings.Join(lines, "\n")
	d.Assignment = []option{{AssignRoundRobin, "Country rules, then round-robin among active sales staff", st.ManagerAssignment == AssignRoundRobin},
		{AssignRulesOnly, "Country rules only", st.ManagerAssignment == AssignRulesOnly}, {AssignNone, "Nobody (assign by hand)", st.ManagerAssignment == AssignNone}}
	return d
}

func (p *pages) settings(c *fiber.Ctx) error {
	st, err := p.s.Settings(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	managers, err := p.s.Managers(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := p.settingsData(c, st, managers)
	if c.Query("notice") == "saved" {
		d.Notice = "Saved."
	}
	if w, err := p.s.LastSettingsWeakening(c.UserContext(), tenants.Current(c)); err != nil {
		return err
	} else if w != nil {
		d.Notice = strings.TrimSpace(d.Notice + " " + w.Notice())
	}
	return p.shell.Render(c, fiber.StatusOK, "clients_settings", "Onboarding settings", d)
}

// parseSettings reads the settings form; problems are lines to show.
func parseSettings(c *fiber.Ctx, managers []Manager) (Settings, []string) {
	var bad []string
	st := Settings{ManagerAssignment: utils.CopyString(c.FormValue("manager_assignment")),
		ManagersSeeOwnClientsOnly: c.FormValue("own_only") == "on", AllowDepositsBeforeKYC: c.FormValue("deposits_early") == "on",
		DemoFromEmailVerified: c.FormValue("demo_early") == "on"}
	age, err := strconv.Atoi(strings.TrimSpace(c.FormValue("minimum_age")))
	if err != nil {
		bad = append(bad, "Minimum age: write a whole number.")
	}
	st.MinimumAge = age
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' })
	}
	st.BlockedCountries = split(c.FormValue("blocked"))
	st.ExtraDisposableDomains = split(c.FormValue("domains"))
	for i, line := range nonBlankLines(c.FormValue("tiers")) {
		parts := strings.Split(line, "|")
		t := Tier{Name: strings.TrimSpace(parts[0])}
		if len(parts) > 1 {
			t.Label = strings.TrimSpace(parts[1])
		}
		if len(parts) > 2 {
			flag := strings.ToLower(strings.TrimSpace(parts[2]))
			if flag != "deposits before kyc" && flag != "" {
				bad = append(bad, fmt.Sprintf("Tiers, line %d: the third part may only be \"deposits before KYC\".", i+1))
			}
			t.DepositsBeforeKYC = flag == "deposits before kyc"
		}
		st.Tiers = append(st.Tiers, t)
		if i == 0 {
			st.DefaultTier = t.Name
		}
	}
	if def := strings.TrimSpace(c.FormValue("default_tier")); def != "" {
		st.DefaultTier = def
	}
	for i, line := range nonBlankLines(c.FormValue("tier_rules")) {
		tier, conds, ok := strings.Cut(line, ":")
		if !ok {
			bad = append(bad, fmt.Sprintf("Tier rules, line %d: write \"tier: countries DE,FR; experience experienced\".", i+1))
			continue
		}
		r := TierRule{Tier: strings.TrimSpace(tier)}
		for _, cond := range strings.Split(conds, ";") {
			key, vals, _ := strings.Cut(strings.TrimSpace(cond), " ")
			switch strings.ToLower(key) {
			case "countries", "country":
				r.Countries = split(vals)
			case "experience":
				r.Experience = split(vals)
			case "":
			default:
				bad = append(bad, fmt.Sprintf("Tier rules, line %d: %q is neither countries nor experience.", i+1, key))
			}
		}
		st.TierRules = append(st.TierRules, r)
	}
	for i, line := range nonBlankLines(c.FormValue("manager_rules")) {
		countries, who, ok := strings.Cut(line, ":")
		who = strings.ToLower(strings.TrimSpace(who))
		j := slices.IndexFunc(managers, func(m Manager) bool { return strings.EqualFold(m.Email, who) || m.ID.String() == who })
		if !ok || j < 0 {
			bad = append(bad, fmt.Sprintf("Manager rules, line %d: write \"DE,AT: manager@email\" naming an active sales or retention staff user.", i+1))
			continue
		}
		st.ManagerRules = append(st.ManagerRules, ManagerRule{Countries: split(countries), ManagerID: managers[j].ID})
	}
	return st, bad
}

func nonBlankLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (p *pages) saveSettings(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	managers, err := p.s.Managers(ctx, t)
	if err != nil {
		return err
	}
	st, bad := parseSettings(c, managers)
	if len(bad) == 0 {
		_, err := p.s.SaveSettings(ctx, t, identity.Actor(c), st)
		var ve *validation.Error
		switch {
		case err == nil:
			return c.Redirect(settingsPath+"?notice=saved", fiber.StatusSeeOther)
		case errors.As(err, &ve):
			for _, f := range ve.Fields {
				bad = append(bad, strings.ReplaceAll(f.Field, "_", " ")+": "+f.Message+".")
			}
		default:
			return err
		}
	}
	d := p.settingsData(c, st, managers)
	// Show what was typed, not the normalised form, so the admin can correct it.
	d.MinimumAge, d.Tiers, d.TierRules = c.FormValue("minimum_age"), c.FormValue("tiers"), c.FormValue("tier_rules")
	d.Blocked, d.Domains, d.MRules = c.FormValue("blocked"), c.FormValue("domains"), c.FormValue("manager_rules")
	d.Errors = bad
	return p.shell.Render(c, fiber.StatusUnprocessableEntity, "clients_settings", "Onboarding settings", d)
}

// Portal: registration, verification, profile.

type registerData struct {
	CSRF, Email, FirstName, LastName, Phone, DateOfBirth, Referral string
	Marketing                                                      bool
	Countries, Experience                                          []option
	Errors                                                         map[string]string
	Problem                                                        string
}

func (p *pages) registerData(c *fiber.Ctx, r Registration) registerData {
	d := registerData{CSRF: p.shell.CSRF(c), Email: r.Email, FirstName: r.FirstName, LastName: r.LastName, Phone: r.Phone,
		DateOfBirth: r.DateOfBirth, Referral: r.Referral.Code, Marketing: r.MarketingConsent,
		Countries: countryOptions(strings.ToUpper(r.Country), "Choose your country of residence")}
	d.Experience = []option{{"", "Prefer not to say", r.Experience == ""}, {"none", "None", r.Experience == "none"},
		{"some", "Some (less than 2 years)", r.Experience == "some"}, {"experienced", "Experienced (2 years or more)", r.Experience == "experienced"}}
	return d
}

func (p *pages) registerForm(c *fiber.Ctx) error {
	var r Registration
	if ref, ok := referralOf(c, p.o.Secure); ok {
		r.Referral.Code = ref.Code
	}
	return p.shell.RenderPublic(c, fiber.StatusOK, "clients_register", "Open an account", p.registerData(c, r))
}

func (p *pages) register(c *fiber.Ctx) error {
	form := func(k string) string { return utils.CopyString(c.FormValue(k)) }
	r := Registration{Email: form("email"), Password: c.FormValue("password"), FirstName: form("first_name"), LastName: form("last_name"),
		Country: form("country"), Phone: form("phone"), DateOfBirth: form("date_of_birth"), Experience: form("experience"),
		MarketingConsent: c.FormValue("marketing_consent") == "on"}
	r.Referral = referralFor(c, p.o.Secure, form("referral_code"))
	if c.FormValue("password") != c.FormValue("confirm") {
		d := p.registerData(c, r)
		d.Errors = map[string]string{"confirm": "The two passwords differ."}
		d.Problem = "Please correct the fields marked below."
		return p.shell.RenderPublic(c, fiber.StatusUnprocessableEntity, "clients_register", "Open an account", d)
	}
	cl, err := p.s.Register(c.UserContext(), tenants.Current(c), r)
	var ve *validation.Error
	if errors.As(err, &ve) {
		d := p.registerData(c, r)
		d.Referral = form("referral_code")
		d.Errors = map[string]string{}
		for _, f := range ve.Fields {
			if prev, ok := d.Errors[f.Field]; ok {
				d.Errors[f.Field] = prev + "; " + f.Message
			} else {
				d.Errors[f.Field] = fieldLabel(f.Field) + " " + f.Message + "."
			}
		}
		d.Problem = "Please correct the fields marked below."
		return p.shell.RenderPublic(c, fiber.StatusUnprocessableEntity, "clients_register", "Open an account", d)
	}
	if err != nil {
		return err
	}
	return p.shell.RenderPublic(c, fiber.StatusOK, "clients_message", "Check your email", messageData{
		Heading: "Check your email",
		Text:    "We have sent a link to " + cl.Email + ". Open it within 48 hours to verify your address; then you can sign in and upload your documents.",
		Links:   []link{{"Send the link again", resendPath}, {"Sign in", "/portal/login"}}})
}

func fieldLabel(field string) string {
	return map[string]string{"email": "Email", "password": "Password", "first_name": "First name", "last_name": "Last name",
		"country": "Country", "phone": "Phone", "date_of_birth": "Date of birth", "experience": "Experience",
		"referral_code": "Referral code"}[field]
}

type link struct{ Label, Href string }

type messageData struct {
	Heading, Text string
	Links         []link
	Failed        bool
}

type verifyData struct{ CSRF, Action string }

// verifyForm is what the emailed link opens: it changes nothing (mail scanners fetch links before the reader does),
// and shows a button whose POST spends the link. A used, expired or unknown link says so at once.
func (p *pages) verifyForm(c *fiber.Ctx) error {
	token := utils.CopyString(c.Params("token"))
	err := p.s.CheckLink(c.UserContext(), tenants.Current(c), token)
	if err == nil {
		return p.shell.RenderPublic(c, fiber.StatusOK, "clients_verify", "Confirm your email",
			verifyData{CSRF: p.shell.CSRF(c), Action: verifyPath + url.PathEscape(token)})
	}
	if errors.Is(err, ErrLinkUnknown) || errors.Is(err, ErrLinkUsed) || errors.Is(err, ErrLinkExpired) {
		return p.linkRefused(c, err)
	}
	return err
}

func (p *pages) linkRefused(c *fiber.Ctx, err error) error {
	return p.shell.RenderPublic(c, fiber.StatusBadRequest, "clients_message", "Verification link", messageData{Heading: "This link does not work",
		Text: linkMessage(err), Links: []link{{"Send me a new link", resendPath}, {"Sign in", "/portal/login"}}, Failed: true})
}

// verify is the confirmation's POST: it spends the link.
func (p *pages) verify(c *fiber.Ctx) error {
	v, err := p.s.Verify(c.UserContext(), tenants.Current(c), utils.CopyString(c.Params("token")))
	switch {
	case err == nil && v.Already:
		return p.shell.RenderPublic(c, fiber.StatusOK, "clients_message", "Email verified", messageData{Heading: "Your email is already verified",
			Text: "Sign in to continue with your account.", Links: []link{{"Sign in", "/portal/login"}}})
	case err == nil:
		return p.shell.RenderPublic(c, fiber.StatusOK, "clients_message", "Email verified", messageData{Heading: "Your email is verified",
			Text:  "Thank you, " + v.Client.FirstName + ". Sign in to upload your identity documents; once they are approved you can fund your account and trade.",
			Links: []link{{"Sign in", "/portal/login?next=" + url.QueryEscape("/portal/profile")}}})
	case errors.Is(err, ErrLinkUnknown), errors.Is(err, ErrLinkUsed), errors.Is(err, ErrLinkExpired):
		return p.linkRefused(c, err)
	}
	return err
}

type resendData struct {
	CSRF, Email, Notice string
}

func (p *pages) resendForm(c *fiber.Ctx) error {
	return p.shell.RenderPublic(c, fiber.StatusOK, "clients_resend", "New verification link", resendData{CSRF: p.shell.CSRF(c)})
}

func (p *pages) resend(c *fiber.Ctx) error {
	email := strings.TrimSpace(utils.CopyString(c.FormValue("email")))
	if email != "" {
		if err := p.s.ResendVerification(c.UserContext(), tenants.Current(c), email); err != nil {
			return err
		}
	}
	// The same answer whether or not the address has a client waiting.
	return p.shell.RenderPublic(c, fiber.StatusOK, "clients_resend", "New verification link", resendData{CSRF: p.shell.CSRF(c), Email: email,
		Notice: "If that address is registered here and not verified yet, we have emailed it a new link. It works once, for 48 hours."})
}

type profileData struct {
	CSRF, Email, Status string
	Registered          bool
	Profile             []kv
	Policy              []policyRow
}

func (p *pages) profile(c *fiber.Ctx) error {
	cl, err := p.s.portalClient(c)
	if errors.Is(err, ErrNotFound) {
		return p.shell.Render(c, fiber.StatusOK, "clients_message", "Your profile", messageData{Heading: "No client profile",
			Text: "This sign-in has no client profile yet. Contact support to have it linked."})
	}
	if err != nil {
		return err
	}
	pol, err := p.s.Policy(c.UserContext(), tenants.Current(c), cl)
	if err != nil {
		return err
	}
	d := profileData{CSRF: p.shell.CSRF(c), Email: cl.Email, Status: cl.Status.Label(), Registered: cl.Status == StatusRegistered}
	dob := ""
	if !cl.DateOfBirth.IsZero() {
		dob = cl.DateOfBirth.Format(time.DateOnly)
	}
	d.Profile = []kv{{"Name", cl.Name()}, {"Email", cl.Email}, {"Phone", cl.Phone}, {"Country", CountryName(cl.Country)},
		{"Date of birth", dob}, {"Account status", cl.Status.Label()}}
	for _, pd := range pol {
		d.Policy = append(d.Policy, policyRow{Action: pd.Action.Label(), Allowed: pd.Allowed, Reason: pd.ForClient})
	}
	return p.shell.Render(c, fiber.StatusOK, "clients_profile", "Your profile", d)
}
