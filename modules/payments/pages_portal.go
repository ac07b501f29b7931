package payments

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The portal's wallet: the client's balances per currency from the ledger, the history of one wallet, the deposit
// form with the brokerage's methods, and the receipt of each deposit. The processor sends the client back to
// /portal/wallet?deposit=<id> (or ?cancelled=<id>), where that deposit's status is shown first.

type balanceRow struct {
	Currency, Posted, Pending, Available, Href string
	Current                                    bool
}

// history is one page (?after=) of a wallet's ledger lines, newest first, and the link to the next page of path.
func (p *pages) history(c *fiber.Ctx, wallet ledger.Balance, limit int, path string) ([]historyRow, string, error) {
	page, err := p.s.o.Ledger.History(c.UserContext(), tenants.Current(c), wallet.Account.Code, c.Query("after"), limit)
	if errors.Is(err, ledger.ErrBadCursor) {
		return nil, "", web.Invalid("That page link is not valid.", web.FieldError{Field: "after", Message: "not a page of this wallet"})
	}
	if err != nil {
		return nil, "", err
	}
	cur := wallet.Account.Currency
	rows := make([]historyRow, len(page.Lines))
	for i, l := range page.Lines {
		rows[i] = historyRow{At: when(l.At), Description: l.Description, Amount: money.Grouped(l.Amount, cur), Credit: l.Amount > 0,
			Pending: l.Pending}
	}
	var next string
	if page.Next != "" {
		next = path + "?" + url.Values{"currency": {cur.Code}, "after": {page.Next}}.Encode()
	}
	return rows, next, nil
}

type historyRow struct {
	At, Description, Amount string
	Credit, Pending         bool
}

// receiptView is a deposit as its client reads it.
type receiptView struct {
	ID, Href, StatusLabel, Explanation, Amount, Method, Created, Completed, Instructions, PayURL string
	Tone                                                                                         web.Tone
	Number                                                                                       int
	Credited, Failed                                                                             bool
}

func receiptOf(d Deposit) receiptView {
	r := receiptView{ID: d.ID.String(), Href: portalDepositsPath + "/" + d.ID.String(), StatusLabel: d.Status.Label(),
		Amount: d.Amount.String(), Method: d.GatewayName, Created: when(d.CreatedAt), Completed: whenPtr(d.CompletedAt),
		Tone: statusTone(d.Status), Number: d.DepositNumber}
	switch d.Status {
	case StatusPending:
		r.Explanation = "We are waiting for your payment."
		r.Instructions, r.PayURL = d.Instructions, d.RedirectURL
		if r.PayURL != "" {
			r.Explanation += " If you have not paid yet, continue to the payment page."
		}
	case StatusProcessing:
		r.Explanation = "The payment provider has seen your payment and is confirming it: your wallet is credited as soon as it is confirmed."
		if d.Failure != "" {
			r.Explanation = d.Failure
		}
	case StatusAwaitingApproval:
		r.Explanation = "Your deposit has arrived and is being approved by our finance team."
	case StatusCompleted:
		r.Credited = true
		r.Explanation = "Credited to your wallet."
	case StatusFailed:
		r.Failed = true
		r.Explanation = "The payment did not go through."
		if d.Failure != "" {
			r.Explanation += " " + d.Failure
		}
	case StatusCancelled:
		r.Failed = true
		r.Explanation = "This deposit was cancelled."
	}
	return r
}

type methodOption struct {
	Value, Label string
	Selected     bool
}

type walletPage struct {
	CSRF       string
	Balances   []balanceRow
	Currency   string
	History    []historyRow
	Next       string
	Recent     []receiptView
	Methods    []methodOption
	MayDeposit bool
	Blocked    string
	Amount     string
	PromoCode  string
	Error      string
	Problems   []string
	Returned   *receiptView
	Cancelled  *receiptView
}

// walletForm is what the deposit form sends back after a refusal.
type walletForm struct {
	Method, Amount, PromoCode, Error string
	Problems                         []string
}

func (p *pages) portalClientOf(c *fiber.Ctx) (uuid.UUID, error) { return portalClient(c, p.s.o.Portal) }

func (p *pages) wallet(c *fiber.Ctx) error {
	client, err := p.portalClientOf(c)
	if err != nil {
		return err
	}
	return p.renderWallet(c, client, fiber.StatusOK, walletForm{})
}

// mayDeposit is the policy gate's answer to the client's deposit now.
func (s *Service) mayDeposit(ctx context.Context, t tenants.Tenant, client uuid.UUID) (clients.Decision, error) {
	var dec clients.Decision
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		dec, err = s.o.Clients.MayTx(ctx, tx, client, clients.ActionDeposit)
		return err
	})
	return dec, err
}

func (p *pages) renderWallet(c *fiber.Ctx, client uuid.UUID, status int, f walletForm) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := walletPage{CSRF: p.shell.CSRF(c), Amount: f.Amount, PromoCode: f.PromoCode, Error: f.Error, Problems: f.Problems}
	balances, err := p.s.o.Ledger.ClientBalances(ctx, t, client)
	if err != nil {
		return err
	}
	current := walletOf(balances, strings.ToUpper(c.Query("currency")))
	if current != nil {
		d.Currency = current.Account.Currency.Code
	}
	for _, b := range balances {
		cur := b.Account.Currency
		d.Balances = append(d.Balances, balanceRow{Currency: cur.Code, Posted: money.Grouped(b.Posted, cur), Pending: money.Grouped(b.PendingDebits, cur),
			Available: money.Grouped(b.Available(), cur), Href: walletPath + "?" + url.Values{"currency": {cur.Code}}.Encode(),
			Current: cur.Code == d.Currency})
	}
	if current != nil {
		if d.History, d.Next, err = p.history(c, *current, 20, walletPath); err != nil {
			return err
		}
	}
	recent, err := p.s.Deposits(ctx, t, DepositFilter{ClientID: client}, nil, 5)
	if err != nil {
		return err
	}
	for i, dep := range recent {
		if i == 5 {
			break
		}
		d.Recent = append(d.Recent, receiptOf(dep))
	}
	for key, dst := range map[string]**receiptView{"deposit": &d.Returned, "cancelled": &d.Cancelled} {
		if id, err := uuid.Parse(c.Query(key)); err == nil {
			if dep, err := p.s.Deposit(ctx, t, id); err == nil && dep.ClientID == client {
				r := receiptOf(dep)
				*dst = &r
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	dec, err := p.s.mayDeposit(ctx, t, client)
	if err != nil {
		return err
	}
	d.MayDeposit, d.Blocked = dec.Allowed, dec.ForClient
	methods, err := p.s.Methods(ctx, t)
	if err != nil {
		return err
	}
	for _, g := range methods {
		for _, code := range g.Currencies {
			cur, ok := money.Lookup(code)
			if !ok {
				continue
			}
			label := g.Name + " in " + code
			if l, ok := g.Limits[code]; ok && (l.Min > 0 || l.Max > 0) {
				switch {
				case l.Min > 0 && l.Max > 0:
					label += ": " + money.Grouped(l.Min, cur) + " to " + money.Grouped(l.Max, cur)
				case l.Min > 0:
					label += ": at least " + money.Grouped(l.Min, cur)
				default:
					label += ": at most " + money.Grouped(l.Max, cur)
				}
			}
			v := g.Slug + "|" + code
			d.Methods = append(d.Methods, methodOption{Value: v, Label: label, Selected: v == f.Method})
		}
	}
	return p.shell.Render(c, status, "payments_wallet", "Your wallet", d)
}

// startDeposit starts the client's deposit and sends them to the processor's page, or to the deposit's receipt
// where the processor's instructions are.
func (p *pages) startDeposit(c *fiber.Ctx) error {
	client, err := p.portalClientOf(c)
	if err != nil {
		return err
	}
	f := walletForm{Method: c.FormValue("method"), Amount: strings.TrimSpace(c.FormValue("amount")), PromoCode: strings.TrimSpace(c.FormValue("promo_code"))}
	slug, code, _ := strings.Cut(f.Method, "|")
	d, err := p.s.StartDeposit(c.UserContext(), tenants.Current(c), client, DepositRequest{Gateway: slug, Amount: f.Amount, Currency: code, PromoCode: f.PromoCode})
	if err != nil {
		pr, ok := refusal(err)
		if !ok {
			return err
		}
		f.Error = pr.Detail
		if len(pr.Errors) > 0 {
			f.Error = "The deposit was not started:"
			for _, fe := range pr.Errors {
				switch fe.Field {
				case "gateway", "currency":
					f.Problems = append(f.Problems, "Method: "+fe.Message+".")
				case "amount":
					f.Problems = append(f.Problems, "Amount: "+fe.Message+".")
				case "promo_code":
					f.Problems = append(f.Problems, "Promo code: "+fe.Message+".")
				default:
					f.Problems = append(f.Problems, fe.Field+": "+fe.Message+".")
				}
			}
		}
		return p.renderWallet(c, client, pr.Status, f)
	}
	if d.RedirectURL != "" {
		return c.Redirect(d.RedirectURL, fiber.StatusSeeOther)
	}
	return c.Redirect(portalDepositsPath+"/"+d.ID.String(), fiber.StatusSeeOther)
}

type receiptPage struct {
	receiptView
	Reference string
}

func (p *pages) receipt(c *fiber.Ctx) error {
	client, err := p.portalClientOf(c)
	if err != nil {
		return err
	}
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such deposit.")
	}
	d, err := p.s.Deposit(c.UserContext(), tenants.Current(c), id)
	if errors.Is(err, ErrNotFound) || (err == nil && d.ClientID != client) {
		return web.NotFound("No such deposit.")
	}
	if err != nil {
		return err
	}
	return p.shell.Render(c, fiber.StatusOK, "payments_receipt", "Deposit "+d.Amount.String(), receiptPage{receiptView: receiptOf(d), Reference: d.ID.String()})
}

// walletOf is the wallet in currency code, or the first when the client has none in it (nil: no wallet at all).
func walletOf(list []ledger.Balance, code string) *ledger.Balance {
	for i, b := range list {
		if b.Account.Currency.Code == code {
			return &list[i]
		}
	}
	if len(list) > 0 {
		return &list[0]
	}
	return nil
}
