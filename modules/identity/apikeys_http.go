package identity

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// APIKeyKind is the principal of a request signed with an API key: its UserID is the key's id, its permissions
// the key's scope, and what it does is audited with actor kind api_key.
var APIKeyKind = Kind{name: "api_key", actor: audit.ActorAPIKey, target: "api_key"}

// HeaderAPIKey is the header an integration may send its key in (the other way is Authorization: Bearer bdk_...).
const HeaderAPIKey = "X-API-Key"

// presentedAPIKey returns the API key the request carries, if it carries one: X-API-Key, or a Bearer credential
// that starts with APIKeyPrefix (access tokens are JWTs and never do).
func presentedAPIKey(xAPIKey, authorization string) (string, bool) {
	if v := strings.TrimSpace(xAPIKey); v != "" {
		return v, true
	}
	scheme, tok, found := strings.Cut(authorization, " ")
	if tok = strings.TrimSpace(tok); found && strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(tok, APIKeyPrefix) {
		return tok, true
	}
	return "", false
}

// authenticateKey admits a request carrying an API key: only on back-office routes (a key is not a trader), only a
// live key of the host's tenant (keys live in the tenant's schema, so another tenant's key is simply unknown here).
func (s *Service) authenticateKey(c *fiber.Ctx, k Kind, t tenants.Tenant, key string) error {
	const refused = "The API key is invalid, revoked, expired or not for this address."
	if k != Staff || (c.Get(HeaderAPIKey) != "" && c.Get(fiber.HeaderAuthorization) != "") {
		return unauthorized(c, refused)
	}
	ak, err := s.verifyAPIKey(c.UserContext(), t, key)
	if errors.Is(err, errInvalidAPIKey) {
		s.o.Log.DebugContext(c.UserContext(), "api key refused") // never the key
		return unauthorized(c, refused)
	}
	if err != nil {
		return err
	}
	c.Locals(principalKey{}, Principal{Kind: APIKeyKind, UserID: ak.ID, Permissions: ak.Permissions})
	return nil
}

// Request and response bodies of the API key routes.
type (
	CreateAPIKeyRequest struct {
		Name        string    `json:"name"`
		Permissions []string  `json:"permissions"`
		ExpiresAt   time.Time `json:"expires_at,omitzero"`
	}
	// APIKeyResponse is a key as listed: never its secret.
	APIKeyResponse struct {
		ID          string     `json:"id"`
		Name        string     `json:"name"`
		Permissions []string   `json:"permissions"`
		CreatedBy   string     `json:"created_by"`
		CreatedAt   time.Time  `json:"created_at"`
		ExpiresAt   *time.Time `json:"expires_at"`
		RevokedAt   *time.Time `json:"revoked_at"`
		LastUsedAt  *time.Time `json:"last_used_at"`
	}
	// CreatedAPIKeyResponse is the answer to a create: the key with its secret, the only time the secret is shown.
	// The field is named "secret" so that the audit trail's redaction (audit.Sensitive) would catch it anywhere.
	CreatedAPIKeyResponse struct {
		APIKeyResponse
		Secret string `json:"secret,omitempty"`
	}
	APIKeyPage struct {
		Items      []APIKeyResponse `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
)

// Validate checks the shape; CreateAPIKey checks the permissions against the creator's.
func (r *CreateAPIKeyRequest) Validate(f *web.Fields) {
	f.Required("name", r.Name)
	f.SingleLine("name", r.Name, 100)
	f.Check(len(r.Permissions) > 0, "permissions", "is required: at least one permission")
	f.MaxItems("permissions", len(r.Permissions), len(AllPermissions))
}

// Example is a key request for the OpenAPI document.
func (CreateAPIKeyRequest) Example() any {
	return CreateAPIKeyRequest{Name: "Reporting export", Permissions: []string{string(PermClientsRead)}}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAPIKeyResponse(k APIKey) APIKeyResponse {
	return APIKeyResponse{ID: k.ID.String(), Name: k.Name, Permissions: permStrings(k.Permissions), CreatedBy: k.CreatedBy.String(),
		CreatedAt: k.CreatedAt, ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt), LastUsedAt: optTime(k.LastUsedAt)}
}

func apiKeyProblem(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, ErrAPIKeyNotFound):
		return web.NotFound("No such API key.")
	}
	return problem(c, err)
}

// staffCaller is the signed-in staff user of a key-management route (an API key never holds apikeys.manage, so
// Authorize has already refused keys; this keeps the rule in the handler too).
func staffCaller(c *fiber.Ctx) (Principal, error) {
	p, ok := PrincipalOf(c)
	if !ok || p.Kind != Staff {
		return p, web.NewProblem(fiber.StatusForbidden, "forbidden", "Only a signed-in staff user manages API keys.")
	}
	return p, nil
}

func apiKeyRoutes(api *web.API, s *Service) {
	cursors := web.NewCursors([]byte("brokerdesk identity api-keys list cursor v1")) // positions only: nothing secret is in a cursor
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/api-keys", Permission: PermAPIKeysManage, Tag: "identity",
		Summary: "Create an API key for an integration; its secret is in this answer and nowhere else, ever",
		Request: CreateAPIKeyRequest{}, Response: CreatedAPIKeyResponse{}, Status: fiber.StatusCreated, Idempotent: true,
		Handler: func(c *fiber.Ctx) error {
			p, err := staffCaller(c)
			if err != nil {
				return err
			}
			var r CreateAPIKeyRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			n := NewAPIKey{Name: r.Name, ExpiresAt: r.ExpiresAt}
			for _, x := range r.Permissions {
				n.Permissions = append(n.Permissions, web.Permission(x))
			}
			k, secret, err := s.CreateAPIKey(c.UserContext(), tenants.Current(c), Creator{ID: p.UserID, Roles: p.Claims.Roles}, n)
			if err != nil {
				return apiKeyProblem(c, err)
			}
			// A replay (same Idempotency-Key) answers the same key without its secret: the stored copy must not hold it.
			if err := web.SetReplayBody(c, CreatedAPIKeyResponse{APIKeyResponse: toAPIKeyResponse(k)}); err != nil {
				return err
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Status(fiber.StatusCreated).JSON(CreatedAPIKeyResponse{APIKeyResponse: toAPIKeyResponse(k), Secret: secret})
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/api-keys", Permission: PermAPIKeysManage, Tag: "identity",
		Summary: "The brokerage's API keys, newest first, revoked ones included (never their secrets)", Response: APIKeyPage{},
		Handler: func(c *fiber.Ctx) error {
			var after APIKeyCursor
			limit, first, err := cursors.PageQuery(c, &after)
			if err != nil {
				return err
			}
			var from *APIKeyCursor
			if !first {
				from = &after
			}
			keys, err := s.ListAPIKeys(c.UserContext(), tenants.Current(c), from, limit+1)
			if err != nil {
				return err
			}
			page, err := web.MakePaged(cursors, keys, limit, func(k APIKey) any { return APIKeyCursor{CreatedAt: k.CreatedAt, ID: k.ID} })
			if err != nil {
				return err
			}
			out := APIKeyPage{Items: []APIKeyResponse{}, NextCursor: page.NextCursor}
			for _, k := range page.Items {
				out.Items = append(out.Items, toAPIKeyResponse(k))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodDelete, Path: "/api/v1/api-keys/:id", Permission: PermAPIKeysManage, Tag: "identity",
		Summary: "Revoke an API key: requests with it answer 401 from now on", Response: APIKeyResponse{},
		Handler: func(c *fiber.Ctx) error {
			p, err := staffCaller(c)
			if err != nil {
				return err
			}
			id, err := web.ParseID(c, "id")
			if err != nil {
				return apiKeyProblem(c, ErrAPIKeyNotFound)
			}
			k, err := s.RevokeAPIKey(c.UserContext(), tenants.Current(c), p.UserID, id)
			if err != nil {
				return apiKeyProblem(c, err)
			}
			return c.JSON(toAPIKeyResponse(k))
		}})
}
