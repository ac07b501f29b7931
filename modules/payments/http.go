package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Permissions of this module's routes (identity's role table grants them).
const (
	PermRead    web.Permission = "payments.read"    // deposits, exceptions, wallets
	PermApprove web.Permission = "payments.approve" // record and approve manual deposits, resolve exceptions
)

// PortalClients says which client a portal login is (identity).
type PortalClients interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
}

// Money is an amount in the API: a decimal string in the currency, never a JSON number.
type Money struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

func toMoney(a money.Amount) Money { return Money{Amount: a.Decimal(), Currency: a.Currency.Code} }

// DepositResponse is a deposit in the API.
type DepositResponse struct {
	ID            string     `json:"id"`
	ClientID      string     `json:"client_id"`
	Gateway       string     `json:"gateway"`
	Method        string     `json:"method"`
	Money         Money      `json:"money"`
	Status        Status     `json:"status"`
	StatusLabel   string     `json:"status_label"`
	RedirectURL   string     `json:"redirect_url,omitempty"`
	Instructions  string     `json:"instructions,omitempty"`
	DepositNumber int        `json:"deposit_number,omitempty"`
	Failure       string     `json:"failure,omitempty"`
	BankReference string     `json:"bank_reference,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`

	// Evidence is a manual deposit's bank statement or advice, in the back office's answers only.
	Evidence *EvidenceResponse `json:"evidence,omitempty"`
}

// EvidenceResponse describes a manual deposit's bank statement or advice; GET /api/v1/deposits/:id/evidence gives a
// link to read it.
type EvidenceResponse struct {
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// EvidenceLinkResponse is a short-lived signed link to a manual deposit's evidence file.
type EvidenceLinkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ToDepositResponse is a deposit as the API shows it.
func ToDepositResponse(d Deposit) DepositResponse {
	return DepositResponse{ID: d.ID.String(), ClientID: d.ClientID.String(), Gateway: d.GatewayID.String(), Method: d.GatewayName,
		Money: toMoney(d.Amount), Status: d.Status, StatusLabel: d.Status.Label(), RedirectURL: d.RedirectURL,
		Instructions: d.Instructions, DepositNumber: d.DepositNumber, Failure: d.Failure, BankReference: d.BankReference,
		CreatedAt: d.CreatedAt, CompletedAt: d.CompletedAt}
}

// toStaffDeposit is a deposit as the back office's API shows it: with its evidence's description.
func toStaffDeposit(d Deposit) DepositResponse {
	r := ToDepositResponse(d)
	if d.EvidenceKey != "" {
		r.Evidence = &EvidenceResponse{FileName: d.EvidenceName, ContentType: d.EvidenceType, Size: d.EvidenceSize}
	}
	return r
}

// DepositRequestBody starts a deposit from the portal.
type DepositRequestBody struct {
	Gateway  string `json:"gateway"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// PromoCode is optional: a promo code the brokerage advertised, for the bonus rules that ask one.
	PromoCode string `json:"promo_code,omitempty"`
}

// MethodResponse is a deposit method the portal offers.
type MethodResponse struct {
	Gateway    string               `json:"gateway"`
	Name       string               `json:"name"`
	Currencies []string             `json:"currencies"`
	Limits     map[string]LimitBody `json:"limits"`
}

// LimitBody is the smallest and largest deposit a gateway takes in one currency, as decimal strings of that
// currency ("10.00"); "0" for no bound.
type LimitBody struct {
	Min string `json:"min"`
	Max string `json:"max"`
}

// limitsOut are a gateway's limits as the API shows them.
func limitsOut(in map[string]Limit) map[string]LimitBody {
	out := map[string]LimitBody{}
	for code, l := range in {
		c, ok := money.Lookup(code)
		if !ok {
			continue
		}
		out[code] = LimitBody{Min: money.Format(l.Min, c), Max: money.Format(l.Max, c)}
	}
	return out
}

// limitsIn reads limits from the API, naming each bad one (limits.USD.min).
func limitsIn(in map[string]LimitBody) (map[string]Limit, error) {
	var f validation.Fields
	out := map[string]Limit{}
	for code, l := range in {
		c, ok := money.Lookup(code)
		if !ok {
			f.Add("limits."+code, "not a currency BrokerDesk handles")
			continue
		}
		var lim Limit
		var err error
		if lim.Min, err = money.Parse(l.Min, c); err != nil {
			f.Add("limits."+code+".min", err.Error())
		}
		if lim.Max, err = money.Parse(l.Max, c); err != nil {
			f.Add("limits."+code+".max", err.Error())
		}
		out[code] = lim
	}
	return out, f.Err()
}

// BalanceResponse is a wallet's balance.
type BalanceResponse struct {
	Currency  string `json:"currency"`
	Posted    string `json:"posted"`
	Pending   string `json:"pending"`
	Available string `json:"available"`
}

// WalletResponse is a client's wallets.
type WalletResponse struct {
	Balances []BalanceResponse `json:"balances"`
}

func toWallet(list []ledger.Balance) WalletResponse {
	out := WalletResponse{Balances: []BalanceResponse{}}
	for _, b := range list {
		c := b.Account.Currency
		out.Balances = append(out.Balances, BalanceResponse{Currency: c.Code, Posted: money.Format(b.Posted, c),
			Pending: money.Format(b.PendingDebits, c), Available: money.Format(b.Available(), c)})
	}
	return out
}

// ManualDepositBody records a client's manual deposit (the client is in the path).
type ManualDepositBody struct {
	Gateway       string `json:"gateway"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	BankReference string `json:"bank_reference"`
}

// RejectBody cancels a manual deposit waiting for approval.
type RejectBody struct {
	Reason string `json:"reason"`
}

// CaseResponse is an exceptions-queue case in the API.
type CaseResponse struct {
	ID             string     `json:"id"`
	Kind           CaseKind   `json:"kind"`
	KindLabel      string     `json:"kind_label"`
	Open           bool       `json:"open"`
	Overdue        bool       `json:"overdue"`
	Reason         string     `json:"reason"`
	Money          *Money     `json:"money,omitempty"`
	DepositID      string     `json:"deposit_id,omitempty"`
	ClientID       string     `json:"client_id,omitempty"`
	AssigneeID     string     `json:"assignee_id,omitempty"`
	OpenedAt       time.Time  `json:"opened_at"`
	DueAt          time.Time  `json:"due_at"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	Resolution     Resolution `json:"resolution,omitempty"`
	ResolutionNote string     `json:"resolution_note,omitempty"`
}

func idString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// ToCaseResponse is a case as the API shows it at now.
func ToCaseResponse(c Case, now time.Time) CaseResponse {
	out := CaseResponse{ID: c.ID.String(), Kind: c.Kind, KindLabel: c.Kind.Label(), Open: c.Open, Overdue: c.Overdue(now), Reason: c.Reason,
		DepositID: idString(c.DepositID), ClientID: idString(c.ClientID), AssigneeID: idString(c.AssigneeID), OpenedAt: c.OpenedAt,
		DueAt: c.DueAt, ResolvedAt: c.ResolvedAt, Resolution: c.Resolution, ResolutionNote: c.ResolutionNote}
	if c.Amount != nil {
		m := toMoney(*c.Amount)
		out.Money = &m
	}
	return out
}

// ResolveBody closes a case.
type ResolveBody struct {
	Resolution Resolution `json:"resolution"`
	ClientID   string     `json:"client_id,omitempty"`
	Note       string     `json:"note"`
}

// CasesResponse lists cases.
type CasesResponse struct {
	Cases []CaseResponse `json:"cases"`
}

// GatewayResponse is a gateway's configuration (never its secrets).
type GatewayResponse struct {
	Slug       string               `json:"slug"`
	Name       string               `json:"name"`
	Kind       string               `json:"kind"`
	Config     any                  `json:"config"`
	HasSecrets bool                 `json:"has_secrets"`
	Currencies []string             `json:"currencies"`
	Limits     map[string]LimitBody `json:"limits"`
	Enabled    bool                 `json:"enabled"`
	WebhookURL string               `json:"webhook_url"`
}

// GatewayBody creates or changes a gateway; secrets, when given, replace the stored ones.
type GatewayBody struct {
	Name       string               `json:"name"`
	Kind       string               `json:"kind"`
	Config     map[string]any       `json:"config"`
	Secrets    map[string]any       `json:"secrets,omitempty"`
	Currencies []string             `json:"currencies"`
	Limits     map[string]LimitBody `json:"limits"`
	Enabled    bool                 `json:"enabled"`
}

// GatewayCreateBody creates a gateway: GatewayBody with its slug, which names its webhook URL.
type GatewayCreateBody struct {
	Slug       string               `json:"slug"`
	Name       string               `json:"name"`
	Kind       string               `json:"kind"`
	Config     map[string]any       `json:"config"`
	Secrets    map[string]any       `json:"secrets,omitempty"`
	Currencies []string             `json:"currencies"`
	Limits     map[string]LimitBody `json:"limits"`
	Enabled    bool                 `json:"enabled"`
}

func (b GatewayCreateBody) gateway() GatewayBody {
	return GatewayBody{Name: b.Name, Kind: b.Kind, Config: b.Config, Secrets: b.Secrets, Currencies: b.Currencies, Limits: b.Limits,
		Enabled: b.Enabled}
}

// GatewaysResponse lists gateways.
type GatewaysResponse struct {
	Gateways []GatewayResponse `json:"gateways"`
}

func (s *Service) gatewayResponse(t tenants.Tenant, g Gateway) GatewayResponse {
	var cfg any = map[string]any{}
	_ = json.Unmarshal(g.Config, &cfg)
	return GatewayResponse{Slug: g.Slug, Name: g.Name, Kind: g.Kind, Config: cfg, HasSecrets: g.HasSecrets, Currencies: g.Currencies,
		Limits: limitsOut(g.Limits), Enabled: g.Enabled, WebhookURL: s.o.TenantURL(t, WebhookPath(g.Slug))}
}

// Routes registers the payments API and the gateways' webhooks on the tenant hosts' route table.
func Routes(api *web.API, s *Service, portal PortalClients) {
	cursors := web.NewCursors([]byte("brokerdesk deposits list cursor v1 (positions only, nothing secret)"))
	api.Handle(web.Route{Method: fiber.MethodPost, Path: WebhooksPrefix + ":gateway", Permission: web.Public, Tag: "payments",
		Summary: "A payment gateway's callback: authenticated by its signature, handled once per processor event, answered after the ledger commits",
		Handler: func(c *fiber.Ctx) error {
			h := http.Header{}
			c.Request().Header.VisitAll(func(k, v []byte) { h.Add(string(k), string(v)) })
			r, err := s.HandleCallback(c.UserContext(), tenants.Current(c), c.Params("gateway"), h, c.Body())
			switch {
			case errors.Is(err, ErrUnknownGateway):
				return web.NotFound("No payment gateway answers at this address.")
			case errors.Is(err, ErrBadSignature):
				return web.NewProblem(fiber.StatusBadRequest, "bad-signature", "The callback's signature does not verify.")
			case err != nil && r.Ack.Status == 0:
				return err
			}
			if r.Ack.ContentType != "" {
				c.Set(fiber.HeaderContentType, r.Ack.ContentType)
			}
			return c.Status(r.Ack.Status).Send(r.Ack.Body)
		}})

	// The portal: the client's own wallet and deposits.
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/wallet", Permission: identity.PermPortalAccount, Tag: "payments",
		Summary: "The signed-in client's wallets: posted, pending and available balances per currency", Response: WalletResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			list, err := s.o.Ledger.ClientBalances(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return err
			}
			return c.JSON(toWallet(list))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/deposit-methods", Permission: identity.PermPortalAccount, Tag: "payments",
		Summary: "The deposit methods the brokerage offers: gateway, currencies and limits", Response: []MethodResponse{},
		Handler: func(c *fiber.Ctx) error {
			list, err := s.Methods(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			out := make([]MethodResponse, len(list))
			for i, g := range list {
				out[i] = MethodResponse{Gateway: g.Slug, Name: g.Name, Currencies: g.Currencies, Limits: limitsOut(g.Limits)}
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/deposits", Permission: identity.PermPortalAccount, Tag: "payments",
		Idempotent: true, Status: fiber.StatusCreated, Request: DepositRequestBody{}, Response: DepositResponse{},
		Summary: "Start a deposit: the policy gate must allow it; answers where to pay (redirect URL or instructions)",
		Handler: func(c *fiber.Ctx) error {
			var b DepositRequestBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			id, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			d, err := s.StartDeposit(c.UserContext(), tenants.Current(c), id, DepositRequest{Gateway: b.Gateway, Amount: b.Amount, Currency: b.Currency, PromoCode: b.PromoCode})
			if err != nil {
				return apiError(err)
			}
			return c.Status(fiber.StatusCreated).JSON(ToDepositResponse(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/deposits", Permission: identity.PermPortalAccount, Tag: "payments",
		Summary: "The signed-in client's deposits, newest first (cursor paged)", Response: web.Paged[DepositResponse]{},
		Handler: func(c *fiber.Ctx) error {
			id, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			return listDeposits(c, s, cursors, DepositFilter{ClientID: id}, ToDepositResponse)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/deposits/:id", Permission: identity.PermPortalAccount, Tag: "payments",
		Summary: "One of the signed-in client's deposits (the receipt)", Response: DepositResponse{},
		Handler: func(c *fiber.Ctx) error {
			client, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			d, err := depositParam(c, s)
			if err != nil || d.ClientID != client {
				return web.NotFound("No such deposit.")
			}
			return c.JSON(ToDepositResponse(d))
		}})

	// The back office.
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/deposits", Permission: PermRead, Tag: "payments",
		Summary:  "Deposits, newest first; filters status, gateway (slug), client, currency with min and max amounts, since and until (RFC 3339); cursor paged",
		Response: web.Paged[DepositResponse]{},
		Handler: func(c *fiber.Ctx) error {
			f, err := s.filterOf(c)
			if err != nil {
				return err
			}
			return listDeposits(c, s, cursors, f, toStaffDeposit)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/deposits/:id", Permission: PermRead, Tag: "payments",
		Summary: "One deposit (a manual one with its evidence's description)", Response: DepositResponse{},
		Handler: func(c *fiber.Ctx) error {
			d, err := depositParam(c, s)
			if err != nil {
				return err
			}
			return c.JSON(toStaffDeposit(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/deposits/:id/evidence", Permission: PermRead, Tag: "payments",
		Summary:  "A signed link (at most 5 minutes) to a manual deposit's bank statement or advice, shown inline; every link is audited (deposit.evidence_viewed); 404 for a deposit without one",
		Response: EvidenceLinkResponse{},
		Handler: func(c *fiber.Ctx) error {
			d, err := depositParam(c, s) // one the viewer may see
			if err != nil {
				return err
			}
			l, err := s.EvidenceURL(c.UserContext(), tenants.Current(c), d.ID, identity.Actor(c))
			if err != nil {
				return apiError(err)
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.JSON(EvidenceLinkResponse{URL: l.URL, ExpiresAt: l.ExpiresAt})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/clients/:id/deposits", Permission: PermApprove, Tag: "payments",
		Idempotent: true, Status: fiber.StatusCreated, Request: ManualDepositBody{}, Response: DepositResponse{}, BodyLimit: manualBodyLimit,
		Summary: "Record a client's bank deposit by hand: credited at once, or above the four-eyes threshold waiting for another finance user. " +
			"As JSON, or as multipart/form-data with the same fields and the bank statement or advice as the file part evidence " +
			"(PDF, PNG or JPEG by its content, at most 10 MiB)",
		Handler: func(c *fiber.Ctx) error {
			// The client before the body: an id that is not one of this tenant's clients is not found.
			client, err := clientParam(c, s)
			if err != nil {
				return err
			}
			if err := s.knownClient(c.UserContext(), tenants.Current(c), client); err != nil {
				return apiError(err)
			}
			var b ManualDepositBody
			var ev *Evidence
			if web.IsMultipart(c) {
				if b, ev, err = manualDepositForm(c); err != nil {
					return apiError(err)
				}
			} else if err := web.Bind(c, &b); err != nil {
				return err
			}
			d, err := s.RecordManual(c.UserContext(), tenants.Current(c), staffID(c), ManualDeposit{ClientID: client, Gateway: b.Gateway,
				Amount: b.Amount, Currency: b.Currency, BankReference: b.BankReference, Evidence: ev})
			if err != nil {
				return apiError(err)
			}
			return c.Status(fiber.StatusCreated).JSON(toStaffDeposit(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/deposits/:id/approve", Permission: PermApprove, Tag: "payments",
		Summary:    "Give a manual deposit its second approval (another finance user than the one who recorded it) and credit it",
		Idempotent: true, Response: DepositResponse{},
		Handler: func(c *fiber.Ctx) error {
			d, err := depositParam(c, s) // one the viewer may see
			if err != nil {
				return err
			}
			d, err = s.Approve(c.UserContext(), tenants.Current(c), d.ID, staffID(c))
			if err != nil {
				return apiError(err)
			}
			return c.JSON(toStaffDeposit(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/deposits/:id/reject", Permission: PermApprove, Tag: "payments",
		Summary: "Cancel a manual deposit waiting for its second approval, with a reason", Request: RejectBody{}, Response: DepositResponse{},
		Handler: func(c *fiber.Ctx) error {
			if _, err := depositParam(c, s); err != nil { // the object before the body
				return err
			}
			id, _ := web.ParseID(c, "id")
			var b RejectBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			d, err := s.Reject(c.UserContext(), tenants.Current(c), id, staffID(c), b.Reason)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(toStaffDeposit(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/wallet", Permission: PermRead, Tag: "payments",
		Summary: "A client's wallets: posted, pending and available balances per currency", Response: WalletResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := clientParam(c, s)
			if err != nil {
				return err
			}
			list, err := s.ClientWallets(c.UserContext(), tenants.Current(c), id)
			if errors.Is(err, ErrNotFound) {
				return web.NotFound("No such client.")
			}
			if err != nil {
				return err
			}
			return c.JSON(toWallet(list))
		}})

	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/payment-exceptions", Permission: PermRead, Tag: "payments",
		Summary: "The exceptions queue: open cases, overdue first (status=resolved for closed ones; assignee=me for one's own)", Response: CasesResponse{},
		Handler: func(c *fiber.Ctx) error {
			f := CaseFilter{}
			open := c.Query("status") != "resolved"
			f.Open = &open
			if c.Query("assignee") == "me" {
				f.Assignee = staffID(c)
			}
			list, err := s.Cases(c.UserContext(), tenants.Current(c), f, 200)
			if err != nil {
				return err
			}
			if list, err = s.visibleCases(c, list); err != nil {
				return err
			}
			out := CasesResponse{Cases: make([]CaseResponse, len(list))}
			now := s.o.Now()
			for i, cs := range list {
				out.Cases[i] = ToCaseResponse(cs, now)
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/payment-exceptions/:id", Permission: PermRead, Tag: "payments",
		Summary: "One case of the exceptions queue", Response: CaseResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such case.")
			}
			cs, err := s.Case(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return apiError(err)
			}
			if hidden, err := s.hides(c, cs.ClientID); err != nil {
				return err
			} else if hidden {
				return web.NotFound("No such case.")
			}
			return c.JSON(ToCaseResponse(cs, s.o.Now()))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/payment-exceptions/:id/resolve", Permission: PermApprove, Tag: "payments",
		Idempotent: true, Request: ResolveBody{}, Response: CaseResponse{},
		Summary: "Resolve a case: matched (credit a client from suspense), refunded, written_off, or dismissed (no money); a note is required",
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such case.")
			}
			cs, err := s.Case(c.UserContext(), tenants.Current(c), id) // the object before the body
			if err != nil {
				return apiError(err)
			}
			if hidden, err := s.hides(c, cs.ClientID); err != nil {
				return err
			} else if hidden {
				return web.NotFound("No such case.")
			}
			var b ResolveBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var client uuid.UUID
			if b.ClientID != "" {
				if client, err = web.ParseUUID(b.ClientID); err != nil {
					return web.Invalid("The request has invalid fields.", web.FieldError{Field: "client_id", Message: "not a client id"})
				}
			}
			cs, err = s.Resolve(c.UserContext(), tenants.Current(c), id, staffID(c), b.Resolution, client, b.Note)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(ToCaseResponse(cs, s.o.Now()))
		}})

	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/payment-gateways", Permission: identity.PermSettingsManage, Tag: "payments",
		Summary: "The brokerage's payment gateways and their webhook URLs (never their secrets)", Response: GatewaysResponse{},
		Handler: func(c *fiber.Ctx) error {
			t := tenants.Current(c)
			list, err := s.Gateways(c.UserContext(), t)
			if err != nil {
				return err
			}
			out := GatewaysResponse{Gateways: []GatewayResponse{}}
			for _, g := range list {
				out.Gateways = append(out.Gateways, s.gatewayResponse(t, g))
			}
			return c.JSON(out)
		}})
	saveGateway := func(c *fiber.Ctx, slug string, b GatewayBody, save func(context.Context, tenants.Tenant, audit.Actor, GatewayInput) (Gateway, error), status int) error {
		limits, err := limitsIn(b.Limits)
		if err != nil {
			return apiError(err)
		}
		cfg, _ := json.Marshal(b.Config)
		var sec []byte
		if len(b.Secrets) > 0 {
			sec, _ = json.Marshal(b.Secrets)
		}
		t := tenants.Current(c)
		g, err := save(c.UserContext(), t, identity.Actor(c), GatewayInput{Slug: slug, Name: b.Name, Kind: b.Kind,
			Config: cfg, Secrets: sec, Currencies: b.Currencies, Limits: limits, Enabled: b.Enabled})
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such gateway.")
		}
		if err != nil {
			return apiError(err)
		}
		return c.Status(status).JSON(s.gatewayResponse(t, g))
	}
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/payment-gateways", Permission: identity.PermSettingsManage, Tag: "payments",
		Request: GatewayCreateBody{}, Response: GatewayResponse{}, Status: fiber.StatusCreated,
		Summary: "Create a gateway (its slug names its webhook URL); secrets are sealed and never shown again",
		Handler: func(c *fiber.Ctx) error {
			var b GatewayCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return saveGateway(c, b.Slug, b.gateway(), s.CreateGateway, fiber.StatusCreated)
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/payment-gateways/:slug", Permission: identity.PermSettingsManage, Tag: "payments",
		Request: GatewayBody{}, Response: GatewayResponse{},
		Summary: "Change a gateway; secrets, when given, replace the stored ones (sealed, never shown again)",
		Handler: func(c *fiber.Ctx) error {
			// The object before the body: another tenant's slug is not found, whatever the body says.
			if _, err := s.Gateway(c.UserContext(), tenants.Current(c), c.Params("slug")); errors.Is(err, ErrNotFound) {
				return web.NotFound("No such gateway.")
			} else if err != nil {
				return err
			}
			var b GatewayBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return saveGateway(c, c.Params("slug"), b, s.UpdateGateway, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/payments", Permission: identity.PermSettingsManage, Tag: "payments",
		Summary: "The rules for money in: the exceptions' SLA, the manual deposits' four-eyes thresholds, receipt emails", Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(toSettingsBody(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/payments", Permission: identity.PermSettingsManage, Tag: "payments",
		Summary: "Replace the rules for money in (every field required)", Request: SettingsBody{}, Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			var b SettingsBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			st, err := b.settings()
			if err != nil {
				return apiError(err)
			}
			if err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st); err != nil {
				return apiError(err)
			}
			return c.JSON(toSettingsBody(st))
		}})
}

// Methods lists the gateways a client may deposit through (enabled, not manual).
func (s *Service) Methods(ctx context.Context, t tenants.Tenant) ([]Gateway, error) {
	all, err := s.Gateways(ctx, t)
	if err != nil {
		return nil, err
	}
	var out []Gateway
	for _, g := range all {
		if g.Enabled && g.Kind != KindManual {
			out = append(out, g)
		}
	}
	return out, nil
}

func listDeposits(c *fiber.Ctx, s *Service, cursors *web.Cursors, f DepositFilter, out func(Deposit) DepositResponse) error {
	var after DepositCursor
	limit, first, err := cursors.PageQuery(c, &after)
	if err != nil {
		return err
	}
	var from *DepositCursor
	if !first {
		from = &after
	}
	list, err := s.Deposits(c.UserContext(), tenants.Current(c), f, from, limit)
	if err != nil {
		return err
	}
	rows := make([]DepositResponse, len(list))
	byID := map[string]Deposit{}
	for i, d := range list {
		rows[i] = out(d)
		byID[rows[i].ID] = d
	}
	page, err := web.MakePaged(cursors, rows, limit, func(r DepositResponse) any {
		d := byID[r.ID]
		return DepositCursor{CreatedAt: d.CreatedAt, ID: d.ID}
	})
	if err != nil {
		return err
	}
	return c.JSON(page)
}

// filterOf reads the deposits list's filters, naming every bad one.
func (s *Service) filterOf(c *fiber.Ctx) (DepositFilter, error) {
	var f DepositFilter
	var bad []web.FieldError
	add := func(field, msg string) { bad = append(bad, web.FieldError{Field: field, Message: msg}) }
	if v := c.Query("status"); v != "" {
		switch Status(v) {
		case StatusPending, StatusProcessing, StatusAwaitingApproval, StatusCompleted, StatusFailed, StatusCancelled:
			f.Status = Status(v)
		default:
			add("status", "one of pending, processing, awaiting_approval, completed, failed, cancelled")
		}
	}
	if v := c.Query("gateway"); v != "" {
		g, err := s.Gateway(c.UserContext(), tenants.Current(c), v)
		switch {
		case errors.Is(err, ErrNotFound):
			add("gateway", "no such gateway")
		case err != nil:
			return f, err
		}
		f.GatewayID = g.ID
	}
	if v := c.Query("client"); v != "" {
		id, err := web.ParseUUID(v)
		if err != nil {
			add("client", "not a client id")
		}
		f.ClientID = id
	}
	if v := c.Query("currency"); v != "" {
		cur, ok := money.Lookup(strings.ToUpper(v))
		if !ok {
			add("currency", "not a currency BrokerDesk handles")
		}
		f.Currency = cur.Code
		for _, b := range []struct {
			name string
			dst  *int64
		}{{"min_amount", &f.MinAmount}, {"max_amount", &f.MaxAmount}} {
			if v := c.Query(b.name); v != "" && ok {
				m, err := money.Parse(v, cur)
				if err != nil || m < 0 {
					add(b.name, "a positive decimal amount in "+cur.Code)
				}
				*b.dst = m
			}
		}
	} else if c.Query("min_amount") != "" || c.Query("max_amount") != "" {
		add("currency", "amounts filter within one currency: give it")
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(b.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				add(b.name, "a time as RFC 3339, like 2026-12-01T00:00:00Z")
			}
			*b.dst = at
		}
	}
	if len(bad) > 0 {
		return f, web.Invalid("The request has invalid filters.", bad...)
	}
	return s.narrowFilter(c, f) // a manager who sees only their own clients lists only their deposits
}

func depositParam(c *fiber.Ctx, s *Service) (Deposit, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return Deposit{}, web.NotFound("No such deposit.")
	}
	d, err := s.Deposit(c.UserContext(), tenants.Current(c), id)
	if errors.Is(err, ErrNotFound) {
		return d, web.NotFound("No such deposit.")
	}
	if err == nil {
		var hidden bool
		if hidden, err = s.hides(c, &d.ClientID); hidden {
			return Deposit{}, web.NotFound("No such deposit.")
		}
	}
	return d, err
}

// clientParam is the path's client id, when the viewer may see that client (whether it exists is the service's to
// say); anything else is not found.
func clientParam(c *fiber.Ctx, s *Service) (uuid.UUID, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return uuid.Nil, web.NotFound("No such client.")
	}
	if hidden, err := s.hides(c, &id); err != nil {
		return uuid.Nil, err
	} else if hidden {
		return uuid.Nil, web.NotFound("No such client.")
	}
	return id, nil
}

// portalClient is the signed-in trader's client id.
func portalClient(c *fiber.Ctx, portal PortalClients) (uuid.UUID, error) {
	p, _ := identity.PrincipalOf(c)
	id, err := portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return uuid.Nil, web.NotFound("This login has no client record.")
	}
	return id, err
}

// staffID is the signed-in staff user's id (uuid.Nil for an API key).
func staffID(c *fiber.Ctx) uuid.UUID {
	p, ok := identity.PrincipalOf(c)
	if !ok || p.Kind != identity.Staff {
		return uuid.Nil
	}
	return p.UserID
}

// apiError maps the module's errors to problems; anything else stays internal.
func apiError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("Not found.")
	case errors.Is(err, ErrNotAllowed):
		return web.NewProblem(fiber.StatusForbidden, "deposit-not-allowed", strings.TrimPrefix(err.Error(), ErrNotAllowed.Error()+": "))
	case errors.Is(err, ErrPersonRequired):
		return web.NewProblem(fiber.StatusForbidden, "person-required", "A finance user must do this in person, signed in: an API key cannot record, approve or reject a manual deposit or resolve a payment case.")
	case errors.Is(err, ErrGatewayDisabled):
		return web.NewProblem(fiber.StatusConflict, "gateway-unavailable", strings.TrimPrefix(err.Error(), ErrGatewayDisabled.Error()+": "))
	case errors.Is(err, errRefund):
		return web.NewProblem(fiber.StatusBadGateway, "processor-refused", "The payment provider did not confirm the refund. Try again (it is not made twice), or refund at the provider and write the case off.")
	case errors.Is(err, ErrProcessor):
		return web.NewProblem(fiber.StatusBadGateway, "processor-refused", "The payment provider could not start the payment. Try again or choose another method.")
	case errors.Is(err, ErrSameApprover):
		return web.NewProblem(fiber.StatusConflict, "four-eyes", "You recorded this deposit; its second approval must come from another finance user.")
	case errors.Is(err, ErrCaseClosed):
		return web.NewProblem(fiber.StatusConflict, "case-resolved", "This case is already resolved.")
	case errors.Is(err, ErrGatewayExists):
		return web.NewProblem(fiber.StatusConflict, "gateway-exists", "A gateway with this slug exists; change it instead.")
	case errors.Is(err, ErrNoMoney):
		return web.NewProblem(fiber.StatusConflict, "case-without-money", "This case holds no money: dismiss it with a note.")
	case errors.Is(err, ErrEvidenceTooLarge):
		p := web.NewProblem(fiber.StatusRequestEntityTooLarge, "file-too-large",
			"The bank statement is larger than "+mib(MaxEvidenceBytes)+". Upload a smaller scan or photo.")
		p.Errors = []web.FieldError{{Field: "evidence", Message: evidenceMessage(err)}}
		return p
	case errors.Is(err, ErrEvidenceType):
		p := web.NewProblem(fiber.StatusUnsupportedMediaType, "file-type",
			"Only PDF, PNG and JPEG files are accepted. The type is read from the file's content, whatever its name says.")
		p.Errors = []web.FieldError{{Field: "evidence", Message: evidenceMessage(err)}}
		return p
	case errors.Is(err, ErrEvidenceEmpty), errors.Is(err, ErrEvidenceIncomplete):
		return web.Invalid("The bank statement cannot be used.", web.FieldError{Field: "evidence", Message: evidenceMessage(err)})
	case errors.Is(err, ErrNoEvidence):
		return web.NotFound("This deposit has no bank statement.")
	}
	return err
}

// manualBodyLimit bounds a manual deposit's body, form or JSON: the evidence file's limit, and room beyond it for
// the fields and for a file somewhat too large to be refused by name (413 file-too-large on evidence) rather than
// as a body (413 body-too-large).
const manualBodyLimit = MaxEvidenceBytes + 2<<20

// manualDepositForm reads a manual deposit sent as multipart/form-data: ManualDepositBody's fields as form fields
// and the file part "evidence". As with JSON, every field that does not fit is named: one the request does not
// have, one given twice, a file under another name.
func manualDepositForm(c *fiber.Ctx) (ManualDepositBody, *Evidence, error) {
	var b ManualDepositBody
	form, err := web.MultipartForm(c)
	if err != nil {
		return b, nil, err
	}
	fields := map[string]*string{"gateway": &b.Gateway, "amount": &b.Amount, "currency": &b.Currency, "bank_reference": &b.BankReference}
	var f validation.Fields
	for _, name := range slices.Sorted(maps.Keys(form.Value)) {
		vs := form.Value[name]
		dst, ok := fields[name]
		switch {
		case name == "evidence" && len(vs) == 1 && vs[0] == "": // a file input left empty
		case name == "evidence":
			f.Add(name, "send the file as a file part (with a filename)")
		case !ok:
			f.Add(name, "is not a field of this request")
		case len(vs) > 1:
			f.Add(name, "appears twice in the form; send each field once")
		default:
			*dst = vs[0]
		}
	}
	for _, name := range slices.Sorted(maps.Keys(form.File)) {
		if name != "evidence" {
			f.Add(name, "is not a file of this request (the file part is evidence)")
		}
	}
	ev, err := formEvidence(form)
	if err != nil && !f.Merge(err) {
		return b, nil, err
	}
	return b, ev, f.Err()
}

// formEvidence is a form's evidence file (part "evidence"), or nil when it has none. web.MultipartForm keeps files
// in memory, so nothing is left to close.
func formEvidence(form *multipart.Form) (*Evidence, error) {
	fhs := form.File["evidence"]
	switch len(fhs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, validation.New("evidence", "send one file")
	}
	file, err := fhs[0].Open()
	if err != nil {
		return nil, fmt.Errorf("payments: open the form's evidence: %w", err)
	}
	return &Evidence{FileName: fhs[0].Filename, Content: file, Size: fhs[0].Size}, nil
}

// SettingsBody is Settings in the API: the four-eyes thresholds as decimal strings of their currency.
type SettingsBody struct {
	ExceptionSLAHours int               `json:"exception_sla_hours"`
	ManualApproval    map[string]string `json:"manual_approval"`
	ReceiptEmails     bool              `json:"receipt_emails"`
}

func toSettingsBody(st Settings) SettingsBody {
	b := SettingsBody{ExceptionSLAHours: st.ExceptionSLAHours, ManualApproval: map[string]string{}, ReceiptEmails: st.ReceiptEmails}
	for code, v := range st.ManualApproval {
		if c, ok := money.Lookup(code); ok {
			b.ManualApproval[code] = money.Format(v, c)
		}
	}
	return b
}

// settings reads the body, naming each threshold that is not an amount of its currency (manual_approval.USD).
func (b SettingsBody) settings() (Settings, error) {
	var f validation.Fields
	st := Settings{ExceptionSLAHours: b.ExceptionSLAHours, ManualApproval: map[string]int64{}, ReceiptEmails: b.ReceiptEmails}
	for code, v := range b.ManualApproval {
		c, ok := money.Lookup(code)
		if !ok {
			f.Add("manual_approval."+code, "not a currency BrokerDesk handles")
			continue
		}
		minor, err := money.Parse(v, c)
		if err != nil {
			f.Add("manual_approval."+code, err.Error())
			continue
		}
		st.ManualApproval[code] = minor
	}
	return st, f.Err()
}

// Examples for the OpenAPI document (web.Exampler).

func (SettingsBody) Example() any { return toSettingsBody(DefaultSettings()) }

func (DepositRequestBody) Example() any {
	return DepositRequestBody{Gateway: "card", Amount: "500.00", Currency: "USD"}
}

func (ManualDepositBody) Example() any {
	return ManualDepositBody{Gateway: "bank", Amount: "2500.00", Currency: "EUR",
		BankReference: "SEPA 2026-12-07 0042"}
}

func (GatewayBody) Example() any {
	return GatewayBody{Name: "Cards (Stripe)", Kind: "stripe", Config: map[string]any{},
		Secrets:    map[string]any{"secret_key": "sk_test_example", "webhook_secrets": []string{"whsec_example"}},
		Currencies: []string{"USD", "EUR"}, Limits: map[string]LimitBody{"USD": {Min: "10.00", Max: "50000.00"}}, Enabled: true}
}

func (GatewayCreateBody) Example() any {
	g := GatewayBody{}.Example().(GatewayBody)
	return GatewayCreateBody{Slug: "cards", Name: g.Name, Kind: g.Kind, Config: g.Config, Secrets: g.Secrets, Currencies: g.Currencies,
		Limits: g.Limits, Enabled: g.Enabled}
}
