package documents

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Permissions of this module's routes. Opening a document's file is compliance work (kyc.review: compliance and
// admins): identity documents are the most sensitive data a brokerage holds, and every view is audited anyway. A
// trader reaches only their own documents (any portal.* permission is every trader's; ownership is checked here).
const (
	PermView   = identity.PermKYCReview
	PermPortal = identity.PermPortalAccount
)

// Paths of the upload routes, which read their bodies as streams (web.StreamRoute).
const (
	UploadAPIPath  = "/api/v1/portal/documents"
	UploadPagePath = "/portal/documents"
)

// StreamRoutes are the routes whose bodies the server must hand over unbuffered (web.Options.StreamRoutes).
func StreamRoutes() []web.StreamRoute {
	return []web.StreamRoute{{Method: fiber.MethodPost, Path: UploadAPIPath}, {Method: fiber.MethodPost, Path: UploadPagePath}}
}

// PortalClients maps a portal login to its client (*identity.Service).
type PortalClients interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
}

// DocumentResponse is a document as staff see it.
type DocumentResponse struct {
	ID               string     `json:"id"`
	ClientID         string     `json:"client_id"`
	Type             string     `json:"type"`
	Status           string     `json:"status"`
	FileName         string     `json:"file_name"`
	ContentType      string     `json:"content_type"`
	Size             int64      `json:"size"`
	SHA256           string     `json:"sha256"`
	DuplicateClients []string   `json:"duplicate_clients"`
	ExpiresOn        string     `json:"expires_on,omitempty"`
	ReasonCode       string     `json:"reason_code,omitempty"`
	Message          string     `json:"message,omitempty"`
	UploadedAt       time.Time  `json:"uploaded_at"`
	ReviewedAt       *time.Time `json:"reviewed_at,omitempty"`
}

// PortalDocument is a document as its trader sees it: no hash, no other clients.
type PortalDocument struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	FileName    string    `json:"file_name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	ExpiresOn   string    `json:"expires_on,omitempty"`
	Reason      string    `json:"reason,omitempty"`  // why it was rejected, in words
	Message     string    `json:"message,omitempty"` // what the reviewer asks for
	UploadedAt  time.Time `json:"uploaded_at"`
}

// PortalList is the trader's documents, newest first.
type PortalList struct {
	Documents []PortalDocument `json:"documents"`
}

// LinkResponse is a short-lived signed link to a document's file.
type LinkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ToResponse is d as staff see it in the API (other modules' responses embed it).
func ToResponse(d Document) DocumentResponse {
	r := DocumentResponse{ID: d.ID.String(), ClientID: d.ClientID.String(), Type: string(d.Type), Status: string(d.Status),
		FileName: d.FileName, ContentType: d.ContentType, Size: d.Size, SHA256: d.SHA256, DuplicateClients: []string{},
		ExpiresOn: dateText(d.ExpiresOn), ReasonCode: d.ReasonCode, Message: d.Message, UploadedAt: d.UploadedAt}
	for _, c := range d.DuplicateClients {
		r.DuplicateClients = append(r.DuplicateClients, c.String())
	}
	if !d.ReviewedAt.IsZero() {
		at := d.ReviewedAt
		r.ReviewedAt = &at
	}
	return r
}

func (s *Service) toPortal(d Document) PortalDocument {
	p := PortalDocument{ID: d.ID.String(), Type: string(d.Type), Status: string(d.Status), FileName: d.FileName,
		ContentType: d.ContentType, Size: d.Size, ExpiresOn: dateText(d.ExpiresOn), UploadedAt: d.UploadedAt}
	if d.Status == StatusRejected {
		p.Reason = s.reasonText(d.ReasonCode)
	}
	if d.Status == StatusMoreInfoRequested {
		p.Message = d.Message
	}
	return p
}

// reasonText is a rejection's reason in the client's words (kyc's list, through Options.ReasonText).
func (s *Service) reasonText(code string) string {
	if s.o.ReasonText != nil {
		if t := s.o.ReasonText(code); t != "" {
			return t
		}
	}
	if code == "" {
		return "The document was not accepted."
	}
	return "The document was not accepted (" + code + ")."
}

func dateText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.DateOnly)
}

// Routes registers the documents API on the tenant hosts' route table.
func Routes(api *web.API, s *Service, portal PortalClients) {
	api.Handle(web.Route{Method: fiber.MethodPost, Path: UploadAPIPath, Permission: PermPortal, Tag: "documents",
		Status: fiber.StatusCreated, Response: PortalDocument{},
		Summary: "Upload one of your KYC documents: the file is the raw request body (any Content-Type), streamed to " +
			"storage; query parameters type (passport, national_id, driving_licence, proof_of_address, selfie, " +
			"company_registration, company_articles, company_ownership), expires_on (YYYY-MM-DD, required for " +
			"passport, national_id, driving_licence) and filename. JPEG, PNG or PDF by content; 413 over the limit, " +
			"415 for other content, 422 for an empty or incomplete file",
		Handler: func(c *fiber.Ctx) error {
			t := tenants.Current(c)
			clientID, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > s.o.MaxBytes {
				return problemOf(ErrTooLarge, s.o.MaxBytes)
			}
			d, err := s.Upload(c.UserContext(), t, clientID, Upload{Type: Type(c.Query("type")),
				ExpiresOn: c.Query("expires_on"), FileName: c.Query("filename"), Body: web.RequestBody(c), Actor: identity.Actor(c)})
			if err != nil {
				return problemOf(err, s.o.MaxBytes)
			}
			c.Location(UploadAPIPath + "/" + d.ID.String())
			return c.Status(fiber.StatusCreated).JSON(s.toPortal(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: UploadAPIPath, Permission: PermPortal, Tag: "documents",
		Summary: "Your KYC documents, newest first, each with its status (and the reason when rejected)", Response: PortalList{},
		Handler: func(c *fiber.Ctx) error {
			clientID, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			docs, err := s.ClientDocuments(c.UserContext(), tenants.Current(c), clientID)
			if err != nil {
				return err
			}
			out := PortalList{Documents: []PortalDocument{}}
			for _, d := range docs {
				if d.ErasedAt == nil {
					out.Documents = append(out.Documents, s.toPortal(d))
				}
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: UploadAPIPath + "/:id/link", Permission: PermPortal, Tag: "documents",
		Summary: "A signed link (at most 5 minutes) to one of your documents' file; audited", Response: LinkResponse{},
		Handler: func(c *fiber.Ctx) error {
			clientID, err := portalClient(c, portal)
			if err != nil {
				return err
			}
			return s.linkResponse(c, &clientID)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/documents/:id", Permission: PermView, Tag: "documents",
		Summary:  "A document's record: type, status, detected content type, size, SHA-256, other clients with the same file, expiry, review outcome",
		Response: DocumentResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such document.")
			}
			d, err := s.Get(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return problemOf(err, s.o.MaxBytes)
			}
			return c.JSON(ToResponse(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/documents/:id/link", Permission: PermView, Tag: "documents",
		Summary: "A signed link (at most 5 minutes) to a document's file; every link is audited (document.viewed)", Response: LinkResponse{},
		Handler: func(c *fiber.Ctx) error { return s.linkResponse(c, nil) }})
	settingsRoutes(api, s)
}

// SettingsBody is the tenant's document rules in the API.
type SettingsBody struct {
	// ExpiryNoticeDays: approved documents expiring within this many days are flagged and their client asked for
	// a new one (1 to 365).
	ExpiryNoticeDays int `json:"expiry_notice_days"`
}

// Example is the rules' body for the OpenAPI document.
func (SettingsBody) Example() any { return SettingsBody(DefaultSettings()) }

// settingsRoutes registers the tenant's document rules (the expiry job's notice period).
func settingsRoutes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/documents", Permission: identity.PermSettingsManage,
		Tag: "documents", Summary: "The brokerage's document rules: the expiry notice period in days", Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(SettingsBody(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/documents", Permission: identity.PermSettingsManage,
		Tag: "documents", Summary: "Change the brokerage's document rules (audited)", Request: SettingsBody{}, Response: SettingsBody{},
		Handler: func(c *fiber.Ctx) error {
			var body SettingsBody
			if err := web.Bind(c, &body); err != nil {
				return err
			}
			if err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), Settings(body)); err != nil {
				return problemOf(err, s.o.MaxBytes)
			}
			return c.JSON(body)
		}})
}

func (s *Service) linkResponse(c *fiber.Ctx, owner *uuid.UUID) error {
	l, err := s.viewOf(c, owner)
	if err != nil {
		return err
	}
	return c.JSON(LinkResponse{URL: l.url, ExpiresAt: l.expires})
}

// viewOf mints (and audits) a signed link to the document the request's :id names, for owner's documents only
// when owner is set; the answer carrying it must not be cached.
func (s *Service) viewOf(c *fiber.Ctx, owner *uuid.UUID) (link, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return link{}, web.NotFound("No such document.")
	}
	l, err := s.view(c.UserContext(), tenants.Current(c), id, owner, identity.Actor(c))
	if err != nil {
		return link{}, problemOf(err, s.o.MaxBytes)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return l, nil
}

// portalClient is the signed-in trader's client id.
func portalClient(c *fiber.Ctx, portal PortalClients) (uuid.UUID, error) {
	p, ok := identity.PrincipalOf(c)
	if !ok || p.Kind != identity.Portal {
		return uuid.Nil, web.NewProblem(fiber.StatusForbidden, "forbidden", "Sign in to the client portal.")
	}
	id, err := portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return uuid.Nil, web.NewProblem(fiber.StatusForbidden, "no-client", "This login has no client record, so it cannot hold documents.")
	}
	return id, err
}

// problemOf maps the package's errors to problems; anything else passes through (and becomes a plain 500).
func problemOf(err error, max int64) error {
	var na *NotAllowedError
	var re *ReadError
	switch {
	case isInvalid(err):
		// As a problem here (not left to the error handler): the upload page shows its fields beside the form.
		v, _ := validation.As(err)
		return web.Invalid("The request has invalid fields.", v.Fields...)
	case errors.Is(err, ErrTooLarge):
		p := web.NewProblem(fiber.StatusRequestEntityTooLarge, "file-too-large",
			fmt.Sprintf("The file is larger than the %s limit. Upload a smaller scan or photo.", mib(max)))
		p.Errors = []web.FieldError{{Field: "file", Message: "at most " + mib(max)}}
		return p
	case errors.Is(err, ErrUnsupported):
		p := web.NewProblem(fiber.StatusUnsupportedMediaType, "file-type",
			"Only JPEG, PNG and PDF files are accepted. The type is read from the file's content, whatever its name says.")
		p.Errors = []web.FieldError{{Field: "file", Message: "must be a JPEG, PNG or PDF file"}}
		return p
	case errors.Is(err, ErrEmpty):
		return web.Invalid("The file is empty.", web.FieldError{Field: "file", Message: "the file is empty"})
	case errors.Is(err, ErrIncomplete):
		return web.Invalid("The file is incomplete or damaged: it does not end as a complete JPEG, PNG or PDF does. Upload it again.",
			web.FieldError{Field: "file", Message: "incomplete or damaged file"})
	case errors.As(err, &na):
		return web.NewProblem(fiber.StatusForbidden, "upload-not-allowed",
			fmt.Sprintf("Documents cannot be uploaded while the account is %s.", na.Status.Label()))
	case errors.As(err, &re):
		return web.NewProblem(fiber.StatusBadRequest, "upload-interrupted", "The upload was interrupted or malformed. Try again.")
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrClientNotFound):
		return web.NotFound("No such document.")
	case errors.Is(err, ErrNotDecidable):
		return web.NewProblem(fiber.StatusConflict, "not-decidable", "This document is not waiting for a decision.")
	}
	return err
}

func isInvalid(err error) bool { _, ok := validation.As(err); return ok }

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// link is a signed link and when it stops working.
type link struct {
	url     string
	expires time.Time
}

// viewPath is the page that opens a document (303 to a fresh signed link).
func viewPath(prefix string, id uuid.UUID) string {
	return prefix + "/documents/" + url.PathEscape(id.String()) + "/view"
}
