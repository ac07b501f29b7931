package partners

import (
	"context"
	"errors"
	"html/template"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The IB portal (docs/partners.md, "IB portal"): the partner area on the tenant's portal host, for a portal user whose
// client is an active partner. Everything it reads is narrowed to that partner by the session, never by a path or
// a query: the partner is found from the login's client, and every query below filters on its id, so another
// partner's rows (and another tenant's, which live in another schema) cannot be named.

// ErrNotPartner: the portal login's client is no active partner (none, an application waiting, refused, suspended).
var ErrNotPartner = errors.New("partners: not an active partner")

// EarningsDays is how many days the earnings chart shows, today included.
const EarningsDays = 30

// Referred is a client attributed to the partner now, with what its deals paid the partner (level 1).
type Referred struct {
	ClientID uuid.UUID
	Shown    string // the client as the tenant's rule shows them to partners (ClientDisplay): "a***@example.com"
	Since    time.Time
	Lots     decimal.Decimal // lots of the deals that paid, less those reversed
	Deals    int             // rows that paid
	Earned   map[string]int64
	// Deposits are the client's completed deposits per currency (Options.Deposits).
	Deposits map[string]int64
}

// SubIB is a partner below this one now, with its clients and what its own rows add up to.
type SubIB struct {
	ID      uuid.UUID
	Name    string
	Status  Status
	Depth   int // 1: directly below
	Clients int
	Earned  map[string]int64
}

// PortalPartner is the partner behind a portal login, or ErrNotPartner (the Partner is returned too when there is
// a record: an application waiting or refused, so the page can say where it stands).
func (s *Service) PortalPartner(ctx context.Context, t tenants.Tenant, client uuid.UUID) (Partner, error) {
	p, err := s.PartnerOfClient(ctx, t, client)
	if errors.Is(err, ErrNotFound) {
		return p, ErrNotPartner
	}
	if err != nil {
		return p, err
	}
	if p.Status != StatusActive {
		return p, ErrNotPartner
	}
	return p, nil
}

// ReferredPageSize is how many referred clients a page of the partner area shows.
const ReferredPageSize = 100

// ReferredAfter is the position after which a page of referred clients starts: the list is newest attribution
// first, then by client id (descending), so a page is a range of that order whatever the partner's size.
type ReferredAfter struct {
	Since    time.Time `json:"s"`
	ClientID uuid.UUID `json:"c"`
}

// ReferredPage is a page of the clients attributed to a partner now, with how many there are in all.
type ReferredPage struct {
	Clients []Referred
	Total   int
	// Next is the position of the next page (nil: this is the last).
	Next *ReferredAfter
	// Display is the tenant's rule the clients are shown by.
	Display ClientDisplay
}

// ReferredClients lists up to limit (at most ReferredPageSize; 0 is that) clients attributed to partner now,
// newest attribution first, after the position after (nil: from the newest), with the lots and earnings their deals
// paid it directly (level 1 rows), shown as the tenant's rule says (ClientDisplay), their deposits, and the number
// of clients in all. The current attributions are found from the partner's own (partner_attributions_partner) with
// a look for a later one of each client, and only the page's clients have their rows summed
// (partner_commissions_partner_client, index-only): the cost follows the partner's clients and the page, not the
// tenant's attributions or the partner's rows.
func (s *Service) ReferredClients(ctx context.Context, t tenants.Tenant, partner uuid.UUID, after *ReferredAfter, limit int) (ReferredPage, error) {
	if limit <= 0 || limit > ReferredPageSize {
		limit = ReferredPageSize
	}
	var out ReferredPage
	var since *time.Time
	client := uuid.Max
	if after != nil {
		since, client = &after.Since, after.ClientID
	}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH att AS MATERIALIZED (
				SELECT a.client_id, a.effective_from FROM partner_attributions a
				WHERE a.partner_id = $1 AND a.effective_from <= now() AND NOT EXISTS (SELECT FROM partner_attributions l
					WHERE l.client_id = a.client_id AND l.effective_from > a.effective_from AND l.effective_from <= now())),
			page AS (
				SELECT client_id, effective_from FROM att WHERE $2::timestamptz IS NULL OR (effective_from, client_id) < ($2, $3)
				ORDER BY effective_from DESC, client_id DESC LIMIT $4)
			SELECT (SELECT count(*) FROM att), p.client_id, p.effective_from, coalesce(x.lots, 0), coalesce(x.deals, 0), x.currency, coalesce(x.earned, 0)
			FROM page p LEFT JOIN LATERAL (
				SELECT c.currency, coalesce(sum(CASE c.kind WHEN 'paid' THEN c.lots WHEN 'reversal' THEN -c.lots END) FILTER (WHERE c.source = 'deal'), 0) lots,
					count(*) FILTER (WHERE c.kind = 'paid') deals, coalesce(sum(c.amount) FILTER (WHERE c.kind <> 'nothing'), 0)::bigint earned
				FROM partner_commissions c WHERE c.partner_id = $1 AND c.client_id = p.client_id AND c.level = 1 GROUP BY c.currency) x ON true
			ORDER BY p.effective_from DESC, p.client_id DESC`, partner, since, client, limit+1)
		if err != nil {
			return err
		}
		byClient := map[uuid.UUID]int{}
		var id uuid.UUID
		var at time.Time
		var lots decimal.Decimal
		var deals int
		var cur *string
		var sum int64
		if _, err := pgx.ForEachRow(rows, []any{&out.Total, &id, &at, &lots, &deals, &cur, &sum}, func() error {
			i, ok := byClient[id]
			if !ok {
				i = len(out.Clients)
				byClient[id] = i
				out.Clients = append(out.Clients, Referred{ClientID: id, Since: at, Earned: map[string]int64{}})
			}
			out.Clients[i].Lots, out.Clients[i].Deals = out.Clients[i].Lots.Add(lots), out.Clients[i].Deals+deals
			if cur != nil {
				out.Clients[i].Earned[*cur] += sum
			}
			return nil
		}); err != nil {
			return err
		}
		if len(out.Clients) > limit {
			out.Clients = out.Clients[:limit]
			last := out.Clients[limit-1]
			out.Next = &ReferredAfter{Since: last.Since, ClientID: last.ClientID}
		}
		if len(out.Clients) == 0 && after != nil { // past the last page: the total still counts
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM partner_attributions a WHERE a.partner_id = $1 AND a.effective_from <= now()
				AND NOT EXISTS (SELECT FROM partner_attributions l WHERE l.client_id = a.client_id AND l.effective_from > a.effective_from
					AND l.effective_from <= now())`, partner).Scan(&out.Total); err != nil {
				return err
			}
		}
		ids := make([]uuid.UUID, len(out.Clients))
		for i := range out.Clients {
			ids[i] = out.Clients[i].ClientID
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		contacts, err := s.o.Clients.ContactsTx(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range out.Clients {
			c, known := contacts[out.Clients[i].ClientID]
			out.Clients[i].Shown = st.ClientDisplay.Show(out.Clients[i].ClientID, c, known)
		}
		out.Display = st.ClientDisplay
		return nil
	})
	if err != nil {
		return ReferredPage{}, err
	}
	return out, s.depositsOf(ctx, t, out.Clients)
}

// SubIBs lists the partners below partner now, by depth then name, each with its own earnings.
func (s *Service) SubIBs(ctx context.Context, t tenants.Tenant, partner uuid.UUID) ([]SubIB, error) {
	nodes, err := s.Subtree(ctx, t, partner, s.o.Now())
	if err != nil {
		return nil, err
	}
	var out []SubIB
	for _, n := range nodes {
		if n.Depth == 0 {
			continue
		}
		earned, err := s.Earned(ctx, t, n.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, SubIB{ID: n.ID, Name: n.Name, Status: n.Status, Depth: n.Depth, Clients: n.Clients, Earned: earned})
	}
	return out, nil
}

// DailyEarnings is what partner's rows add up to per UTC day of the deal in cur over the EarningsDays days ending
// today, every day present (reversals subtract on their deal's day).
func (s *Service) DailyEarnings(ctx context.Context, t tenants.Tenant, partner uuid.UUID, cur money.Currency) ([]web.DayAmount, error) {
	now := s.o.Now().UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(EarningsDays - 1))
	byDay := map[time.Time]web.DayAmount{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT (deal_time AT TIME ZONE 'UTC')::date, sum(amount)::bigint, count(*) FILTER (WHERE kind = 'paid')
			FROM partner_commissions WHERE partner_id = $1 AND currency = $2 AND kind <> 'nothing' AND deal_time >= $3 GROUP BY 1`,
			partner, cur.Code, first)
		if err != nil {
			return err
		}
		var d web.DayAmount
		_, err = pgx.ForEachRow(rows, []any{&d.Day, &d.Minor, &d.Count}, func() error {
			day := time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, time.UTC)
			byDay[day] = web.DayAmount{Day: day, Minor: d.Minor, Count: d.Count}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]web.DayAmount, EarningsDays)
	for i := range out {
		day := first.AddDate(0, 0, i)
		out[i] = byDay[day]
		out[i].Day = day
	}
	return out, nil
}

// EarningsChart draws DailyEarnings as the shared SVG day chart.
func EarningsChart(days []web.DayAmount, cur money.Currency) template.HTML {
	return web.DayChart(days, cur, web.ChartWords{Class: "earnings-chart", What: "Commissions earned", Item: "paying deal"})
}

// portalPartner is the active partner of the request's portal login: web's 404 when the login has no client
// record, ErrNotPartner (with the record, if any) when its client is no active partner.
func (s *Service) portalPartner(c *fiber.Ctx) (Partner, error) {
	if s.o.Portal == nil {
		return Partner{}, web.NotFound("This login has no client record.")
	}
	pr, _ := identity.PrincipalOf(c)
	client, err := s.o.Portal.PortalClientID(c.UserContext(), tenants.Current(c), pr.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return Partner{}, web.NotFound("This login has no client record.")
	} else if err != nil {
		return Partner{}, err
	}
	return s.PortalPartner(c.UserContext(), tenants.Current(c), client)
}

// portalPartnerOf is portalPartner for the API: 403 not-a-partner, saying how to apply, for a client who is none.
func (s *Service) portalPartnerOf(c *fiber.Ctx) (Partner, error) {
	p, err := s.portalPartner(c)
	if errors.Is(err, ErrNotPartner) {
		return p, web.NewProblem(fiber.StatusForbidden, "not-a-partner",
			"The partner area is for approved partners. Apply with POST /api/v1/portal/partner-application; an IB manager approves applications.")
	}
	return p, err
}

// PortalLinkResponse is one of the partner's referral links.
type PortalLinkResponse struct {
	Code     string `json:"code"`
	Campaign string `json:"campaign"`
	// Link is the path on the brokerage's host: /?ref=CODE; the portal page shows it absolute with its QR code.
	Link string `json:"link"`
}

// ReferredResponse is a referred client, shown as the tenant's rule says (client_display), with lots and earnings
// as exact decimal strings.
type ReferredResponse struct {
	Client string            `json:"client"`
	Since  time.Time         `json:"since"`
	Lots   string            `json:"lots"`
	Deals  int               `json:"deals"`
	Earned map[string]string `json:"earned"`
	// Deposits are the client's completed deposits by currency.
	Deposits map[string]string `json:"deposits"`
}

// SubIBResponse is a partner below, with its own earnings.
type SubIBResponse struct {
	Name    string            `json:"name"`
	Status  string            `json:"status"`
	Depth   int               `json:"depth"`
	Clients int               `json:"clients"`
	Earned  map[string]string `json:"earned"`
}

// DayResponse is one day's earnings.
type DayResponse struct {
	Day    string `json:"day"`
	Amount string `json:"amount"`
	Deals  int    `json:"deals"`
}

// PortalPartnerResponse is the partner area's summary: the same Earned and Wallet the back office shows.
type PortalPartnerResponse struct {
	Name    string               `json:"name"`
	Plan    string               `json:"plan,omitempty"`
	Links   []PortalLinkResponse `json:"links"`
	Earned  map[string]string    `json:"earned"`
	Wallet  map[string]string    `json:"wallet"`
	Clients []ReferredResponse   `json:"clients"`
	// ClientDisplay is the tenant's rule the clients are shown by: masked_email, masked_name, name, email or reference.
	ClientDisplay string `json:"client_display"`
	// ClientsTotal is how many clients are attributed to the partner now; Clients is a page of them (newest first).
	ClientsTotal int `json:"clients_total"`
	// ClientsNext, unless this is the last page, is the cursor of the next page of clients (?clients_cursor=).
	ClientsNext *string         `json:"clients_next"`
	SubIBs      []SubIBResponse `json:"sub_ibs"`
	Currency    string          `json:"currency,omitempty"`
	Days        []DayResponse   `json:"days"`

	// What the page draws from, as read (not in the JSON).
	earned, wallet map[string]int64
	days           []web.DayAmount
}

// PortalSummary reads everything the partner area shows but the rows and the payouts, with the page of referred
// clients after the position after (nil: the newest).
func (s *Service) PortalSummary(ctx context.Context, t tenants.Tenant, p Partner, after *ReferredAfter) (PortalPartnerResponse, error) {
	out := PortalPartnerResponse{Name: p.Name, Plan: p.PlanName, Links: []PortalLinkResponse{}, Clients: []ReferredResponse{}, SubIBs: []SubIBResponse{},
		Days: []DayResponse{}}
	for _, c := range p.Codes {
		out.Links = append(out.Links, PortalLinkResponse{Code: c.Code, Campaign: c.Campaign, Link: "/?ref=" + c.Code})
	}
	earned, wallet, err := s.money(ctx, t, p.ID)
	if err != nil {
		return out, err
	}
	out.earned, out.wallet = earned, wallet
	out.Earned, out.Wallet = formatSums(earned), formatSums(wallet)
	refs, err := s.ReferredClients(ctx, t, p.ID, after, ReferredPageSize)
	if err != nil {
		return out, err
	}
	out.ClientsTotal, out.ClientDisplay = refs.Total, string(refs.Display)
	if refs.Next != nil {
		next, err := s.cursors.Encode(*refs.Next)
		if err != nil {
			return out, err
		}
		out.ClientsNext = &next
	}
	for _, r := range refs.Clients {
		out.Clients = append(out.Clients, ReferredResponse{Client: r.Shown, Since: r.Since, Lots: r.Lots.String(), Deals: r.Deals, Earned: formatSums(r.Earned),
			Deposits: formatSums(r.Deposits)})
	}
	subs, err := s.SubIBs(ctx, t, p.ID)
	if err != nil {
		return out, err
	}
	for _, n := range subs {
		out.SubIBs = append(out.SubIBs, SubIBResponse{Name: n.Name, Status: string(n.Status), Depth: n.Depth, Clients: n.Clients, Earned: formatSums(n.Earned)})
	}
	cur, ok := s.partnerCurrency(ctx, t, p, earned)
	if !ok {
		return out, nil
	}
	days, err := s.DailyEarnings(ctx, t, p.ID, cur)
	if err != nil {
		return out, err
	}
	out.Currency, out.days = cur.Code, days
	for _, d := range days {
		out.Days = append(out.Days, DayResponse{Day: d.Day.Format(time.DateOnly), Amount: money.Format(d.Minor, cur), Deals: d.Count})
	}
	return out, nil
}

// clientsAfter reads the page of referred clients a request asks for (?clients_cursor=, a ClientsNext): nil for the
// first page, a 422 naming clients_cursor for a cursor this module did not give out.
func (s *Service) clientsAfter(c *fiber.Ctx) (*ReferredAfter, error) {
	cur := c.Query("clients_cursor")
	if cur == "" {
		return nil, nil
	}
	var a ReferredAfter
	if s.cursors.Decode(cur, &a) != nil {
		return nil, validation.New("clients_cursor", "is not a page of clients this page gave out; start again without one")
	}
	return &a, nil
}

// partnerCurrency is the currency the chart draws: the plan's, else the first the partner earned in.
func (s *Service) partnerCurrency(ctx context.Context, t tenants.Tenant, p Partner, earned map[string]int64) (money.Currency, bool) {
	if p.PlanID != nil {
		if plan, err := s.Plan(ctx, t, *p.PlanID, 0); err == nil {
			return plan.Currency, true
		}
	}
	for code := range earned {
		if cur, ok := money.Lookup(code); ok {
			return cur, true
		}
	}
	return money.Currency{}, false
}

// portalPartnerRoutes are the partner area's API: the summary and the rows, the partner's own only.
func portalPartnerRoutes(api *web.API, s *Service) {
	const tag = "partners"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/partner", Permission: identity.PermPortalAccount, Tag: tag,
		Response: PortalPartnerResponse{},
		Summary:  "The partner area (an approved partner's): referral links, earned and wallet totals, a page of referred clients (emails masked, 100 newest first, clients_total in all; clients_cursor= the clients_next of the previous page), sub-IBs, earnings per day; 403 not-a-partner otherwise",
		Handler: func(c *fiber.Ctx) error {
			p, err := s.portalPartnerOf(c)
			if err != nil {
				return err
			}
			after, err := s.clientsAfter(c)
			if err != nil {
				return err
			}
			out, err := s.PortalSummary(c.UserContext(), tenants.Current(c), p, after)
			if err != nil {
				return err
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/partner/commissions", Permission: identity.PermPortalAccount, Tag: tag,
		Response: CommissionsResponse{},
		Summary:  "The partner's own commission rows with their explanations, newest deal first; filters from, to (dates), symbol, level, kind, reason, ticket, limit (at most 1000)",
		Handler: func(c *fiber.Ctx) error {
			p, err := s.portalPartnerOf(c)
			if err != nil {
				return err
			}
			f, limit, err := commissionFilter(c)
			if err != nil {
				return err
			}
			f.Partner = &p.ID
			list, err := s.Commissions(c.UserContext(), tenants.Current(c), f, limit)
			if err != nil {
				return err
			}
			out := CommissionsResponse{Commissions: []CommissionResponse{}}
			for _, r := range list {
				out.Commissions = append(out.Commissions, ToCommissionResponse(r))
			}
			return c.JSON(out)
		}})
}
