package operators

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// claimsKey is where the authentication middleware leaves the verified claims.
const claimsKey = "operators.claims"

// Claims returns the operator's verified claims; only for handlers behind Authorize or RequirePage.
func Claims(c *fiber.Ctx) (auth.Claims, bool) {
	cl, ok := c.Locals(claimsKey).(auth.Claims)
	return cl, ok
}

func operatorID(c *fiber.Ctx) (uuid.UUID, error) {
	cl, ok := Claims(c)
	if !ok {
		return uuid.Nil, web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", "Sign in to use the console.")
	}
	id, err := uuid.Parse(cl.Subject)
	if err != nil {
		return uuid.Nil, web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", "Sign in to use the console.")
	}
	return id, nil
}

// authorize checks claims against a permission, leaving them for the handler.
func authorize(c *fiber.Ctx, cl auth.Claims, p web.Permission) error {
	if !Allowed(cl.Roles, p) {
		return web.NewProblem(fiber.StatusForbidden, "forbidden", "Your operator role does not allow this.")
	}
	c.Locals(claimsKey, cl)
	return c.Next()
}

// Authorize is the console API's permission middleware (for web.NewAPI): a Bearer console token (audience
// console, no tenant) whose roles grant p. Any other token, including every tenant token, gets 401.
func (s *Service) Authorize(p web.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := c.Get(fiber.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			return unauthorized()
		}
		cl, err := s.Verify(token)
		if err != nil {
			return unauthorized()
		}
		return authorize(c, cl, p)
	}
}

func unauthorized() error {
	return web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", "A valid console access token is required.")
}

// problem maps the service's errors to what a client may see.
func problem(err error) error {
	var locked *auth.LockedError
	var pwd *auth.PasswordError
	switch {
	case errors.As(err, &locked):
		return web.NewProblem(fiber.StatusTooManyRequests, "account-locked",
			"Too many failed sign-ins: try again in "+locked.RetryAfter.Round(time.Second).String()+".")
	case errors.Is(err, ErrTOTPRequired):
		return web.NewProblem(fiber.StatusUnauthorized, "totp-required", "Enter the one-time code from your authenticator app.")
	case errors.Is(err, ErrBadCredentials):
		return web.NewProblem(fiber.StatusUnauthorized, "invalid-credentials", "Wrong email, password or code.")
	case errors.Is(err, ErrInvalidRefresh):
		return unauthorized()
	case errors.Is(err, ErrNoPendingTOTP):
		return web.NewProblem(fiber.StatusConflict, "no-enrolment", "Start two-factor enrolment first.")
	case errors.Is(err, ErrReasonRequired):
		return web.Invalid("A reason is required.", web.FieldError{Field: "reason", Message: "must be 1 to 500 characters on one line"})
	case errors.Is(err, tenants.ErrNotFound), errors.Is(err, ErrNotFound):
		return web.NotFound("No such tenant.")
	case errors.Is(err, tenants.ErrBadTransition):
		return web.NewProblem(fiber.StatusConflict, "bad-transition", "The tenant cannot make this status change now.")
	case errors.As(err, &pwd):
		return web.Invalid("The password does not meet the policy.")
	}
	return err
}

// LoginRequest is the console login body. Code is a TOTP code, or a recovery code, once 2FA is enrolled.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Code     string `json:"code,omitempty"`
}

// TokenResponse is a session's tokens.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// RefreshRequest carries a refresh token (refresh and logout).
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// EnrolRequest confirms a two-factor enrolment with the operator's password.
type EnrolRequest struct {
	Password string `json:"password"`
}

// EnrolResponse is a pending TOTP enrolment.
type EnrolResponse struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

// ConfirmRequest completes 2FA enrolment.
type ConfirmRequest struct {
	Code string `json:"code"`
}

// ConfirmResponse holds the recovery codes, shown this once.
type ConfirmResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// TenantView is a tenant as the console lists it.
type TenantView struct {
	ID           string    `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason"`
	Cluster      string    `json:"cluster"`
	CreatedAt    time.Time `json:"created_at"`
}

// TenantList is the console's tenant listing.
type TenantList struct {
	Tenants []TenantView `json:"tenants"`
}

// StatusRequest is the reason for a suspension or resumption.
type StatusRequest struct {
	Reason string `json:"reason"`
}

func toView(t tenants.Tenant) TenantView {
	return TenantView{ID: t.ID.String(), Slug: t.Slug, Name: t.DisplayName, Status: string(t.Status),
		StatusReason: t.StatusReason, Cluster: t.Cluster, CreatedAt: t.CreatedAt}
}

func tokens(s Session) TokenResponse {
	return TokenResponse{AccessToken: s.AccessToken, TokenType: "Bearer", RefreshToken: s.RefreshToken,
		ExpiresIn: int(time.Until(s.AccessExpires).Round(time.Second).Seconds())}
}

// body reads the JSON body under the API's body contract (web.Bind: application/json, strict decoding, every bad
// field named, the request type's Validate).
func body(c *fiber.Ctx, v any) error { return web.Bind(c, v) }

// Validate checks a login's shape; whether it is right is the service's to say.
func (r *LoginRequest) Validate(f *web.Fields) {
	f.Required("email", r.Email)
	f.Email("email", strings.TrimSpace(r.Email))
	f.Required("password", r.Password)
	f.SingleLine("password", r.Password, 0)
	f.SingleLine("code", r.Code, 64)
}

// Validate checks that a refresh token was sent.
func (r *RefreshRequest) Validate(f *web.Fields) {
	f.Required("refresh_token", r.RefreshToken)
	f.SingleLine("refresh_token", r.RefreshToken, 1024)
}

// Validate checks that the password was sent.
func (r *EnrolRequest) Validate(f *web.Fields) {
	f.Required("password", r.Password)
	f.SingleLine("password", r.Password, 0)
}

// Validate checks that a code was sent.
func (r *ConfirmRequest) Validate(f *web.Fields) {
	f.Required("code", r.Code)
	f.SingleLine("code", r.Code, 64)
}

// Validate checks the reason's text; the service requires one of 1 to 500 characters.
func (r *StatusRequest) Validate(f *web.Fields) { f.SingleLine("reason", r.Reason, 0) }

// Routes registers the console API on the console's own route table.
func Routes(api *web.API, s *Service, t *Tenants) {
	const tag = "console"
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/login", Permission: web.Public, Tag: tag,
		Summary: "Sign an operator in (email, password and, once enrolled, a TOTP or recovery code)",
		Request: LoginRequest{}, Response: TokenResponse{},
		Handler: func(c *fiber.Ctx) error {
			var r LoginRequest
			if err := body(c, &r); err != nil {
				return err
			}
			sess, err := s.Login(c.UserContext(), Credentials{Email: r.Email, Password: r.Password, Code: r.Code})
			var locked *auth.LockedError
			if errors.As(err, &locked) {
				c.Set(fiber.HeaderRetryAfter, retryAfter(locked.RetryAfter))
			}
			if err != nil {
				return problem(err)
			}
			return c.JSON(tokens(sess))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/refresh", Permission: web.Public, Tag: tag,
		Summary: "Exchange a refresh token for new tokens (the presented one is spent; reusing it revokes the session)",
		Request: RefreshRequest{}, Response: TokenResponse{},
		Handler: func(c *fiber.Ctx) error {
			var r RefreshRequest
			if err := body(c, &r); err != nil {
				return err
			}
			sess, err := s.Refresh(c.UserContext(), r.RefreshToken)
			if err != nil {
				return problem(err)
			}
			return c.JSON(tokens(sess))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/logout", Permission: web.Public, Tag: tag,
		Summary: "End a session: revoke the refresh token's family", Request: RefreshRequest{}, Status: fiber.StatusNoContent,
		Handler: func(c *fiber.Ctx) error {
			var r RefreshRequest
			if err := body(c, &r); err != nil {
				return err
			}
			if err := s.Logout(c.UserContext(), r.RefreshToken); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/2fa/enrol", Permission: PermAccount, Tag: tag,
		Summary: "Start two-factor enrolment (the password confirms it): a TOTP secret and its otpauth URI",
		Request: EnrolRequest{}, Response: EnrolResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := operatorID(c)
			if err != nil {
				return err
			}
			var r EnrolRequest
			if err := body(c, &r); err != nil {
				return err
			}
			e, err := s.EnrolTOTP(c.UserContext(), id, r.Password)
			if err != nil {
				return problem(err)
			}
			return c.JSON(EnrolResponse{Secret: e.Secret, URI: e.URI})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/2fa/confirm", Permission: PermAccount, Tag: tag,
		Summary: "Complete two-factor enrolment with a valid code; returns recovery codes once",
		Request: ConfirmRequest{}, Response: ConfirmResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := operatorID(c)
			if err != nil {
				return err
			}
			var r ConfirmRequest
			if err := body(c, &r); err != nil {
				return err
			}
			codes, err := s.ConfirmTOTP(c.UserContext(), id, r.Code)
			if err != nil {
				return problem(err)
			}
			return c.JSON(ConfirmResponse{RecoveryCodes: codes})
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/console/tenants", Permission: PermTenantsRead, Tag: tag,
		Summary: "Every tenant with its status and cluster", Response: TenantList{},
		Handler: func(c *fiber.Ctx) error {
			list, err := t.List(c.UserContext())
			if err != nil {
				return err
			}
			out := TenantList{Tenants: make([]TenantView, 0, len(list))}
			for _, ten := range list {
				out.Tenants = append(out.Tenants, toView(ten))
			}
			return c.JSON(out)
		}})
	type moveFunc = func(context.Context, uuid.UUID, string, string) (tenants.Tenant, error)
	move := func(do moveFunc) fiber.Handler {
		return func(c *fiber.Ctx) error {
			id, err := operatorID(c)
			if err != nil {
				return err
			}
			var r StatusRequest
			if err := body(c, &r); err != nil {
				return err
			}
			ten, err := do(c.UserContext(), id, utils.CopyString(c.Params("slug")), r.Reason)
			if err != nil {
				return problem(err)
			}
			return c.JSON(toView(ten))
		}
	}
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/tenants/:slug/suspend", Permission: PermTenantsManage, Tag: tag,
		Summary: "Suspend a tenant (its hosts answer 403; data untouched)", Request: StatusRequest{}, Response: TenantView{},
		Handler: move(t.Suspend)})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/console/tenants/:slug/resume", Permission: PermTenantsManage, Tag: tag,
		Summary: "Resume a suspended tenant", Request: StatusRequest{}, Response: TenantView{},
		Handler: move(t.Resume)})
}

// retryAfter formats a Retry-After header value.
func retryAfter(d time.Duration) string { return strconv.Itoa(int(d.Seconds()) + 1) }

// safeNext keeps a post-login redirect on this host.
func safeNext(next string) string { return web.SafeNext(next, "/tenants") }
