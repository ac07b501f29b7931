package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The payments settings page (settings.manage): the rules for money in (the exceptions' SLA, the four-eyes
// thresholds of manual deposits, receipt emails) and the gateways with their webhook URLs; a form per gateway kind
// creates or changes one. Secrets are write-only: the form says "set" for a stored secret and never shows it; an
// empty secret field keeps what is stored, so one secret can be rotated without typing the others again.

type gatewayRow struct {
	Slug, Name, Kind, Currencies, Limits, WebhookURL, Href string
	Enabled, Secrets, Manual                               bool
}

type addLink struct{ Label, Href string }

type settingsPage struct {
	CSRF, Notice, Error string
	Problems            []string
	SLAHours            string
	Thresholds          string
	Receipts            bool
	Gateways            []gatewayRow
	Add                 []addLink
}

var kindLabels = map[string]string{"stripe": "Stripe (cards)", "generic": "Signed-webhook processor (crypto, local methods)", KindManual: "Bank account (manual deposits)"}

func kindLabel(kind string) string {
	if l, ok := kindLabels[kind]; ok {
		return l
	}
	return kind
}

// limitsText writes a gateway's limits one currency a line: "USD 10.00 50000.00" ("-" for no bound).
func limitsText(g Gateway) string {
	var lines []string
	for _, code := range g.Currencies {
		l, ok := g.Limits[code]
		cur, known := money.Lookup(code)
		if !ok || !known {
			continue
		}
		bound := func(v int64) string {
			if v <= 0 {
				return "-"
			}
			return money.Format(v, cur)
		}
		lines = append(lines, code+" "+bound(l.Min)+" "+bound(l.Max))
	}
	return strings.Join(lines, "\n")
}

// limitsSummary writes them for the list ("USD 10.00 to 50,000.00").
func limitsSummary(g Gateway) string {
	var parts []string
	for _, code := range g.Currencies {
		l, ok := g.Limits[code]
		cur, known := money.Lookup(code)
		if !ok || !known || (l.Min == 0 && l.Max == 0) {
			continue
		}
		s := code + " "
		switch {
		case l.Min > 0 && l.Max > 0:
			s += money.Grouped(l.Min, cur) + " to " + money.Grouped(l.Max, cur)
		case l.Min > 0:
			s += "from " + money.Grouped(l.Min, cur)
		default:
			s += "up to " + money.Grouped(l.Max, cur)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// parseLimits reads limitsText's format.
func parseLimits(text string, f *validation.Fields) map[string]Limit {
	out := map[string]Limit{}
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(strings.ReplaceAll(line, ",", ""))
		if len(fields) == 0 {
			continue
		}
		cur, ok := money.Lookup(strings.ToUpper(fields[0]))
		if !ok || len(fields) > 3 {
			f.Add("limits", fmt.Sprintf("line %d: a currency, then the minimum and the maximum (- for none)", i+1))
			continue
		}
		var l Limit
		for j, dst := range []*int64{&l.Min, &l.Max} {
			if len(fields) <= j+1 || fields[j+1] == "-" {
				continue
			}
			v, err := money.Parse(fields[j+1], cur)
			if err != nil || v < 0 {
				f.Add("limits", fmt.Sprintf("line %d: %q is not an amount in %s", i+1, fields[j+1], cur.Code))
				continue
			}
			*dst = v
		}
		out[cur.Code] = l
	}
	return out
}

// thresholdLines writes the four-eyes thresholds one currency a line ("USD 10000.00").
func thresholdLines(m map[string]int64) string {
	var lines []string
	for _, code := range money.Codes() {
		if v, ok := m[code]; ok {
			if cur, ok := money.Lookup(code); ok {
				lines = append(lines, code+" "+money.Format(v, cur))
			}
		}
	}
	return strings.Join(lines, "\n")
}

func parseThresholds(text string, f *validation.Fields) map[string]int64 {
	out := map[string]int64{}
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(strings.ReplaceAll(line, ",", ""))
		if len(fields) == 0 {
			continue
		}
		cur, ok := money.Lookup(strings.ToUpper(fields[0]))
		if !ok || len(fields) != 2 {
			f.Add("manual_approval", fmt.Sprintf("line %d: a currency and an amount, like USD 10000.00", i+1))
			continue
		}
		v, err := money.Parse(fields[1], cur)
		if err != nil {
			f.Add("manual_approval", fmt.Sprintf("line %d: %q is not an amount in %s", i+1, fields[1], cur.Code))
			continue
		}
		out[cur.Code] = v
	}
	return out
}

func (p *pages) settings(c *fiber.Ctx) error {
	st, err := p.s.Settings(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := settingsPage{SLAHours: strconv.Itoa(st.ExceptionSLAHours), Thresholds: thresholdLines(st.ManualApproval), Receipts: st.ReceiptEmails}
	if c.Query("notice") == "saved" {
		d.Notice = "The payments settings are saved."
	} else if slug := c.Query("saved"); slug != "" {
		d.Notice = "The gateway " + slug + " is saved."
	}
	return p.renderSettings(c, fiber.StatusOK, d)
}

func (p *pages) renderSettings(c *fiber.Ctx, status int, d settingsPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d.CSRF = p.shell.CSRF(c)
	list, err := p.s.Gateways(ctx, t)
	if err != nil {
		return err
	}
	for _, g := range list {
		row := gatewayRow{Slug: g.Slug, Name: g.Name, Kind: kindLabel(g.Kind), Currencies: strings.Join(g.Currencies, ", "),
			Limits: limitsSummary(g), Enabled: g.Enabled, Secrets: g.HasSecrets, Manual: g.Kind == KindManual,
			Href: gatewayFormPath + "/" + g.Slug}
		if !row.Manual {
			row.WebhookURL = p.s.o.TenantURL(t, WebhookPath(g.Slug))
		}
		d.Gateways = append(d.Gateways, row)
	}
	for _, k := range p.s.kindNames() {
		d.Add = append(d.Add, addLink{Label: kindLabel(k), Href: gatewayFormPath + "/new?kind=" + k})
		presets := make([]string, 0, len(p.s.kinds[k].Presets))
		for name := range p.s.kinds[k].Presets {
			presets = append(presets, name)
		}
		sort.Strings(presets)
		for _, name := range presets {
			d.Add = append(d.Add, addLink{Label: kindLabel(k) + ": the " + name + " preset", Href: gatewayFormPath + "/new?kind=" + k + "&preset=" + name})
		}
	}
	d.Add = append(d.Add, addLink{Label: kindLabel(KindManual), Href: gatewayFormPath + "/new?kind=" + KindManual})
	return p.shell.Render(c, status, "payments_settings", "Payments settings", d)
}

// kindNames are the adapter kinds this deployment speaks, by name.
func (s *Service) kindNames() []string {
	var out []string
	for n := range s.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (p *pages) saveSettings(c *fiber.Ctx) error {
	var f validation.Fields
	sla, err := strconv.Atoi(strings.TrimSpace(c.FormValue("exception_sla_hours")))
	if err != nil {
		f.Add("exception_sla_hours", "a whole number of hours, from 1 to 720")
		sla = 24
	}
	st := Settings{ExceptionSLAHours: sla, ManualApproval: parseThresholds(c.FormValue("manual_approval"), &f),
		ReceiptEmails: c.FormValue("receipt_emails") == "on"}
	if f.Len() == 0 {
		err = p.s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st)
	} else {
		err = f.Err()
	}
	if err != nil {
		pr, ok := refusal(err)
		if !ok {
			return err
		}
		d := settingsPage{Error: "The settings were not saved:", Problems: problemLines(pr), SLAHours: c.FormValue("exception_sla_hours"),
			Thresholds: c.FormValue("manual_approval"), Receipts: st.ReceiptEmails}
		return p.renderSettings(c, pr.Status, d)
	}
	return c.Redirect(settingsPath+"?notice=saved", fiber.StatusSeeOther)
}

// The gateway form.

// secretField is one write-only secret of a kind's form.
type secretField struct {
	Name, Label string
	Multi, Set  bool
}

// secretFields are the secrets each kind's form asks for (modules/payments/stripe and generic).
var secretFields = map[string][]secretField{
	"stripe": {{Name: "secret_key", Label: "Secret key (sk_live_…, sk_test_… or a restricted rk_… key)"},
		{Name: "webhook_secrets", Label: "Webhook signing secrets (whsec_…), one a line: two while Stripe rolls the secret", Multi: true}},
	"generic": {{Name: "api_key", Label: "API key the processor gave you"},
		{Name: "webhook_secrets", Label: "Callback signing secrets, one a line (1 to 4, at least 8 characters each)", Multi: true}},
}

type gatewayPage struct {
	CSRF, Error                                   string
	Problems                                      []string
	New                                           bool
	Kind, KindLabel                               string
	Slug, Name, Currencies, Limits                string
	Enabled                                       bool
	APIBase, Config, Preset, WebhookURL           string
	Presets                                       []option
	Secrets                                       []secretField
	Stripe, Generic, Manual, HasSecrets, Advanced bool
}

// storedSecrets says which of a gateway's secrets are stored (the values are opened, read for their presence or
// merged, and dropped: never shown).
func (s *Service) storedSecrets(ctx context.Context, t tenants.Tenant, slug string) (map[string]json.RawMessage, error) {
	var sealed string
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		_, sealed, err = s.gatewayTx(ctx, tx, `slug = $1`, slug, true)
		return err
	})
	if err != nil || sealed == "" {
		return map[string]json.RawMessage{}, err
	}
	raw, err := s.o.Sealer.Open(sealPurpose, sealed)
	if err != nil {
		return nil, fmt.Errorf("payments: open the secrets of %s: %w", slug, err)
	}
	defer clear(raw)
	out := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("payments: the secrets of %s are not a JSON object", slug)
	}
	return out, nil
}

// present reports whether a stored secret has a value (a non-empty string or list).
func present(v json.RawMessage) bool {
	t := strings.TrimSpace(string(v))
	return t != "" && t != `""` && t != "[]" && t != "null"
}

func indentJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

func (p *pages) gatewayForm(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := gatewayPage{New: c.Params("slug") == "", Enabled: true}
	if d.New {
		d.Kind = c.Query("kind")
		if d.Kind == "" { // which kind: the settings page lists them under "Add a gateway"
			return p.settings(c)
		}
		if _, ok := p.s.kinds[d.Kind]; !ok && d.Kind != KindManual {
			return web.NotFound("No such kind of gateway.")
		}
		d.Config = "{}"
		if name := c.Query("preset"); name != "" {
			preset, ok := p.s.kinds[d.Kind].Presets[name]
			if !ok {
				return web.NotFound("No such preset.")
			}
			d.Preset, d.Config = name, indentJSON(preset)
		}
		return p.renderGateway(c, fiber.StatusOK, d)
	}
	g, err := p.s.Gateway(ctx, t, c.Params("slug"))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such gateway.")
	}
	if err != nil {
		return err
	}
	d.Kind, d.Slug, d.Name, d.Currencies, d.Limits, d.Enabled = g.Kind, g.Slug, g.Name, strings.Join(g.Currencies, ", "), limitsText(g), g.Enabled
	d.Config = indentJSON(g.Config)
	var cfg map[string]any
	if json.Unmarshal(g.Config, &cfg) == nil {
		d.APIBase, _ = cfg["api_base"].(string)
	}
	return p.renderGateway(c, fiber.StatusOK, d)
}

func (p *pages) renderGateway(c *fiber.Ctx, status int, d gatewayPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d.CSRF, d.KindLabel = p.shell.CSRF(c), kindLabel(d.Kind)
	d.Stripe, d.Generic, d.Manual = d.Kind == "stripe", d.Kind == "generic", d.Kind == KindManual
	d.Advanced = !d.Stripe && !d.Generic && !d.Manual
	var stored map[string]json.RawMessage
	if !d.New {
		var err error
		if stored, err = p.s.storedSecrets(ctx, t, d.Slug); err != nil {
			return err
		}
		if d.Kind != KindManual {
			d.WebhookURL = p.s.o.TenantURL(t, WebhookPath(d.Slug))
		}
	}
	for _, f := range secretFields[d.Kind] {
		f.Set = present(stored[f.Name])
		d.HasSecrets = d.HasSecrets || f.Set
		d.Secrets = append(d.Secrets, f)
	}
	names := make([]string, 0)
	if k, ok := p.s.kinds[d.Kind]; ok {
		for n := range k.Presets {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		d.Presets = append(d.Presets, option{Value: n, Label: n, Selected: n == d.Preset})
	}
	title := "Add a gateway: " + d.KindLabel
	if !d.New {
		title = "Gateway " + d.Name
	}
	return p.shell.Render(c, status, "payments_gateway", title, d)
}

func (p *pages) saveGateway(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := gatewayPage{New: c.FormValue("new") == "1", Kind: c.FormValue("kind"), Slug: strings.TrimSpace(strings.ToLower(c.FormValue("slug"))),
		Name: strings.TrimSpace(c.FormValue("name")), Currencies: c.FormValue("currencies"), Limits: c.FormValue("limits"),
		Enabled: c.FormValue("enabled") == "on", APIBase: strings.TrimSpace(c.FormValue("api_base")), Config: c.FormValue("config"),
		Preset: c.FormValue("preset")}
	if _, ok := p.s.kinds[d.Kind]; !ok && d.Kind != KindManual {
		return web.Invalid("The gateway was not saved.", web.FieldError{Field: "kind", Message: "not a kind this deployment speaks"})
	}
	var f validation.Fields
	in := GatewayInput{Slug: d.Slug, Name: d.Name, Kind: d.Kind, Enabled: d.Enabled, Limits: parseLimits(d.Limits, &f)}
	for _, code := range strings.FieldsFunc(strings.ToUpper(d.Currencies), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		if !slices.Contains(in.Currencies, code) {
			in.Currencies = append(in.Currencies, code)
		}
	}
	var existing *Gateway
	if g, err := p.s.Gateway(ctx, t, d.Slug); err == nil {
		existing = &g
		if d.New {
			f.Add("slug", "another gateway uses this slug: choose another, or edit that one")
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	} else if !d.New {
		return web.NotFound("No such gateway.")
	}
	switch d.Kind {
	case "stripe":
		cfg := map[string]any{}
		if existing != nil {
			_ = json.Unmarshal(existing.Config, &cfg)
		}
		delete(cfg, "api_base")
		if d.APIBase != "" {
			cfg["api_base"] = d.APIBase
		}
		in.Config, _ = json.Marshal(cfg)
	case KindManual:
		in.Config = json.RawMessage(`{}`)
	default:
		if !json.Valid([]byte(d.Config)) {
			f.Add("config", "must be a JSON object (start from a preset)")
		}
		in.Config = json.RawMessage(d.Config)
	}
	// Secrets: every field typed replaces its stored value; the others are kept.
	given := map[string]any{}
	for _, sf := range secretFields[d.Kind] {
		v := strings.TrimSpace(c.FormValue("secret_" + sf.Name))
		if v == "" {
			continue
		}
		if sf.Multi {
			var list []string
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			given[sf.Name] = list
		} else {
			given[sf.Name] = v
		}
	}
	if len(given) > 0 && f.Len() == 0 {
		merged := map[string]any{}
		if existing != nil {
			stored, err := p.s.storedSecrets(ctx, t, d.Slug)
			if err != nil {
				return err
			}
			for k, v := range stored {
				merged[k] = v
			}
		}
		for k, v := range given {
			merged[k] = v
		}
		in.Secrets, _ = json.Marshal(merged)
	}
	var err error
	if f.Len() > 0 {
		err = f.Err()
	} else {
		_, err = p.s.SaveGateway(ctx, t, identity.Actor(c), in)
		clear(in.Secrets)
	}
	if err != nil {
		pr, ok := refusal(err)
		if !ok {
			return err
		}
		d.Error, d.Problems = "The gateway was not saved:", problemLines(pr)
		if len(pr.Errors) == 0 {
			d.Problems = []string{pr.Detail}
		}
		return p.renderGateway(c, pr.Status, d)
	}
	return c.Redirect(settingsPath+"?saved="+d.Slug, fiber.StatusSeeOther)
}
