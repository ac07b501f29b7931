package clients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Request and response bodies of the API.
type (
	RegistrationRequest struct {
		Email            string `json:"email"`
		Password         string `json:"password"`
		FirstName        string `json:"first_name"`
		LastName         string `json:"last_name"`
		Country          string `json:"country"`
		Phone            string `json:"phone"`
		DateOfBirth      string `json:"date_of_birth"`
		Experience       string `json:"experience,omitempty"`
		MarketingConsent bool   `json:"marketing_consent,omitempty"` // optional: no consent unless true
		ReferralCode     string `json:"referral_code,omitempty"`
	}
	RegistrationResponse struct {
		ID     string `json:"id"`
		Status Status `json:"status"`
		// Next says what the trader does now.
		Next string `json:"next"`
	}
	VerificationRequest struct {
		Token string `json:"token"`
	}
	VerificationResponse struct {
		Status Status `json:"status"`
	}
	ResendRequest struct {
		Email string `json:"email"`
	}
	ClientResponse struct {
		ID               string     `json:"id"`
		Email            string     `json:"email"`
		FirstName        string     `json:"first_name"`
		LastName         string     `json:"last_name"`
		Country          string     `json:"country"`
		Phone            string     `json:"phone"`
		DateOfBirth      string     `json:"date_of_birth,omitempty"`
		Experience       string     `json:"experience,omitempty"`
		MarketingConsent bool       `json:"marketing_consent"`
		Status           Status     `json:"status"`
		Tier             string     `json:"tier"`
		ManagerID        *string    `json:"manager_id"`
		ReferralCode     string     `json:"referral_code,omitempty"`
		ReferralSource   string     `json:"referral_source,omitempty"`
		EmailVerifiedAt  *time.Time `json:"email_verified_at,omitempty"`
		KYCApprovedAt    *time.Time `json:"kyc_approved_at,omitempty"`
		StatusChangedAt  time.Time  `json:"status_changed_at"`
		CreatedAt        time.Time  `json:"created_at"`
	}
	HistoryResponse struct {
		From      Status    `json:"from,omitempty"`
		To        Status    `json:"to"`
		Reason    string    `json:"reason"`
		ActorKind string    `json:"actor_kind"`
		ActorID   string    `json:"actor_id"`
		At        time.Time `json:"at"`
	}
	DecisionResponse struct {
		Action  Action `json:"action"`
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	ClientDetailResponse struct {
		Client  ClientResponse     `json:"client"`
		History []HistoryResponse  `json:"history"`
		Policy  []DecisionResponse `json:"policy"`
	}
	StatusChangeRequest struct {
		// Action is restrict, suspend, close or reinstate (a closed client is reopened at email_verified).
		Action string `json:"action"`
		Reason string `json:"reason"`
	}
)

// ToResponse is a client as the API shows it.
func ToResponse(c Client) ClientResponse {
	r := ClientResponse{ID: c.ID.String(), Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Country: c.Country,
		Phone: c.Phone, Experience: c.Experience, MarketingConsent: c.MarketingConsent, Status: c.Status, Tier: c.Tier,
		ReferralCode: c.ReferralCode, ReferralSource: c.ReferralSource, EmailVerifiedAt: c.EmailVerifiedAt,
		KYCApprovedAt: c.KYCApprovedAt, StatusChangedAt: c.StatusChangedAt, CreatedAt: c.CreatedAt}
	if !c.DateOfBirth.IsZero() {
		r.DateOfBirth = c.DateOfBirth.Format(time.DateOnly)
	}
	if c.ManagerID != nil {
		m := c.ManagerID.String()
		r.ManagerID = &m
	}
	return r
}

// problem maps the package's errors to problems; a *validation.Error stays one (the error handler lists its fields
// in a 422), anything else passes through (a plain 500).
func problem(err error) error {
	var te *TransitionError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such client.")
	case errors.As(err, &te):
		return web.NewProblem(fiber.StatusConflict, "status-change-refused", "A client in status "+string(te.From)+" cannot move to "+string(te.To)+": "+te.Detail+".")
	case errors.Is(err, ErrReasonRequired):
		return web.Invalid("A status change needs a reason.", web.FieldError{Field: "reason", Message: "is required (at most 500 characters)"})
	case errors.Is(err, ErrLinkUnknown), errors.Is(err, ErrLinkUsed), errors.Is(err, ErrLinkExpired):
		return web.NewProblem(fiber.StatusBadRequest, "invalid-link", linkMessage(err))
	}
	return err
}

// Validate checks the shape of a verification: a token, on one line.
func (r *VerificationRequest) Validate(f *web.Fields) {
	f.Required("token", r.Token)
	f.SingleLine("token", r.Token, 512)
}

// Validate checks the address a new link is asked for.
func (r *ResendRequest) Validate(f *web.Fields) {
	f.Required("email", r.Email)
	f.Email("email", strings.TrimSpace(r.Email))
}

// Validate checks a status change's shape; the service checks the action and the reason's length.
func (r *StatusChangeRequest) Validate(f *web.Fields) {
	f.Required("action", r.Action)
	f.SingleLine("action", r.Action, 32)
	f.Text("reason", r.Reason, 0)
}

// Examples of the request bodies, for the OpenAPI document.
func (RegistrationRequest) Example() any {
	return RegistrationRequest{Email: "ada.trader@example.com", Password: "correct horse battery staple", FirstName: "Ada",
		LastName: "Lovelace", Country: "GB", Phone: "+44 20 7946 0958", DateOfBirth: "1990-04-25", Experience: "some"}
}
func (VerificationRequest) Example() any {
	return VerificationRequest{Token: "v1_3f0c9a52c1d44b7e9a571b2d"}
}
func (ResendRequest) Example() any { return ResendRequest{Email: "ada.trader@example.com"} }
func (StatusChangeRequest) Example() any {
	return StatusChangeRequest{Action: "restrict", Reason: "Source of funds under review"}
}
func (SettingsBody) Example() any { return toBody(DefaultSettings()) }

func linkMessage(err error) string {
	switch {
	case errors.Is(err, ErrLinkUsed):
		return "This verification link was already used. If your email is verified, sign in; otherwise ask for a new link."
	case errors.Is(err, ErrLinkExpired):
		return "This verification link has expired (links work for 48 hours). Ask for a new one."
	}
	return "This verification link is not valid. Check that you copied all of it, or ask for a new one."
}

// viewerOf is the request's staff user (or API key) for the object-level rule.
func viewerOf(c *fiber.Ctx) Viewer {
	p, ok := identity.PrincipalOf(c)
	if !ok || p.Kind != identity.Staff {
		return Viewer{}
	}
	return Viewer{StaffID: p.UserID, Roles: p.Claims.Roles}
}

// DocumentLister lists a client's KYC documents for the client page (documents.Service.ClientDocuments, adapted
// where the app is wired, so this module does not depend on the documents module).
type DocumentLister func(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]DocumentRow, error)

// DocumentRow is one document as the client page shows it.
type DocumentRow struct {
	ID         uuid.UUID
	Type       string
	Status     string
	FileName   string
	UploadedAt time.Time
	ExpiresOn  *time.Time
	Reason     string
	Duplicate  bool // the same file is used by another client
}

// Routes registers the clients API on the tenant hosts' route table.
func Routes(api *web.API, s *Service) {
	o := s.o
	cursors := web.NewCursors([]byte("brokerdesk clients list cursor v1 (positions only, nothing secret)"))
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/registrations", Permission: web.Public, Tag: "clients",
		Summary: "Register as a trader: the client (status registered), a portal login, and an emailed verification link",
		Request: RegistrationRequest{}, Response: RegistrationResponse{}, Status: fiber.StatusCreated,
		Handler: func(c *fiber.Ctx) error {
			var r RegistrationRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			cl, err := s.Register(c.UserContext(), tenants.Current(c), Registration{Email: r.Email, Password: r.Password, FirstName: r.FirstName,
				LastName: r.LastName, Country: r.Country, Phone: r.Phone, DateOfBirth: r.DateOfBirth, Experience: r.Experience,
				MarketingConsent: r.MarketingConsent, Referral: referralFor(c, o.Secure, r.ReferralCode)})
			if err != nil {
				return problem(err)
			}
			return c.Status(fiber.StatusCreated).JSON(RegistrationResponse{ID: cl.ID.String(), Status: cl.Status,
				Next: "Open the link we emailed to " + cl.Email + " to verify the address."})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/verifications", Permission: web.Public, Tag: "clients",
		Summary: "Verify an email address with the token from the emailed link (single use, 48 hours)",
		Request: VerificationRequest{}, Response: VerificationResponse{},
		Handler: func(c *fiber.Ctx) error {
			var r VerificationRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			v, err := s.Verify(c.UserContext(), tenants.Current(c), r.Token)
			if err != nil {
				return problem(err)
			}
			return c.JSON(VerificationResponse{Status: v.Client.Status})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/verifications/resend", Permission: web.Public, Tag: "clients",
		Summary: "Email a new verification link if the address has a client awaiting verification (always 202)",
		Request: ResendRequest{}, Status: fiber.StatusAccepted,
		Handler: func(c *fiber.Ctx) error {
			var r ResendRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			if err := s.ResendVerification(c.UserContext(), tenants.Current(c), r.Email); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusAccepted)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/profile", Permission: identity.PermPortalAccount, Tag: "clients",
		Summary: "The signed-in trader's own client record", Response: ClientResponse{},
		Handler: func(c *fiber.Ctx) error {
			cl, err := s.portalClient(c)
			if err != nil {
				return problem(err)
			}
			return c.JSON(ToResponse(cl))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients", Permission: identity.PermClientsRead, Tag: "clients",
		Summary:  "Clients, newest first: search (q: id, email or name) and filters (status, country, manager or 'none', tier), cursor paged",
		Response: web.Paged[ClientResponse]{},
		Handler: func(c *fiber.Ctx) error {
			f, err := filterOf(c.Query)
			if err != nil {
				return err
			}
			var after After
			limit, first, err := cursors.PageQuery(c, &after)
			if err != nil {
				return err
			}
			var ap *After
			if !first {
				ap = &after
			}
			rows, err := s.List(c.UserContext(), tenants.Current(c), viewerOf(c), f, ap, limit)
			if err != nil {
				return err
			}
			page, err := web.MakePaged(cursors, rows, limit, func(cl Client) any { return Key(cl) })
			if err != nil {
				return err
			}
			out := web.Paged[ClientResponse]{Items: make([]ClientResponse, len(page.Items)), NextCursor: page.NextCursor}
			for i, cl := range page.Items {
				out.Items[i] = ToResponse(cl)
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id", Permission: identity.PermClientsRead, Tag: "clients",
		Summary: "One client with the status history and the policy gate's answer for every action", Response: ClientDetailResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return problem(ErrNotFound)
			}
			d, err := s.Detail(c.UserContext(), tenants.Current(c), viewerOf(c), id)
			if err != nil {
				return problem(err)
			}
			return c.JSON(d.response())
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/clients/:id/status", Permission: identity.PermClientsStatus, Tag: "clients",
		Summary: "Restrict, suspend, close or reinstate a client, with a reason (history and audit)",
		Request: StatusChangeRequest{}, Response: ClientResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return problem(ErrNotFound)
			}
			// The client first: another tenant's or a hidden client's id answers 404 whatever the body.
			if _, err := s.GetFor(c.UserContext(), tenants.Current(c), viewerOf(c), id); err != nil {
				return problem(err)
			}
			var r StatusChangeRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			cl, err := s.ChangeStatus(c.UserContext(), tenants.Current(c), viewerOf(c), id, r.Action, r.Reason, identity.Actor(c))
			if err != nil {
				return problem(err)
			}
			return c.JSON(ToResponse(cl))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/onboarding", Permission: identity.PermSettingsManage, Tag: "clients",
		Summary:  "The onboarding settings: tiers and tier rules, blocked countries, minimum age, disposable domains, manager assignment, gate rules",
		Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(toBody(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/onboarding", Permission: identity.PermSettingsManage, Tag: "clients",
		Summary: "Replace the onboarding settings (every field; audited)", Request: SettingsBody{}, Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			var b SettingsBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			st, err := b.settings()
			if err != nil {
				return problem(err)
			}
			saved, err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st)
			if err != nil {
				return problem(err)
			}
			return c.JSON(toBody(saved))
		}})
}

// filterOf reads the list filters from query parameters; bad values are field errors.
func filterOf(q func(string, ...string) string) (Filter, error) {
	var f web.Fields
	out := Filter{Query: strings.TrimSpace(q("q")), Status: Status(q("status")), Country: strings.ToUpper(strings.TrimSpace(q("country"))),
		Tier: strings.TrimSpace(q("tier"))}
	f.SingleLine("q", out.Query, MaxQueryLen)
	if out.Status != "" && !out.Status.Valid() {
		f.Add("status", "is not a client status")
	}
	if out.Country != "" && !ValidCountry(out.Country) {
		f.Add("country", "is not an ISO 3166 country code")
	}
	switch m := strings.TrimSpace(q("manager")); m {
	case "":
	case "none":
		out.Unassigned = true
	default:
		id, err := web.ParseUUID(m)
		if err != nil {
			f.Add("manager", "is not a staff user id (or 'none')")
		}
		out.ManagerID = id
	}
	f.SingleLine("tier", out.Tier, 32)
	return out, f.Err()
}

// portalClient is the signed-in trader's client record.
func (s *Service) portalClient(c *fiber.Ctx) (Client, error) {
	p, _ := identity.PrincipalOf(c)
	id, err := s.portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return Client{}, ErrNotFound
	}
	if err != nil {
		return Client{}, err
	}
	return s.Get(c.UserContext(), tenants.Current(c), id)
}

func (d Detail) response() ClientDetailResponse {
	out := ClientDetailResponse{Client: ToResponse(d.Client), History: []HistoryResponse{}, Policy: []DecisionResponse{}}
	for _, h := range d.History {
		out.History = append(out.History, HistoryResponse{From: h.From, To: h.To, Reason: h.Reason, ActorKind: string(h.Actor.Kind), ActorID: h.Actor.ID, At: h.At})
	}
	for _, p := range d.Policy {
		out.Policy = append(out.Policy, DecisionResponse{Action: p.Action, Allowed: p.Allowed, Reason: p.Reason})
	}
	return out
}

// SettingsBody is Settings as the API reads and writes it (ids as strings).
type SettingsBody struct {
	MinimumAge                int               `json:"minimum_age"`
	BlockedCountries          []string          `json:"blocked_countries"`
	ExtraDisposableDomains    []string          `json:"extra_disposable_domains"`
	Tiers                     []Tier            `json:"tiers"`
	TierRules                 []TierRule        `json:"tier_rules"`
	DefaultTier               string            `json:"default_tier"`
	ManagerAssignment         string            `json:"manager_assignment"`
	ManagerRules              []ManagerRuleBody `json:"manager_rules"`
	ManagersSeeOwnClientsOnly bool              `json:"managers_see_own_clients_only"`
	AllowDepositsBeforeKYC    bool              `json:"allow_deposits_before_kyc"`
	DemoFromEmailVerified     bool              `json:"demo_from_email_verified"`
}

// ManagerRuleBody is a ManagerRule in the API.
type ManagerRuleBody struct {
	Countries []string `json:"countries"`
	ManagerID string   `json:"manager_id"`
}

func toBody(st Settings) SettingsBody {
	b := SettingsBody{MinimumAge: st.MinimumAge, BlockedCountries: st.BlockedCountries, ExtraDisposableDomains: st.ExtraDisposableDomains,
		Tiers: st.Tiers, TierRules: st.TierRules, DefaultTier: st.DefaultTier, ManagerAssignment: st.ManagerAssignment,
		ManagerRules: []ManagerRuleBody{}, ManagersSeeOwnClientsOnly: st.ManagersSeeOwnClientsOnly,
		AllowDepositsBeforeKYC: st.AllowDepositsBeforeKYC, DemoFromEmailVerified: st.DemoFromEmailVerified}
	for _, r := range st.ManagerRules {
		b.ManagerRules = append(b.ManagerRules, ManagerRuleBody{Countries: r.Countries, ManagerID: r.ManagerID.String()})
	}
	return b
}

func (b SettingsBody) settings() (Settings, error) {
	st := Settings{MinimumAge: b.MinimumAge, BlockedCountries: b.BlockedCountries, ExtraDisposableDomains: b.ExtraDisposableDomains,
		Tiers: b.Tiers, TierRules: b.TierRules, DefaultTier: b.DefaultTier, ManagerAssignment: b.ManagerAssignment,
		ManagersSeeOwnClientsOnly: b.ManagersSeeOwnClientsOnly, AllowDepositsBeforeKYC: b.AllowDepositsBeforeKYC,
		DemoFromEmailVerified: b.DemoFromEmailVerified}
	var f validation.Fields
	for i, r := range b.ManagerRules {
		id, err := web.ParseUUID(r.ManagerID)
		if err != nil {
			f.Add("manager_rules", fmt.Sprintf("rule %d: manager_id is not a staff user id", i+1))
			continue
		}
		st.ManagerRules = append(st.ManagerRules, ManagerRule{Countries: r.Countries, ManagerID: id})
	}
	return st, f.Err()
}
