package kyc

import (
	"embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are the review's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	queuePath    = "/backoffice/kyc"
	casePath     = "/backoffice/kyc/cases/"
	settingsPath = "/backoffice/settings/kyc"
)

// MountPages adds the queue, the review page and the KYC settings page to the back office, and the client page's
// KYC review tab (sections.go).
func MountPages(shell *web.Shell, s *Service) {
	p := &pages{shell: shell, s: s, cursors: web.NewCursors([]byte("brokerdesk kyc queue page cursor v1 (positions only)"))}
	shell.Nav(web.NavEntry{Group: web.GroupCompliance, Label: "KYC queue", Href: queuePath, Permission: PermReview},
		web.NavEntry{Group: web.GroupSettings, Label: "KYC settings", Href: settingsPath, Permission: PermSettings})
	shell.Tiles(p.tiles()...)
	shell.Page(fiber.MethodGet, queuePath, PermReview, p.queue)
	shell.Page(fiber.MethodGet, casePath+":id", PermReview, p.review)
	shell.Post(casePath+":id/claim", PermReview, p.act(func(c *fiber.Ctx, id, officer uuid.UUID) (string, error) {
		_, err := s.Claim(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c))
		return "claimed", err
	}))
	shell.Post(casePath+":id/release", PermReview, p.act(func(c *fiber.Ctx, id, officer uuid.UUID) (string, error) {
		_, err := s.Release(c.UserContext(), tenants.Current(c), id, officer, mayReassign(c), identity.Actor(c))
		return "released", err
	}))
	shell.Post(casePath+":id/checklist", PermReview, p.act(p.checklist))
	shell.Post(casePath+":id/decision", PermReview, p.act(p.decide))
	shell.Page(fiber.MethodGet, settingsPath, PermSettings, p.settings)
	shell.Post(settingsPath, PermSettings, p.saveSettings)
	s.mountSections(shell)
}

type pages struct {
	shell   *web.Shell
	s       *Service
	cursors *web.Cursors
}

// Page data.

type option struct {
	Value, Label string
	Selected     bool
}

type queueRow struct {
	ID, Href, Client, Country, Document, Status, Waited, Due, Holder, Decision string
	Overdue, Second                                                            bool
}

type queueData struct {
	Statuses, Types, Holders, Overdue []option
	Rows                              []queueRow
	SLAHours                          int
	Next, Error                       string
}

func options(current string, pairs ...string) []option {
	out := make([]option, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, option{Value: pairs[i], Label: pairs[i+1], Selected: pairs[i] == current})
	}
	return out
}

func typeOptions(current string, empty string) []option {
	pairs := []string{"", empty}
	for _, t := range DocumentTypes {
		pairs = append(pairs, string(t), t.Label())
	}
	return options(current, pairs...)
}

// waited is a duration as an officer reads it: "3 d 4 h", "5 h 12 min", "7 min".
func waited(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%d d %d h", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d min", int(d/time.Minute))
}

func (p *pages) queue(c *fiber.Ctx) error {
	q := queryOf(c)
	d := queueData{
		Statuses: options(q.Status, "", "Waiting (open and claimed)", "open", "Open", "claimed", "Claimed", "decided", "Decided"),
		Types:    typeOptions(q.Type, "Any document"),
		Holders:  options(q.Holder, "", "Anyone", "me", "Me"),
		Overdue:  options(q.Overdue, "", "Any", "true", "Overdue", "false", "Within SLA"),
	}
	holders, err := p.s.Holders(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	pr, _ := identity.PrincipalOf(c)
	for _, h := range holders {
		if h.ID != pr.UserID {
			d.Holders = append(d.Holders, option{Value: h.ID.String(), Label: h.Name, Selected: q.Holder == h.ID.String()})
		}
	}
	f, err := filterOf(c, q)
	var after apiCursor
	var from *Cursor
	if err == nil && c.Query("after") != "" {
		if p.cursors.Decode(c.Query("after"), &after) != nil || after.Decided != (f.Status == StatusDecided) {
			err = errors.New("bad cursor")
		}
		from = &Cursor{At: after.At, ID: after.ID}
	}
	if err != nil {
		d.Error = "That filter or page link is not valid."
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "kyc_queue", "KYC queue", d)
	}
	const limit = web.DefaultPageLimit
	items, st, err := p.s.List(c.UserContext(), tenants.Current(c), f, from, limit+1)
	if err != nil {
		return err
	}
	d.SLAHours = st.SLAHours
	if len(items) > limit {
		cur := CursorOf(f, items[limit-1])
		next, err := p.cursors.Encode(apiCursor{At: cur.At, ID: cur.ID, Decided: f.Status == StatusDecided})
		if err != nil {
			return err
		}
		v := url.Values{"status": {q.Status}, "type": {q.Type}, "holder": {q.Holder}, "overdue": {q.Overdue}, "after": {next}}
		d.Next = queuePath + "?" + v.Encode()
		items = items[:limit]
	}
	for _, it := range items {
		r := queueRow{ID: it.ID.String(), Href: casePath + it.ID.String(), Client: it.ClientName, Country: it.ClientCountry,
			Document: it.DocumentType.Label(), Status: string(it.Status), Waited: waited(it.Waiting),
			Due: it.DueAt.UTC().Format("2006-01-02 15:04"), Holder: it.HolderName, Overdue: it.Overdue,
			Second: it.AwaitingSecondApproval(), Decision: strings.ReplaceAll(string(it.Decision), "_", " ")}
		d.Rows = append(d.Rows, r)
	}
	return p.shell.Render(c, fiber.StatusOK, "kyc_queue", "KYC queue", d)
}

type reviewData struct {
	CSRF, Notice, Error string
	Problems            []string
	Case                queueRow
	Detail              Detail
	DOB                 string
	HighRisk            bool
	ViewURL             string
	IsImage, IsPDF      bool
	Duplicates          []string
	Mine, Open, Decided bool
	// Reassign: another officer holds the case and the viewer may return it to the queue (kyc.reassign).
	Reassign          bool
	FirstApprovedByMe bool
	Reasons           []Reason
	Form              struct{ ReasonCode, Message, Verdict string }
}

var reviewNotices = map[string]string{
	"claimed":   "You hold this case now.",
	"released":  "The case is back in the queue.",
	"checklist": "Checklist saved.",
	"approved":  "Approved.",
	"first":     "First approval recorded: a different officer gives the second approval.",
	"rejected":  "Rejected; the client is emailed the reason.",
	"more_info": "The client is asked for more information by email.",
}

func (p *pages) review(c *fiber.Ctx) error {
	return p.renderReview(c, fiber.StatusOK, reviewData{Notice: reviewNotices[c.Query("notice")]})
}

func (p *pages) renderReview(c *fiber.Ctx, status int, d reviewData) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	det, err := p.s.Detail(c.UserContext(), tenants.Current(c), id)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such KYC case.")
	}
	if err != nil {
		return err
	}
	pr, _ := identity.PrincipalOf(c)
	it := det.Item
	d.CSRF, d.Detail, d.Reasons = p.shell.CSRF(c), det, Reasons
	d.Case = queueRow{ID: it.ID.String(), Client: it.ClientName, Country: it.ClientCountry, Document: it.DocumentType.Label(),
		Status: string(it.Status), Waited: waited(it.Waiting), Due: it.DueAt.UTC().Format("2006-01-02 15:04"),
		Holder: it.HolderName, Overdue: it.Overdue, Second: it.AwaitingSecondApproval(), Decision: strings.ReplaceAll(string(it.Decision), "_", " ")}
	if !det.Client.DateOfBirth.IsZero() {
		d.DOB = det.Client.DateOfBirth.Format("2 January 2006")
	}
	d.HighRisk = slices.Contains(det.Settings.HighRiskCountries, det.Client.Country)
	d.Mine = it.Status == StatusClaimed && it.HolderID != nil && *it.HolderID == pr.UserID
	d.Open, d.Decided = it.Status == StatusOpen, it.Status == StatusDecided
	d.Reassign = it.Status == StatusClaimed && !d.Mine && mayReassign(c)
	d.FirstApprovedByMe = it.FirstApproverID != nil && *it.FirstApproverID == pr.UserID
	for _, dup := range det.Document.DuplicateClients {
		d.Duplicates = append(d.Duplicates, dup.String())
	}
	d.IsImage = strings.HasPrefix(det.Document.ContentType, "image/")
	d.IsPDF = det.Document.ContentType == "application/pdf"
	if det.Document.ErasedAt == nil {
		// Every view is audited by the documents module; the link lives at most 5 minutes.
		if d.ViewURL, err = p.s.ViewURL(c.UserContext(), tenants.Current(c), det, identity.Actor(c)); err != nil {
			return err
		}
	}
	return p.shell.Render(c, status, "kyc_review", "KYC review: "+it.ClientName, d)
}

// act runs one of the review page's forms and goes back to the page with a notice, or shows the page again with
// what went wrong.
func (p *pages) act(do func(c *fiber.Ctx, id, officer uuid.UUID) (string, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, officer, err := officerOf(c)
		if err != nil {
			return err
		}
		notice, err := do(c, id, officer)
		if err == nil {
			return c.Redirect(casePath+id.String()+"?notice="+notice, fiber.StatusSeeOther)
		}
		var pr *web.Problem
		if !errors.As(apiError(err), &pr) {
			return err
		}
		if pr.Status == fiber.StatusNotFound {
			return pr
		}
		d := reviewData{Error: pr.Detail}
		for _, fe := range pr.Errors {
			if strings.HasPrefix(fe.Field, "checklist.") {
				d.Problems = append(d.Problems, fe.Message) // the item's label says which
			} else {
				d.Problems = append(d.Problems, strings.ReplaceAll(fe.Field, "_", " ")+" "+fe.Message)
			}
		}
		d.Form.ReasonCode, d.Form.Message, d.Form.Verdict = c.FormValue("reason_code"), c.FormValue("message"), c.FormValue("decision")
		return p.renderReview(c, pr.Status, d)
	}
}

// checklist saves the checklist form: every item of the form's list is set, ticked when its box is checked.
func (p *pages) checklist(c *fiber.Ctx, id, officer uuid.UUID) (string, error) {
	items := map[string]bool{}
	for _, k := range c.Request().PostArgs().PeekMulti("items") {
		items[string(k)] = false
	}
	for _, k := range c.Request().PostArgs().PeekMulti("ticked") {
		items[string(k)] = true
	}
	if len(items) == 0 {
		return "checklist", nil
	}
	_, err := p.s.SetChecklist(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c), items)
	return "checklist", err
}

func (p *pages) decide(c *fiber.Ctx, id, officer uuid.UUID) (string, error) {
	in := DecisionInput{Verdict: Verdict(c.FormValue("decision")), ReasonCode: ReasonCode(c.FormValue("reason_code")), Message: c.FormValue("message")}
	if in.Verdict != VerdictReject {
		in.ReasonCode = ""
	}
	out, err := p.s.Decide(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c), in)
	if err != nil {
		return "", err
	}
	switch {
	case out.AwaitingSecondApproval:
		return "first", nil
	case out.Case.Decision == DecisionApproved:
		return "approved", nil
	case out.Case.Decision == DecisionRejected:
		return "rejected", nil
	}
	return "more_info", nil
}

// Settings page.

type checklistField struct {
	Type, Label, Name, Text string
}

type settingsData struct {
	CSRF, Notice, Error string
	Problems            []string
	SLAHours            string
	FourEyes            bool
	HighRisk, Required  string
	Checklists          []checklistField
	Types               []option
}

// checklistText writes a checklist as the settings form edits it: one item a line, "key: Label", with
// " (optional)" after items not required.
func checklistText(items []ChecklistItem) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.Key + ": " + it.Label)
		if !it.Required {
			b.WriteString(" (optional)")
		}
		b.WriteString("\n")
	}
	return b.String()
}

var nonKey = regexp.MustCompile(`[^a-z0-9]+`)

// parseChecklist reads checklistText's format; a line without "key:" gets a key made from its label.
func parseChecklist(text string) []ChecklistItem {
	var out []ChecklistItem
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		it := ChecklistItem{Required: true}
		if rest, ok := strings.CutSuffix(line, "(optional)"); ok {
			line, it.Required = strings.TrimSpace(rest), false
		}
		key, label, ok := strings.Cut(line, ":")
		if ok && itemKey.MatchString(strings.TrimSpace(key)) {
			it.Key, it.Label = strings.TrimSpace(key), strings.TrimSpace(label)
		} else {
			it.Label = line
			it.Key = strings.Trim(nonKey.ReplaceAllString(strings.ToLower(line), "_"), "_")
			if it.Key != "" && (it.Key[0] < 'a' || it.Key[0] > 'z') {
				it.Key = "item_" + it.Key
			}
			if len(it.Key) > 60 {
				it.Key = strings.TrimRight(it.Key[:60], "_")
			}
		}
		out = append(out, it)
	}
	return out
}

// requiredText writes the required document groups one a line, types separated by " or ".
func requiredText(groups [][]documents.Type) string {
	var lines []string
	for _, g := range groups {
		names := make([]string, len(g))
		for i, t := range g {
			names[i] = string(t)
		}
		lines = append(lines, strings.Join(names, " or "))
	}
	return strings.Join(lines, "\n")
}

func parseRequired(text string) [][]documents.Type {
	var out [][]documents.Type
	for _, line := range strings.Split(text, "\n") {
		var g []documents.Type
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			if f == "or" {
				continue
			}
			g = append(g, documents.Type(strings.ToLower(f)))
		}
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func parseCountries(text string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, strings.ToUpper(f))
	}
	return out
}

func settingsForm(st Settings) settingsData {
	d := settingsData{SLAHours: strconv.Itoa(st.SLAHours), FourEyes: st.FourEyes, HighRisk: strings.Join(st.HighRiskCountries, ", "),
		Required: requiredText(st.RequiredDocuments)}
	for _, t := range DocumentTypes {
		d.Checklists = append(d.Checklists, checklistField{Type: string(t), Label: t.Label(), Name: "checklist_" + string(t), Text: checklistText(st.Checklists[t])})
	}
	return d
}

func (p *pages) settings(c *fiber.Ctx) error {
	st, err := p.s.Settings(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := settingsForm(st)
	d.CSRF = p.shell.CSRF(c)
	if c.Query("notice") == "saved" {
		d.Notice = "KYC settings saved."
	}
	if w, err := p.s.LastSettingsWeakening(c.UserContext(), tenants.Current(c)); err != nil {
		return err
	} else if w != nil {
		d.Notice = strings.TrimSpace(d.Notice + " " + w.Notice())
	}
	return p.shell.Render(c, fiber.StatusOK, "kyc_settings", "KYC settings", d)
}

func (p *pages) saveSettings(c *fiber.Ctx) error {
	st := Settings{Checklists: map[documents.Type][]ChecklistItem{}, FourEyes: c.FormValue("four_eyes") == "on",
		HighRiskCountries: parseCountries(c.FormValue("high_risk_countries")), RequiredDocuments: parseRequired(c.FormValue("required_documents"))}
	var slaBad bool
	if st.SLAHours, slaBad = parseHours(c.FormValue("sla_hours")); slaBad {
		st.SLAHours = -1 // reported by Validate
	}
	for _, t := range DocumentTypes {
		if items := parseChecklist(c.FormValue("checklist_" + string(t))); len(items) > 0 {
			st.Checklists[t] = items
		}
	}
	_, err := p.s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st)
	var pr *web.Problem
	if errors.As(apiError(err), &pr) && pr.Status == fiber.StatusUnprocessableEntity {
		d := settingsForm(st)
		d.CSRF, d.Error = p.shell.CSRF(c), "The settings were not saved:"
		d.SLAHours = c.FormValue("sla_hours")
		for _, fe := range pr.Errors {
			d.Problems = append(d.Problems, fe.Field+" "+fe.Message)
		}
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "kyc_settings", "KYC settings", d)
	}
	if err != nil {
		return err
	}
	return c.Redirect(settingsPath+"?notice=saved", fiber.StatusSeeOther)
}

func parseHours(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err != nil
}
