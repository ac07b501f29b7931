package partners

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The partner settings page (docs/partners.md, "Settings"), for ib_managers, as PUT /api/v1/partner-settings:
//
//	/backoffice/settings/partners   the form (GET), saving it (POST): the symbol suffixes plans ignore and how
//	                                partners see the clients they referred

// settingsPath is the partner settings page.
const settingsPath = "/backoffice/settings/partners"

func (p *pages) mountSettingsPage() {
	p.shell.Nav(web.NavEntry{Group: web.GroupPartners, Label: "Partner settings", Href: settingsPath, Permission: PermManage, Order: 40})
	p.shell.Page(fiber.MethodGet, settingsPath, PermManage, func(c *fiber.Ctx) error {
		st, err := p.s.Settings(c.UserContext(), tenants.Current(c))
		if err != nil {
			return err
		}
		d := settingsPage{Suffixes: strings.Join(st.SymbolSuffixes, ", "), Display: string(st.ClientDisplay)}
		if c.Query("saved") == "1" {
			d.Notice = "The settings are saved: partners see their clients this way from now on, and plans match symbols with these suffixes from the next deal."
		}
		return p.renderSettings(c, fiber.StatusOK, d)
	})
	p.shell.Post(settingsPath, PermManage, p.saveSettings)
}

type displayChoice struct {
	Value, Words string
	Checked      bool
}

type settingsPage struct {
	Suffixes, Display string
	Choices           []displayChoice
	CSRF, Notice      string
	Error             string
	Errs              map[string]string
}

func (p *pages) renderSettings(c *fiber.Ctx, status int, d settingsPage) error {
	for _, x := range ClientDisplays {
		d.Choices = append(d.Choices, displayChoice{Value: string(x), Words: x.Describe(), Checked: string(x) == d.Display})
	}
	d.CSRF = p.shell.CSRF(c)
	return p.shell.Render(c, status, "partners_settings", "Partner settings", d)
}

// saveSettings takes the form: a refused field is told next to it, and nothing is saved.
func (p *pages) saveSettings(c *fiber.Ctx) error {
	d := settingsPage{Suffixes: c.FormValue("symbol_suffixes"), Display: c.FormValue("referred_client_display")}
	suffixes := strings.FieldsFunc(d.Suffixes, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
	if suffixes == nil {
		suffixes = []string{} // an empty field clears them
	}
	err := p.s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), Settings{SymbolSuffixes: suffixes, ClientDisplay: ClientDisplay(d.Display)})
	if err != nil {
		v, ok := validation.As(err)
		if !ok {
			return err
		}
		d.Errs, d.Error = map[string]string{}, "The settings were not saved: see the fields below."
		for _, fe := range v.Fields {
			d.Errs[fe.Field] = fe.Message
		}
		return p.renderSettings(c, fiber.StatusUnprocessableEntity, d)
	}
	return c.Redirect(settingsPath+"?saved=1", fiber.StatusSeeOther)
}
