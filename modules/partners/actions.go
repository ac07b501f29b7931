package partners

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The partner page's forms (docs/partners.md, "Pages"): approve or refuse an application, put the partner on a
// plan, move it under another parent from a date, and re-attribute one of its clients from a date, each over the
// service method the API calls (so the same checks, the same audit sentence). A refusal is said beside its field
// on the partner's page (422); a done action comes back to the page with a notice.
//
//	POST /backoffice/partners/:id/approve     plan_id (optional)
//	POST /backoffice/partners/:id/reject      reason
//	POST /backoffice/partners/:id/plan        plan_id
//	POST /backoffice/partners/:id/move        parent_id ("" the top of a tree), effective_from, reason
//	POST /backoffice/partners/:id/attribute   client_id (one of its clients now), partner_id ("" none), effective_from, reason

func (s *Service) mountActionPages(p *pages) {
	for _, a := range []struct {
		path string
		fn   func(c *fiber.Ctx, id uuid.UUID) error
	}{
		{"approve", p.approve}, {"reject", p.reject}, {"plan", p.setPlan}, {"move", p.move}, {"attribute", p.attribute},
	} {
		p.shell.Post(partnersPath+"/:id/"+a.path, PermManage, p.act(a.path, a.fn))
	}
}

// actionNotices are what the page says after each action.
var actionNotices = map[string]string{
	"approve":   "The partner is active.",
	"reject":    "The application is refused; the applicant reads the reason.",
	"plan":      "The partner is on the plan from now on.",
	"move":      "The partner is moved from the date given; deals before it stay where they were earned.",
	"attribute": "The client is attributed from the date given; deals before it stay with the partner of their time.",
}

// actionFailed carries a refused form to the partner page's render.
type actionFailed struct {
	form   string
	errors map[string]string
}

type actionKey struct{}

func (p *pages) act(name string, fn func(c *fiber.Ctx, id uuid.UUID) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := web.ParseID(c, "id")
		if err != nil {
			return web.NotFound("No such partner.")
		}
		if _, err := p.s.Partner(c.UserContext(), tenants.Current(c), id); errors.Is(err, ErrNotFound) {
			return web.NotFound("No such partner.")
		} else if err != nil {
			return err
		}
		err = fn(c, id)
		if v, ok := validation.As(err); ok {
			failed := actionFailed{form: name, errors: map[string]string{}}
			for _, fe := range v.Fields {
				if prev := failed.errors[fe.Field]; prev != "" {
					fe.Message = prev + "; " + fe.Message
				}
				failed.errors[fe.Field] = fe.Message
			}
			c.Locals(actionKey{}, failed)
			return p.partner(c)
		}
		if errors.Is(err, ErrState) {
			c.Locals(actionKey{}, actionFailed{form: name, errors: map[string]string{"": strings.TrimPrefix(err.Error(), "partners: ") + "."}})
			return p.partner(c)
		}
		if errors.Is(err, ErrNotFound) {
			c.Locals(actionKey{}, actionFailed{form: name, errors: map[string]string{"client_id": "not one of this partner's clients now"}})
			return p.partner(c)
		}
		if err != nil {
			return err
		}
		return c.Redirect(partnersPath+"/"+id.String()+"?notice="+name, fiber.StatusSeeOther)
	}
}

func formValue(c *fiber.Ctx, k string) string {
	return strings.TrimSpace(utils.CopyString(c.FormValue(k)))
}

// formID reads an optional id field: "" is nil.
func formID(f *validation.Fields, c *fiber.Ctx, k string) *uuid.UUID {
	v := formValue(c, k)
	return optionalID(f, k, &v)
}

// formEffective reads a date and time field (datetime-local, UTC); "" is now.
func formEffective(f *validation.Fields, c *fiber.Ctx) time.Time {
	v := formValue(c, "effective_from")
	if v == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if at, err := time.Parse(layout, v); err == nil {
			return at
		}
	}
	f.Add("effective_from", "a date and time (UTC), like 2026-12-07T14:30")
	return time.Time{}
}

func (p *pages) approve(c *fiber.Ctx, id uuid.UUID) error {
	var f validation.Fields
	plan := formID(&f, c, "plan_id")
	if err := f.Err(); err != nil {
		return err
	}
	_, err := p.s.Approve(c.UserContext(), tenants.Current(c), identity.Actor(c), id, plan)
	return planMissing(err)
}

// planMissing says a plan id of no plan beside the plan field.
func planMissing(err error) error {
	if errors.Is(err, ErrNotFound) {
		return validation.New("plan_id", "no plan has this id")
	}
	return err
}

func (p *pages) reject(c *fiber.Ctx, id uuid.UUID) error {
	_, err := p.s.Reject(c.UserContext(), tenants.Current(c), identity.Actor(c), id, formValue(c, "reason"))
	return err
}

func (p *pages) setPlan(c *fiber.Ctx, id uuid.UUID) error {
	var f validation.Fields
	plan := formID(&f, c, "plan_id")
	if plan == nil && !f.Has("plan_id") {
		f.Add("plan_id", "choose a plan")
	}
	if err := f.Err(); err != nil {
		return err
	}
	return planMissing(p.s.SetPlan(c.UserContext(), tenants.Current(c), identity.Actor(c), id, *plan))
}

func (p *pages) move(c *fiber.Ctx, id uuid.UUID) error {
	var f validation.Fields
	parent := formID(&f, c, "parent_id")
	at := formEffective(&f, c)
	if err := f.Err(); err != nil {
		return err
	}
	err := p.s.Move(c.UserContext(), tenants.Current(c), identity.Actor(c), id, parent, at, formValue(c, "reason"))
	if errors.Is(err, ErrNotFound) {
		return validation.New("parent_id", "no partner has this id")
	}
	return err
}

// attribute re-attributes one of the partner's clients now: a client attributed elsewhere cannot be named here.
func (p *pages) attribute(c *fiber.Ctx, id uuid.UUID) error {
	var f validation.Fields
	client := formID(&f, c, "client_id")
	if client == nil && !f.Has("client_id") {
		f.Add("client_id", "choose a client")
	}
	target := formID(&f, c, "partner_id")
	at := formEffective(&f, c)
	if err := f.Err(); err != nil {
		return err
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	now, err := p.s.AttributedTo(ctx, t, *client, p.s.o.Now())
	if err != nil {
		return err
	}
	if now == nil || *now != id {
		return ErrNotFound
	}
	return p.s.Attribute(ctx, t, identity.Actor(c), *client, target, at, formValue(c, "reason"))
}

// actionsView is the forms' part of the partner page.
type actionsView struct {
	CSRF, Base, Notice, Failed string
	Errors                     map[string]string
	CanApprove, CanReject      bool
	Plans, Parents, Targets    []option
	Clients                    []option
	Now                        string
}

// actions builds the page's forms for partner x: the plans, the other partners, its clients now.
func (p *pages) actions(c *fiber.Ctx, x Partner) (actionsView, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	v := actionsView{CSRF: p.shell.CSRF(c), Base: partnersPath + "/" + x.ID.String(), Notice: actionNotices[c.Query("notice")],
		CanApprove: x.Status == StatusApplied || x.Status == StatusSuspended, CanReject: x.Status == StatusApplied,
		Now: p.s.o.Now().UTC().Format("2006-01-02T15:04")}
	if failed, ok := c.Locals(actionKey{}).(actionFailed); ok {
		v.Failed, v.Errors = failed.form, failed.errors
	}
	plans, err := p.s.Plans(ctx, t)
	if err != nil {
		return v, err
	}
	for _, pl := range plans {
		v.Plans = append(v.Plans, option{Value: pl.ID.String(), Label: pl.Name + " (" + pl.Currency.Code + ")", Selected: x.PlanID != nil && *x.PlanID == pl.ID})
	}
	all, err := p.s.Partners(ctx, t, "")
	if err != nil {
		return v, err
	}
	v.Parents = []option{{Value: "", Label: "none: the top of a tree", Selected: x.ParentID == nil}}
	v.Targets = []option{{Value: "", Label: "no partner"}}
	for _, o := range all {
		if o.ID == x.ID {
			continue
		}
		v.Parents = append(v.Parents, option{Value: o.ID.String(), Label: o.Name, Selected: x.ParentID != nil && *x.ParentID == o.ID})
		v.Targets = append(v.Targets, option{Value: o.ID.String(), Label: o.Name})
	}
	v.Clients, err = p.s.clientsNow(ctx, t, x.ID)
	return v, err
}

// clientsNow are the clients attributed to partner now (at most 500, newest first), by name, as options.
func (s *Service) clientsNow(ctx context.Context, t tenants.Tenant, partner uuid.UUID) ([]option, error) {
	var out []option
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT client_id FROM (SELECT DISTINCT ON (client_id) client_id, partner_id, effective_from FROM partner_attributions
			WHERE effective_from <= $2 ORDER BY client_id, effective_from DESC) a WHERE partner_id = $1 ORDER BY effective_from DESC LIMIT 500`, partner, s.o.Now())
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			name := id.String()[:8]
			if c, err := s.o.Clients.GetTx(ctx, tx, id); err == nil {
				name = c.Name()
			}
			out = append(out, option{Value: id.String(), Label: name})
		}
		return nil
	})
	return out, err
}
