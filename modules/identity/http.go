package identity

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Kind   Kind
	UserID uuid.UUID // the user's id, or the API key's
	Claims auth.Claims
	// Permissions is an API key's scope (Kind APIKeyKind); users' permissions come from their token's roles.
	Permissions []web.Permission
}

type principalKey struct{}

// PrincipalOf returns the request's authenticated caller (set by Authorize).
func PrincipalOf(c *fiber.Ctx) (Principal, bool) {
	p, ok := c.Locals(principalKey{}).(Principal)
	return p, ok
}

// Actor is the request's signed-in caller as an audit actor (for modules that record what a user did).
func Actor(c *fiber.Ctx) audit.Actor {
	p, ok := PrincipalOf(c)
	if !ok {
		return audit.System("anonymous")
	}
	return audit.Actor{Kind: p.Kind.actor, ID: p.UserID.String()}
}

// audienceOf is the audience a permission's routes serve: "portal.*" permissions are the traders', every other one
// the back office's. A trader's token is therefore useless on a staff route and the other way round.
func audienceOf(p web.Permission) Kind {
	if strings.HasPrefix(string(p), "portal.") {
		return Portal
	}
	return Staff
}

func unauthorized(c *fiber.Ctx, detail string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="brokerdesk"`)
	return web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", detail)
}

// Authenticate verifies the Bearer access token for kind k's audience, this service's issuer and the host's
// tenant, and puts the Principal in the request. Anything else answers 401.
func (s *Service) Authenticate(k Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.authenticate(c, k); err != nil {
			return err
		}
		return c.Next()
	}
}

func (s *Service) authenticate(c *fiber.Ctx, k Kind) error {
	t, ok := tenants.FromContext(c.UserContext())
	if !ok {
		return unauthorized(c, "Sign in on the brokerage's own address.")
	}
	authorization := c.Get(fiber.HeaderAuthorization) // read once: every read copies the header (Immutable)
	if key, ok := presentedAPIKey(c.Get(HeaderAPIKey), authorization); ok {
		return s.authenticateKey(c, k, t, key)
	}
	scheme, tok, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return unauthorized(c, "Send an access token: Authorization: Bearer <token>.")
	}
	tok = strings.TrimSpace(tok)
	want := auth.Expectation{Audience: k.aud, Issuer: s.o.Issuer, TenantID: t.ID.String()}
	claims, ok := s.verified.get(tok, want, s.o.Now())
	if !ok {
		var err error
		if claims, err = s.o.Keys.Verify(tok, want); err != nil {
			s.o.Log.DebugContext(c.UserContext(), "access token refused", "reason", err.Error()) // the reason, never the token
			return unauthorized(c, "The access token is invalid, expired or not for this address.")
		}
		s.verified.put(tok, want, claims)
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return unauthorized(c, "The access token is invalid, expired or not for this address.")
	}
	c.Locals(principalKey{}, Principal{Kind: k, UserID: id, Claims: claims})
	return nil
}

// Authorize is the guard web.NewAPI puts before every non-public route: it authenticates for the permission's
// audience, then answers 403 unless one of the token's roles grants p.
func (s *Service) Authorize(p web.Permission) fiber.Handler {
	k := audienceOf(p)
	return func(c *fiber.Ctx) error {
		if err := s.authenticate(c, k); err != nil {
			return err
		}
		pr, _ := PrincipalOf(c)
		if pr.Kind == APIKeyKind {
			if !slices.Contains(pr.Permissions, p) {
				return web.NewProblem(fiber.StatusForbidden, "forbidden", "This API key's scope does not include this (permission "+string(p)+").")
			}
			return c.Next()
		}
		if k == Staff && !Allowed(pr.Claims.Roles, p) {
			return web.NewProblem(fiber.StatusForbidden, "forbidden", "Your roles do not allow this (permission "+string(p)+").")
		}
		return c.Next()
	}
}

func isBusy(err error) bool {
	var busy *auth.BusyError
	return errors.As(err, &busy)
}

// problem maps the package's errors to problems; anything else passes through (and becomes a plain 500).
func problem(c *fiber.Ctx, err error) error {
	var locked *auth.LockedError
	var pw *auth.PasswordError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pw):
		fields := make([]web.FieldError, len(pw.Problems))
		for i, p := range pw.Problems {
			fields[i] = web.FieldError{Field: "password", Message: p.Message}
		}
		return web.Invalid("The new password does not meet the policy.", fields...)
	case isBusy(err):
		return err // 503 with Retry-After (web): the password check waited too long for its turn
	case errors.As(err, &locked):
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(locked.RetryAfter.Round(time.Second)/time.Second)+1))
		return web.NewProblem(fiber.StatusTooManyRequests, "account-locked",
			"Too many failed sign-ins: the account is locked for a while. A password reset by email still works.")
	case errors.Is(err, ErrInvalidCredentials):
		return web.NewProblem(fiber.StatusUnauthorized, "invalid-credentials", "Wrong email, password or code.")
	case errors.Is(err, ErrSecondFactorRequired):
		return web.NewProblem(fiber.StatusUnauthorized, "second-factor-required", "Send totp_code (or recovery_code) as well.")
	case errors.Is(err, ErrInvalidRefresh):
		return unauthorized(c, "The refresh token is invalid, expired, revoked or already used; sign in again.")
	case errors.Is(err, ErrInvalidLink):
		return web.NewProblem(fiber.StatusBadRequest, "invalid-link", "The link is unknown, already used or expired; ask for a new one.")
	case errors.Is(err, ErrAlreadyEnrolled):
		return web.NewProblem(fiber.StatusConflict, "already-enrolled", "Two-factor authentication is already on.")
	case errors.Is(err, ErrNotEnrolling):
		return web.NewProblem(fiber.StatusConflict, "not-enrolling", "Start enrolment first (POST /api/v1/auth/staff/2fa/enrol).")
	case errors.Is(err, ErrInvalidCode):
		return web.Invalid("The code is wrong or expired.", web.FieldError{Field: "code", Message: "is wrong or expired"})
	case errors.Is(err, errNoAccount):
		return unauthorized(c, "The account is no longer active.")
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such user here.")
	case errors.Is(err, ErrOwnTwoFactor):
		return web.NewProblem(fiber.StatusForbidden, "own-2fa", "Your own two-factor sign-in is reset by another admin.")
	}
	return err
}

// Request and response bodies.
type (
	LoginRequest struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		TOTPCode     string `json:"totp_code,omitempty"`
		RecoveryCode string `json:"recovery_code,omitempty"`
	}
	TokenResponse struct {
		AccessToken       string    `json:"access_token"`
		TokenType         string    `json:"token_type"`
		ExpiresIn         int       `json:"expires_in"`
		ExpiresAt         time.Time `json:"expires_at"`
		RefreshToken      string    `json:"refresh_token,omitempty"`
		EnrolmentRequired bool      `json:"enrolment_required,omitempty"`
	}
	RefreshRequest struct {
		RefreshToken string `json:"refresh_token"`
	}
	EnrolResponse struct {
		Secret     string `json:"secret"`
		OTPAuthURI string `json:"otpauth_uri"`
	}
	ConfirmRequest struct {
		Code string `json:"code"`
	}
	RecoveryCodesResponse struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	ResetRequest struct {
		Email string `json:"email"`
	}
	SetPasswordRequest struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	TwoFactorRequirement struct {
		Required bool `json:"required"`
	}
	TwoFactorResetResponse struct {
		// LoginsReset is how many logins had their second factor turned off and their sessions ended.
		LoginsReset int `json:"logins_reset"`
	}
	MeResponse struct {
		ID          string   `json:"id"`
		Email       string   `json:"email"`
		FullName    string   `json:"full_name"`
		Roles       []string `json:"roles"`
		Permissions []string `json:"permissions"`
		TOTP        bool     `json:"totp_enabled"`
		TenantID    string   `json:"tenant_id"`
	}
)

// body reads the JSON body under the API's body contract (web.Bind: strict decoding, every bad field named, the
// request type's Validate).
func body(c *fiber.Ctx, v any) error { return web.Bind(c, v) }

// Maximum sizes of the credentials a request may carry: far above any real one, low enough that nothing large is
// ever hashed, looked up or logged.
const (
	maxCodeLen  = 64
	maxTokenLen = 1024
)

// Validate checks a login's shape; whether it is right is the service's to say.
func (r *LoginRequest) Validate(f *web.Fields) {
	f.Required("email", r.Email)
	f.Email("email", strings.TrimSpace(r.Email))
	f.Required("password", r.Password)
	f.SingleLine("password", r.Password, 0) // no password holds a control character: nothing to hash
	f.SingleLine("totp_code", r.TOTPCode, maxCodeLen)
	f.SingleLine("recovery_code", r.RecoveryCode, maxCodeLen)
}

// Validate checks that a refresh token was sent.
func (r *RefreshRequest) Validate(f *web.Fields) {
	f.Required("refresh_token", r.RefreshToken)
	f.SingleLine("refresh_token", r.RefreshToken, maxTokenLen)
}

// Validate checks the address of a reset request (a malformed one could never receive the link).
func (r *ResetRequest) Validate(f *web.Fields) {
	f.Required("email", r.Email)
	f.Email("email", strings.TrimSpace(r.Email))
}

// Validate checks that a link's token and a password were sent; the policy is the service's.
func (r *SetPasswordRequest) Validate(f *web.Fields) {
	f.Required("token", r.Token)
	f.SingleLine("token", r.Token, maxTokenLen)
	f.Required("password", r.Password)
	f.SingleLine("password", r.Password, 0)
}

// Validate checks that a code was sent.
func (r *ConfirmRequest) Validate(f *web.Fields) {
	f.Required("code", r.Code)
	f.SingleLine("code", r.Code, maxCodeLen)
}

// Examples of the request bodies, for the OpenAPI document.
func (LoginRequest) Example() any {
	return LoginRequest{Email: "compliance@broker.example", Password: "correct horse battery staple"}
}
func (RefreshRequest) Example() any { return RefreshRequest{RefreshToken: "rt_3f0c9a52c1d44b7e"} }
func (ResetRequest) Example() any   { return ResetRequest{Email: "trader@broker.example"} }
func (ConfirmRequest) Example() any { return ConfirmRequest{Code: "123456"} }
func (SetPasswordRequest) Example() any {
	return SetPasswordRequest{Token: "link_3f0c9a52c1d44b7e", Password: "correct horse battery staple"}
}
func (TwoFactorRequirement) Example() any { return TwoFactorRequirement{Required: true} }

func tokenResponse(t Tokens) TokenResponse {
	return TokenResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(time.Until(t.ExpiresAt).Round(time.Second) / time.Second),
		ExpiresAt: t.ExpiresAt.UTC(), RefreshToken: t.RefreshToken, EnrolmentRequired: t.EnrolmentRequired}
}

// Routes registers the identity API on the tenant hosts' route table.
func Routes(api *web.API, s *Service) {
	api.SecurityScheme("apiKey", map[string]any{"type": "apiKey", "in": "header", "name": HeaderAPIKey,
		"description": "A brokerage's API key (" + APIKeyPrefix + "...), also accepted as a Bearer credential; only on back-office routes whose permission a key can hold, and only within the key's permissions."},
		AcceptsAPIKey)
	apiKeyRoutes(api, s)
	for _, k := range []Kind{Staff, Portal} {
		prefix := "/api/v1/auth/" + k.name
		who := map[string]string{"staff": "staff (back office)", "portal": "traders (portal)"}[k.name]
		api.Handle(web.Route{Method: fiber.MethodPost, Path: prefix + "/login", Permission: web.Public, Tag: "identity",
			Summary: "Sign in for " + who + ": an access token and a refresh token", Request: LoginRequest{}, Response: TokenResponse{},
			Handler: func(c *fiber.Ctx) error {
				var r LoginRequest
				if err := body(c, &r); err != nil {
					return err
				}
				t, err := s.Login(c.UserContext(), tenants.Current(c), k, Credentials{Email: r.Email, Password: r.Password, TOTPCode: r.TOTPCode, RecoveryCode: r.RecoveryCode})
				if err != nil {
					return problem(c, err)
				}
				return c.JSON(tokenResponse(t))
			}})
		refreshPath := prefix + "/refresh"
		if k == Staff {
			refreshPath = "/api/v1/auth/refresh"
		}
		api.Handle(web.Route{Method: fiber.MethodPost, Path: refreshPath, Permission: web.Public, Tag: "identity",
			Summary: "Rotate a refresh token of " + who + "; a reused one revokes its whole family", Request: RefreshRequest{}, Response: TokenResponse{},
			Handler: func(c *fiber.Ctx) error {
				var r RefreshRequest
				if err := body(c, &r); err != nil {
					return err
				}
				t, err := s.Refresh(c.UserContext(), tenants.Current(c), k, r.RefreshToken)
				if err != nil {
					return problem(c, err)
				}
				return c.JSON(tokenResponse(t))
			}})
		api.Handle(web.Route{Method: fiber.MethodPost, Path: prefix + "/password-reset", Permission: web.Public, Tag: "identity",
			Summary: "Email a single-use password reset link to " + who + " (always 202)", Request: ResetRequest{}, Status: fiber.StatusAccepted,
			Handler: func(c *fiber.Ctx) error {
				var r ResetRequest
				if err := body(c, &r); err != nil {
					return err
				}
				if err := s.RequestReset(c.UserContext(), tenants.Current(c), k, r.Email); err != nil {
					s.o.Log.ErrorContext(c.UserContext(), "password reset request failed", "kind", k.name, "err", err)
				}
				return c.SendStatus(fiber.StatusAccepted)
			}})
		api.Handle(web.Route{Method: fiber.MethodPost, Path: prefix + "/password-reset/confirm", Permission: web.Public, Tag: "identity",
			Summary: "Set a new password through a reset link (" + who + ")", Request: SetPasswordRequest{}, Status: fiber.StatusNoContent,
			Handler: func(c *fiber.Ctx) error {
				var r SetPasswordRequest
				if err := body(c, &r); err != nil {
					return err
				}
				if err := s.ConfirmReset(c.UserContext(), tenants.Current(c), k, r.Token, r.Password); err != nil {
					return problem(c, err)
				}
				return c.SendStatus(fiber.StatusNoContent)
			}})
	}
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/auth/logout", Permission: web.Public, Tag: "identity",
		Summary: "Sign out: revoke the refresh token's whole family", Request: RefreshRequest{}, Status: fiber.StatusNoContent,
		Handler: func(c *fiber.Ctx) error {
			var r RefreshRequest
			if err := body(c, &r); err != nil {
				return err
			}
			if err := s.Logout(c.UserContext(), tenants.Current(c), r.RefreshToken); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/auth/staff/invitations/accept", Permission: web.Public, Tag: "identity",
		Summary: "Accept a staff invitation: set the password, become active", Request: SetPasswordRequest{}, Status: fiber.StatusNoContent,
		Handler: func(c *fiber.Ctx) error {
			var r SetPasswordRequest
			if err := body(c, &r); err != nil {
				return err
			}
			if err := s.AcceptInvitation(c.UserContext(), tenants.Current(c), r.Token, r.Password); err != nil {
				return problem(c, err)
			}
			return c.SendStatus(fiber.StatusNoContent)
		}})
	for _, k := range []Kind{Staff, Portal} {
		prefix := "/api/v1/auth/" + k.name
		perm := PermAccount2FA
		if k == Portal {
			perm = PermPortalAccount
		}
		api.Handle(web.Route{Method: fiber.MethodPost, Path: prefix + "/2fa/enrol", Permission: perm, Tag: "identity",
			Summary: "Start TOTP enrolment (" + k.name + "): the secret and its otpauth:// URI (for a QR code)", Response: EnrolResponse{},
			Handler: func(c *fiber.Ctx) error {
				p, _ := PrincipalOf(c)
				e, err := s.EnrolTOTP(c.UserContext(), tenants.Current(c), k, p.UserID)
				if err != nil {
					return problem(c, err)
				}
				c.Set(fiber.HeaderCacheControl, "no-store")
				return c.JSON(EnrolResponse{Secret: e.Secret, OTPAuthURI: e.URI})
			}})
		api.Handle(web.Route{Method: fiber.MethodPost, Path: prefix + "/2fa/confirm", Permission: perm, Tag: "identity",
			Summary: "Confirm TOTP enrolment (" + k.name + ") with a code: 2FA on, recovery codes returned once", Request: ConfirmRequest{}, Response: RecoveryCodesResponse{},
			Handler: func(c *fiber.Ctx) error {
				var r ConfirmRequest
				if err := body(c, &r); err != nil {
					return err
				}
				p, _ := PrincipalOf(c)
				codes, err := s.ConfirmTOTP(c.UserContext(), tenants.Current(c), k, p.UserID, r.Code)
				if err != nil {
					return problem(c, err)
				}
				c.Set(fiber.HeaderCacheControl, "no-store")
				return c.JSON(RecoveryCodesResponse{RecoveryCodes: codes})
			}})
	}
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/require-staff-2fa", Permission: PermSettingsManage, Tag: "identity",
		Summary: "Require (or stop requiring) two-factor authentication of every staff user at login",
		Request: TwoFactorRequirement{}, Response: TwoFactorRequirement{},
		Handler: func(c *fiber.Ctx) error {
			var r TwoFactorRequirement
			if err := body(c, &r); err != nil {
				return err
			}
			if err := s.SetRequireStaff2FA(c.UserContext(), tenants.Current(c), Actor(c), r.Required); err != nil {
				return err
			}
			return c.JSON(r)
		}})
	resetRoutes(api, s)
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/me", Permission: PermAccountRead, Tag: "identity",
		Summary: "The signed-in staff user, with roles and permissions", Response: MeResponse{},
		Handler: func(c *fiber.Ctx) error {
			p, _ := PrincipalOf(c)
			t := tenants.Current(c)
			prof, err := s.StaffProfile(c.UserContext(), t, p.UserID)
			if err != nil {
				return problem(c, errNoAccount)
			}
			return c.JSON(MeResponse{ID: prof.ID.String(), Email: prof.Email, FullName: prof.FullName, Roles: prof.Roles,
				Permissions: PermissionsOf(prof.Roles), TOTP: prof.TOTP, TenantID: t.ID.String()})
		}})
}

// resetRoutes are an admin's two-factor resets (twofactor_reset.go): a staff user's by id, a trader's by client id.
// Both end sessions, so both are Idempotent (a retry replays the first answer rather than revoking again).
func resetRoutes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/staff/:id/2fa/reset", Permission: PermStaffManage, Tag: "identity", Idempotent: true,
		Summary:  "Turn a staff user's two-factor sign-in off (lost phone): secret and recovery codes deleted, sessions ended",
		Response: TwoFactorResetResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return problem(c, ErrNotFound)
			}
			if err := s.ResetTwoFactor(c.UserContext(), tenants.Current(c), Staff, id, Actor(c)); err != nil {
				return problem(c, err)
			}
			return c.JSON(TwoFactorResetResponse{LoginsReset: 1})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/clients/:id/2fa/reset", Permission: PermClientsStatus, Tag: "identity", Idempotent: true,
		Summary:  "Turn two-factor sign-in off for a client's portal login (lost phone): secret and recovery codes deleted, sessions ended",
		Response: TwoFactorResetResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No portal login for this client.")
			}
			n, err := s.ResetClientTwoFactor(c.UserContext(), tenants.Current(c), id, Actor(c))
			if errors.Is(err, ErrNotFound) {
				return web.NotFound("No portal login for this client.")
			}
			if err != nil {
				return err
			}
			return c.JSON(TwoFactorResetResponse{LoginsReset: n})
		}})
}
