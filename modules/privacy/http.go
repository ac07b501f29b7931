package privacy

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are the privacy page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// StatusResponse is a client's data-protection status in the API.
type StatusResponse struct {
	ClientID    string            `json:"client_id"`
	MayErase    bool              `json:"may_erase"`
	Erased      bool              `json:"erased"`
	Basis       string            `json:"basis"`
	RetainUntil string            `json:"retain_until,omitempty"` // YYYY-MM-DD
	Requests    []RequestResponse `json:"requests"`
}

// RequestResponse is one past export or erasure request.
type RequestResponse struct {
	Kind        string    `json:"kind"`
	Outcome     string    `json:"outcome"`
	Basis       string    `json:"basis,omitempty"`
	RetainUntil string    `json:"retain_until,omitempty"`
	Actor       string    `json:"actor"`
	At          time.Time `json:"at"`
}

// ErasureResponse is the answer to an erasure that was carried out.
type ErasureResponse struct {
	ClientID string `json:"client_id"`
	Erased   bool   `json:"erased"`
}

// SettingsRequest is the tenant's data-protection settings in the API.
type SettingsRequest struct {
	RetentionYears int `json:"aml_retention_years"`
}

func (r *SettingsRequest) Validate(f *web.Fields) {
	f.Check(r.RetentionYears >= 1 && r.RetentionYears <= 30, "aml_retention_years", "must be a whole number of years from 1 to 30")
}

// Example is the settings' body for the OpenAPI document: the defaults.
func (SettingsRequest) Example() any { return SettingsRequest(DefaultSettings()) }

func date(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func toStatusResponse(st Status) StatusResponse {
	out := StatusResponse{ClientID: st.Client.ID.String(), MayErase: st.Assessment.Allowed && !st.Assessment.Erased,
		Erased: st.Assessment.Erased, Basis: st.Assessment.Basis, RetainUntil: date(st.Assessment.Until), Requests: []RequestResponse{}}
	for _, q := range st.Requests {
		out.Requests = append(out.Requests, RequestResponse{Kind: q.Kind, Outcome: q.Outcome, Basis: q.Basis,
			RetainUntil: date(q.RetainUntil), Actor: string(q.Actor.Kind) + ":" + q.Actor.ID, At: q.At})
	}
	return out
}

func clientID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return uuid.Nil, web.NotFound("No such client.")
	}
	return id, nil
}

// problemOf maps the service's errors to what a caller may see.
func problemOf(err error) error {
	var refused *RefusedError
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such client.")
	case errors.As(err, &refused):
		return web.NewProblem(fiber.StatusConflict, "retention", refused.Basis)
	}
	return err
}

// exportHandler records the export of the client named in the path and streams the zip (the API route and the
// page's form are the same action).
func exportHandler(s *Service, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := clientID(c)
		if err != nil {
			return err
		}
		x, err := s.BeginExport(c.UserContext(), tenants.Current(c), id, identity.Actor(c))
		if err != nil {
			return problemOf(err)
		}
		streamExport(c, x, log)
		return nil
	}
}

// streamExport sends the archive as the response body, written after the handler returns: the export is already
// recorded, so a client that is not the tenant's got its 404 before any byte.
func streamExport(c *fiber.Ctx, x *Export, log *slog.Logger) {
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+x.FileName()+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := x.WriteTo(ctx, w); err != nil {
			log.Error("privacy: writing an export failed", "client_id", x.clientID, "err", err)
			return
		}
		_ = w.Flush()
	})
}

// Routes registers the privacy API.
func Routes(api *web.API, s *Service, log *slog.Logger) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/privacy", Permission: identity.PermPrivacyManage, Tag: "privacy",
		Summary:  "A client's data-protection status: whether erasure is allowed now (and the legal basis if not), and past requests",
		Response: StatusResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := clientID(c)
			if err != nil {
				return err
			}
			st, err := s.ClientStatus(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return problemOf(err)
			}
			return c.JSON(toStatusResponse(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/export", Permission: identity.PermPrivacyManage, Tag: "privacy",
		Summary: "Export everything held about a client as a zip (client.json, logins.json, documents/, activity.json); audited",
		Handler: exportHandler(s, log)})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/clients/:id/erasure", Permission: identity.PermPrivacyManage, Tag: "privacy",
		Idempotent: true, Response: ErasureResponse{},
		Summary: "Erase a client's personal data; 409 with the legal basis while anti-money-laundering retention applies",
		Handler: func(c *fiber.Ctx) error {
			id, err := clientID(c)
			if err != nil {
				return err
			}
			if _, err := s.Erase(c.UserContext(), tenants.Current(c), id, identity.Actor(c)); err != nil {
				return problemOf(err)
			}
			return c.JSON(ErasureResponse{ClientID: id.String(), Erased: true})
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/privacy", Permission: identity.PermSettingsManage, Tag: "privacy",
		Summary: "The brokerage's data-protection settings", Response: SettingsRequest{},
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(SettingsRequest(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/privacy", Permission: identity.PermSettingsManage, Tag: "privacy",
		Summary: "Change the brokerage's data-protection settings (AML retention after the relationship ends)",
		Request: SettingsRequest{}, Response: SettingsRequest{},
		Handler: func(c *fiber.Ctx) error {
			var r SettingsRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			if err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), Settings(r)); err != nil {
				return err
			}
			return c.JSON(r)
		}})
}

// PagePath is a client's data-protection page in the back office.
func PagePath(id uuid.UUID) string { return "/backoffice/clients/" + id.String() + "/privacy" }

type pageData struct {
	Status              Status
	CSRF, Notice, Error string
	Until               string
	Requests            []RequestResponse
}

var notices = map[string]string{"erased": "The client's personal data is erased; the files are being deleted."}

// MountPages adds the client's data-protection page (status, export, erasure) to the back office.
func MountPages(shell *web.Shell, s *Service, log *slog.Logger) {
	render := func(c *fiber.Ctx, status int, id uuid.UUID, notice, problem string) error {
		st, err := s.ClientStatus(c.UserContext(), tenants.Current(c), id)
		if err != nil {
			return problemOf(err)
		}
		d := pageData{Status: st, CSRF: shell.CSRF(c), Notice: notice, Error: problem, Until: date(st.Assessment.Until),
			Requests: toStatusResponse(st).Requests}
		return shell.Render(c, status, "privacy_client", "Data protection: "+st.Client.Name(), d)
	}
	path := "/backoffice/clients/:id/privacy"
	shell.Page(fiber.MethodGet, path, identity.PermPrivacyManage, func(c *fiber.Ctx) error {
		id, err := clientID(c)
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, id, notices[c.Query("notice")], "")
	})
	shell.Post(path+"/export", identity.PermPrivacyManage, exportHandler(s, log))
	shell.Post(path+"/erase", identity.PermPrivacyManage, func(c *fiber.Ctx) error {
		id, err := clientID(c)
		if err != nil {
			return err
		}
		if strings.TrimSpace(c.FormValue("confirm")) != "ERASE" {
			return render(c, fiber.StatusUnprocessableEntity, id, "", "Type ERASE to confirm: erasure cannot be undone.")
		}
		_, err = s.Erase(c.UserContext(), tenants.Current(c), id, identity.Actor(c))
		var refused *RefusedError
		if errors.As(err, &refused) {
			return render(c, fiber.StatusConflict, id, "", "Erasure refused: "+refused.Basis)
		}
		if err != nil {
			return problemOf(err)
		}
		return c.Redirect(PagePath(id)+"?notice=erased", fiber.StatusSeeOther)
	})
}
