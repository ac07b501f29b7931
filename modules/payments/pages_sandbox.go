package payments

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The payment sandbox page of `make run` (Options.Sandbox only): the deposits waiting for their processor, each
// with buttons that play the processor's signed callback through the real flow (SimulateCallback): the payment
// confirmed, failed, or confirmed with another amount (which opens a case, as a real mismatch would).

type sandboxRow struct {
	depositRow
	Decimal, Currency string
}

type sandboxPage struct {
	CSRF, Notice, Error string
	Rows                []sandboxRow
}

// sandboxOutcomes say what the flow did with a played callback.
var sandboxOutcomes = map[Outcome]string{
	OutcomeCredited:    "The payment was confirmed and the client's wallet credited.",
	OutcomeProcessing:  "The processor reported the payment as seen, not yet confirmed.",
	OutcomeFailed:      "The payment failed: the deposit is failed and no money moved.",
	OutcomeIgnored:     "The processor's callback was recorded and ignored.",
	OutcomeAlreadyDone: "The deposit was already where this callback would take it: nothing moved.",
	OutcomeDuplicate:   "The same callback again: nothing moved.",
	OutcomeUnmatched:   "The callback matched no deposit and carried no money.",
	OutcomeException:   "The callback could not complete cleanly: a case is open in the exceptions queue, and any money waits in suspense.",
}

func (p *pages) sandbox(c *fiber.Ctx) error {
	return p.renderSandbox(c, fiber.StatusOK, sandboxPage{Notice: c.Query("notice")})
}

func (p *pages) renderSandbox(c *fiber.Ctx, status int, d sandboxPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	if o, ok := sandboxOutcomes[Outcome(d.Notice)]; ok {
		d.Notice = o
	} else {
		d.Notice = ""
	}
	d.CSRF = p.shell.CSRF(c)
	var waiting []Deposit
	for _, st := range []Status{StatusPending, StatusProcessing} {
		list, err := p.s.Deposits(ctx, t, DepositFilter{Status: st}, nil, 50)
		if err != nil {
			return err
		}
		for i, dep := range list {
			if i < 50 && dep.GatewayKind != KindManual {
				waiting = append(waiting, dep)
			}
		}
	}
	rows, err := p.depositRows(ctx, t, waiting)
	if err != nil {
		return err
	}
	for i, r := range rows {
		d.Rows = append(d.Rows, sandboxRow{depositRow: r, Decimal: waiting[i].Amount.Decimal(), Currency: waiting[i].Amount.Currency.Code})
	}
	return p.shell.Render(c, status, "payments_sandbox", "Payment sandbox", d)
}

// simulate plays the callback the sandbox page's button asks for.
func (p *pages) simulate(c *fiber.Ctx) error {
	d, err := p.depositOf(c)
	if err != nil {
		return err
	}
	status := NotifiedPaid
	var amount *money.Amount
	switch c.FormValue("action") {
	case "paid":
	case "failed":
		status = NotifiedFailed
	case "other":
		m, err := money.Parse(strings.TrimSpace(strings.ReplaceAll(c.FormValue("amount"), ",", "")), d.Amount.Currency)
		if err != nil || m <= 0 {
			return p.renderSandbox(c, fiber.StatusUnprocessableEntity, sandboxPage{
				Error: "Another amount: a positive amount in " + d.Amount.Currency.Code + " with at most its decimals."})
		}
		amount = &money.Amount{Minor: m, Currency: d.Amount.Currency}
	default:
		return web.Invalid("Choose what the processor reports.", web.FieldError{Field: "action", Message: "one of paid, failed, other"})
	}
	r, err := p.s.SimulateCallback(c.UserContext(), tenants.Current(c), d.ID, status, amount)
	if errors.Is(err, ErrNoSandbox) {
		return web.NotFound("The payment sandbox runs only under make run.")
	}
	if err != nil {
		pr, ok := refusal(err)
		if !ok {
			return err
		}
		return p.renderSandbox(c, pr.Status, sandboxPage{Error: pr.Detail})
	}
	return c.Redirect(sandboxPath+"?notice="+string(r.Outcome), fiber.StatusSeeOther)
}
