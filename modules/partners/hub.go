package partners

import (
	"context"
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The client page's Partners tab and header fact (docs/partners.md, "Pages"): who referred the client, over time,
// the commissions the client's deals paid up the tree, the client's own partner record if they are one, and the
// form that attributes the client to a partner from a date (as POST /api/v1/partner-attributions does).
//
//	/backoffice/clients/:id?tab=partners     the tab
//	POST /backoffice/partners/attributions   client_id, partner_id ("" none), effective_from, reason

const attributionsPath = partnersPath + "/attributions"

func (p *pages) mountClientHub() {
	p.shell.HubSummary(clients.ClientHub, web.HubSummary{ID: "partner", Order: 60, Permission: PermManage, Label: "Partner", Facts: p.partnerFacts})
	p.shell.HubSection(clients.ClientHub, web.HubSection{ID: "partners", Label: "Partners", Order: 46, Permission: PermManage,
		Hint: "Who referred the client over time, and the commissions their deals paid", Render: p.partnersTab})
	p.shell.Post(attributionsPath, PermManage, p.attributeClient)
}

// Attribution is one of a client's attributions over time: the partner from Effective on (nil: none).
type Attribution struct {
	Effective   time.Time
	PartnerID   *uuid.UUID
	PartnerName string
	Code        string
	Source      string // registration or staff
	Reason      string
	RecordedAt  time.Time
}

// ClientAttributions are a client's attributions, the newest first.
func (s *Service) ClientAttributions(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]Attribution, error) {
	var out []Attribution
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.effective_from, a.partner_id, coalesce(p.name, ''), a.code, a.source, a.reason, a.recorded_at
			FROM partner_attributions a LEFT JOIN partners p ON p.id = a.partner_id WHERE a.client_id = $1 ORDER BY a.effective_from DESC`, client)
		if err != nil {
			return err
		}
		var a Attribution
		_, err = pgx.ForEachRow(rows, []any{&a.Effective, &a.PartnerID, &a.PartnerName, &a.Code, &a.Source, &a.Reason, &a.RecordedAt}, func() error {
			out = append(out, a)
			return nil
		})
		return err
	})
	return out, err
}

// ClientCommission is what a client's deals (and first deposit) paid one partner at one level, in one currency.
type ClientCommission struct {
	PartnerID   uuid.UUID
	PartnerName string
	Level       int
	Currency    string
	Paid        int   // rows that paid
	Reversed    int   // reversal rows
	Net         int64 // minor units: paid less reversed
}

// ClientCommissions are the commissions a client's rows paid, by partner, level and currency, the nearest level
// first (partner_commissions_client: the client's rows only).
func (s *Service) ClientCommissions(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]ClientCommission, error) {
	var out []ClientCommission
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.partner_id, p.name, c.level, c.currency, count(*) FILTER (WHERE c.kind = 'paid'),
				count(*) FILTER (WHERE c.kind = 'reversal'), sum(c.amount)::bigint
			FROM partner_commissions c JOIN partners p ON p.id = c.partner_id
			WHERE c.client_id = $1 AND c.kind <> 'nothing' AND c.partner_id IS NOT NULL
			GROUP BY c.partner_id, p.name, c.level, c.currency ORDER BY c.level, p.name, c.currency`, client)
		if err != nil {
			return err
		}
		var x ClientCommission
		_, err = pgx.ForEachRow(rows, []any{&x.PartnerID, &x.PartnerName, &x.Level, &x.Currency, &x.Paid, &x.Reversed, &x.Net}, func() error {
			out = append(out, x)
			return nil
		})
		return err
	})
	return out, err
}

// partnerFacts are the header's facts: who referred the client now, and the client's own partner record.
func (p *pages) partnerFacts(c *fiber.Ctx, client uuid.UUID) ([]web.HubFact, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	now, err := p.s.AttributedTo(ctx, t, client, p.s.o.Now())
	if err != nil {
		return nil, err
	}
	f := web.HubFact{Label: "Referred by", Value: "No partner", Href: clientPagePath + client.String() + "?tab=partners"}
	if now != nil {
		x, err := p.s.Partner(ctx, t, *now)
		if err != nil {
			return nil, err
		}
		f.Value, f.Href = x.Name, partnersPath+"/"+x.ID.String()
	}
	out := []web.HubFact{f}
	if own, err := p.s.PartnerOfClient(ctx, t, client); err == nil {
		w := statusWords[own.Status]
		out = append(out, web.HubFact{Label: "Is a partner", Value: own.Name, Href: partnersPath + "/" + own.ID.String(), Tone: w.tone, Hint: w.words})
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return out, nil
}

type attributionRow struct {
	Effective, Partner, PartnerHref, How, Recorded string
	Now                                            bool
}

type clientCommissionRow struct {
	Partner, PartnerHref, Level, Paid, Net string
	Tone                                   web.Tone
}

type partnersTab struct {
	Attributions []attributionRow
	Commissions  []clientCommissionRow
	Own          *partnerRow
	Partners     []option
	ClientID     string
	CSRF         string
	Notice       string
	Errors       map[string]string
}

// partnersTab is the client page's Partners tab.
func (p *pages) partnersTab(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := partnersTab{ClientID: client.String(), CSRF: p.shell.CSRF(c), Errors: map[string]string{}}
	if c.Query("notice") == "attributed" {
		d.Notice = actionNotices["attribute"]
	}
	for _, k := range []string{"partner_id", "effective_from", "reason"} {
		if v := c.Query("refused_" + k); v != "" {
			d.Errors[k] = v
		}
	}
	atts, err := p.s.ClientAttributions(ctx, t, client)
	if err != nil {
		return "", err
	}
	now := p.s.o.Now()
	current := -1
	for i, a := range atts {
		if current < 0 && !a.Effective.After(now) {
			current = i
		}
		row := attributionRow{Effective: a.Effective.UTC().Format("2006-01-02 15:04"), Partner: "No partner", Recorded: a.RecordedAt.UTC().Format("2006-01-02 15:04"),
			Now: current == i}
		if a.PartnerID != nil {
			row.Partner, row.PartnerHref = a.PartnerName, partnersPath+"/"+a.PartnerID.String()
		}
		switch {
		case a.Source == "registration" && a.Code != "":
			row.How = "Registered with the code " + a.Code
		case a.Source == "registration":
			row.How = "At registration"
		default:
			row.How = "By staff: " + a.Reason
		}
		d.Attributions = append(d.Attributions, row)
	}
	sums, err := p.s.ClientCommissions(ctx, t, client)
	if err != nil {
		return "", err
	}
	for _, x := range sums {
		row := clientCommissionRow{Partner: x.PartnerName, PartnerHref: partnersPath + "/" + x.PartnerID.String(), Level: strconv.Itoa(x.Level),
			Paid: strconv.Itoa(x.Paid) + " paid", Tone: web.ToneGood}
		if x.Reversed > 0 {
			row.Paid += ", " + strconv.Itoa(x.Reversed) + " reversed"
		}
		if x.Level == 0 {
			row.Level = "CPA"
		}
		if cur, ok := money.Lookup(x.Currency); ok {
			row.Net = money.Amount{Minor: x.Net, Currency: cur}.String()
		}
		d.Commissions = append(d.Commissions, row)
	}
	if own, err := p.s.PartnerOfClient(ctx, t, client); err == nil {
		w := statusWords[own.Status]
		d.Own = &partnerRow{Name: own.Name, Href: partnersPath + "/" + own.ID.String(), Status: w.words, Tone: w.tone, Plan: own.PlanName}
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	list, err := p.s.Partners(ctx, t, StatusActive)
	if err != nil {
		return "", err
	}
	d.Partners = append(d.Partners, option{Value: "", Label: "No partner"})
	for _, x := range list {
		d.Partners = append(d.Partners, option{Value: x.ID.String(), Label: x.Name})
	}
	return p.shell.Fragment(c, "partners_hub", d)
}

// attributeClient takes the Partners tab's form: the client attributed from the date given, with a reason (as the
// API's attribution). A refused field is told beside it on the tab.
func (p *pages) attributeClient(c *fiber.Ctx) error {
	client, err := uuid.Parse(formValue(c, "client_id"))
	if err != nil {
		return web.NotFound("No such client.")
	}
	var f validation.Fields
	partner := formID(&f, c, "partner_id")
	effective := formEffective(&f, c)
	err = f.Err()
	if err == nil {
		err = p.s.Attribute(c.UserContext(), tenants.Current(c), identity.Actor(c), client, partner, effective, formValue(c, "reason"))
	}
	tab := clientPagePath + client.String() + "?tab=partners"
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such client.")
	}
	if v, ok := validation.As(err); ok {
		q := url.Values{"tab": {"partners"}}
		for _, fe := range v.Fields {
			q.Set("refused_"+fe.Field, fe.Message)
		}
		return c.Redirect(clientPagePath+client.String()+"?"+q.Encode()+"#attribute", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	return c.Redirect(tab+"&notice=attributed", fiber.StatusSeeOther)
}
