package withdrawals

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The rules' page (docs/withdrawals.md, "Rules"): finance reads the rules for money out; whoever may change the
// brokerage's settings (settings.manage, as PUT /api/v1/settings/withdrawals) changes them, each refused field
// told next to it.
//
//	/backoffice/settings/withdrawals       the form (GET), saving it (POST)

// SettingsPath is the rules' page.
const SettingsPath = "/backoffice/settings/withdrawals"

func (p *pages) mountSettings() {
	p.shell.Page(fiber.MethodGet, SettingsPath, identity.PermPaymentsApprove, func(c *fiber.Ctx) error {
		st, err := p.s.Settings(c.UserContext(), tenants.Current(c))
		if err != nil {
			return err
		}
		d := settingsFormOf(st)
		if c.Query("saved") == "1" {
			d.Notice = "The rules are saved: they apply to withdrawals asked from now on."
		}
		return p.renderSettings(c, fiber.StatusOK, d)
	})
	p.shell.Post(SettingsPath, identity.PermSettingsManage, p.saveSettings)
}

// settingsForm is the rules as the form shows them: limits as decimals, one line a tier and currency.
type settingsForm struct {
	DailyCounts, Amounts, SecondApproval         string
	ExpiryHours, SLAHours, FlagDays, FlagMinLots string
	Methods                                      string
	MayManage                                    bool
	CSRF, Notice, Error                          string
	Problems                                     []string
	Errs                                         map[string]string
}

func decimalOf(minor int64, code string) string {
	if c, ok := money.Lookup(code); ok {
		return money.Format(minor, c)
	}
	return strconv.FormatInt(minor, 10)
}

// settingsFormOf writes st's maps as lines, sorted, "*" first.
func settingsFormOf(st Settings) settingsForm {
	tiers := slices.SortedFunc(maps.Keys(st.Tiers), func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "*":
			return -1
		case b == "*":
			return 1
		}
		return strings.Compare(a, b)
	})
	var counts, amounts, second []string
	for _, tier := range tiers {
		l := st.Tiers[tier]
		counts = append(counts, fmt.Sprintf("%s %d", tier, l.DailyCount))
		for _, code := range slices.Sorted(maps.Keys(l.Amounts)) {
			a := l.Amounts[code]
			amounts = append(amounts, strings.Join([]string{tier, code, decimalOf(a.Min, code), decimalOf(a.Max, code), decimalOf(a.Daily, code)}, " "))
		}
	}
	for _, code := range slices.Sorted(maps.Keys(st.SecondApproval)) {
		second = append(second, code+" "+decimalOf(st.SecondApproval[code], code))
	}
	return settingsForm{DailyCounts: strings.Join(counts, "\n"), Amounts: strings.Join(amounts, "\n"), SecondApproval: strings.Join(second, "\n"),
		ExpiryHours: strconv.Itoa(st.ExpiryHours), SLAHours: strconv.Itoa(st.SLAHours), FlagDays: strconv.Itoa(st.FlagDays), FlagMinLots: st.FlagMinLots,
		Methods: strings.Join(st.Methods, ", ")}
}

// parseSettings reads the form; a line or number it cannot read is recorded under its field.
func parseSettings(d settingsForm, f *validation.Fields) Settings {
	st := Settings{Tiers: map[string]Limits{}, SecondApproval: map[string]int64{}, FlagMinLots: strings.TrimSpace(d.FlagMinLots)}
	lines := func(s string) [][]string {
		var out [][]string
		for _, l := range strings.Split(s, "\n") {
			if fs := strings.Fields(l); len(fs) > 0 {
				out = append(out, fs)
			}
		}
		return out
	}
	amount := func(field string, n int, v, code string) int64 {
		a, ok := amountOf(v, code)
		if !ok {
			f.Add(field, fmt.Sprintf("line %d: %q is not an amount in %s", n, v, code))
		}
		return a
	}
	for i, fs := range lines(d.DailyCounts) {
		n, err := strconv.Atoi(fs[len(fs)-1])
		if len(fs) != 2 || err != nil {
			f.Add("daily_counts", fmt.Sprintf("line %d: a tier and a whole number, like \"* 3\"", i+1))
			continue
		}
		l := st.Tiers[fs[0]]
		l.DailyCount = n
		st.Tiers[fs[0]] = l
	}
	for i, fs := range lines(d.Amounts) {
		if len(fs) != 5 {
			f.Add("tiers", fmt.Sprintf("line %d: a tier, a currency, the least, the most and the daily sum, like \"* USD 10.00 50000.00 100000.00\"", i+1))
			continue
		}
		code := strings.ToUpper(fs[1])
		if _, ok := money.Lookup(code); !ok {
			f.Add("tiers", fmt.Sprintf("line %d: %q is not a currency BrokerDesk handles", i+1, fs[1]))
			continue
		}
		l := st.Tiers[fs[0]]
		if l.Amounts == nil {
			l.Amounts = map[string]AmountLimits{}
		}
		l.Amounts[code] = AmountLimits{Min: amount("tiers", i+1, fs[2], code), Max: amount("tiers", i+1, fs[3], code), Daily: amount("tiers", i+1, fs[4], code)}
		st.Tiers[fs[0]] = l
	}
	for i, fs := range lines(d.SecondApproval) {
		if len(fs) != 2 {
			f.Add("second_approval", fmt.Sprintf("line %d: a currency and an amount, like \"USD 5000.00\"", i+1))
			continue
		}
		code := strings.ToUpper(fs[0])
		if _, ok := money.Lookup(code); !ok {
			f.Add("second_approval", fmt.Sprintf("line %d: %q is not a currency BrokerDesk handles", i+1, fs[0]))
			continue
		}
		st.SecondApproval[code] = amount("second_approval", i+1, fs[1], code)
	}
	atoi := func(field, s string) int {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			f.Add(field, "a whole number")
		}
		return n
	}
	st.ExpiryHours, st.SLAHours, st.FlagDays = atoi("expiry_hours", d.ExpiryHours), atoi("sla_hours", d.SLAHours), atoi("flag_days", d.FlagDays)
	for _, m := range strings.FieldsFunc(d.Methods, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		st.Methods = append(st.Methods, strings.ToLower(m))
	}
	return st
}

func (p *pages) renderSettings(c *fiber.Ctx, status int, d settingsForm) error {
	d.CSRF, d.MayManage = p.shell.CSRF(c), p.may(c, identity.PermSettingsManage)
	return p.shell.Render(c, status, "withdrawals_settings", "Withdrawal rules", d)
}

// saveSettings takes the form: every refused field is told next to it, and nothing is saved.
func (p *pages) saveSettings(c *fiber.Ctx) error {
	d := settingsForm{DailyCounts: c.FormValue("daily_counts"), Amounts: c.FormValue("tiers"), SecondApproval: c.FormValue("second_approval"),
		ExpiryHours: c.FormValue("expiry_hours"), SLAHours: c.FormValue("sla_hours"), FlagDays: c.FormValue("flag_days"),
		FlagMinLots: c.FormValue("flag_min_lots"), Methods: c.FormValue("methods")}
	var f validation.Fields
	st := parseSettings(d, &f)
	err := f.Err()
	if err == nil {
		err = p.s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st)
	}
	if err != nil {
		v, ok := validation.As(err)
		if !ok {
			return err
		}
		d.Errs, d.Error = map[string]string{}, "The rules were not saved:"
		for _, fe := range v.Fields {
			if d.Errs[fe.Field] != "" {
				d.Errs[fe.Field] += "; "
			}
			d.Errs[fe.Field] += fe.Message
			d.Problems = append(d.Problems, strings.ReplaceAll(fe.Field, "_", " ")+": "+fe.Message)
		}
		return p.renderSettings(c, fiber.StatusUnprocessableEntity, d)
	}
	return c.Redirect(SettingsPath+"?saved=1", fiber.StatusSeeOther)
}
