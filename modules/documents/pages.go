package documents

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are the module's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// MountPages adds the trader's documents page (list with status and reasons, and the upload form), the trader's
// and staff's document viewers (303 to a fresh signed link, audited) to the tenant hosts' page shell, and the
// client page's Documents tab (sections.go).
func MountPages(shell *web.Shell, s *Service, portal PortalClients) {
	shell.Nav(web.NavEntry{Group: web.GroupPortal, Label: "Documents", Href: UploadPagePath, Permission: PermPortal, Order: 30})
	shell.Page(fiber.MethodGet, UploadPagePath, PermPortal, func(c *fiber.Ctx) error {
		clientID, err := portalClient(c, portal)
		if err != nil {
			return err
		}
		return s.renderPortal(c, shell, clientID, fiber.StatusOK, portalForm{Notice: notices[c.Query("notice")]})
	})
	// A streamed form: registered with Page, not Post (which would read the whole form to check the CSRF field);
	// the handler checks the csrf field, which the form sends first, before it reads the file.
	shell.Page(fiber.MethodPost, UploadPagePath, PermPortal, func(c *fiber.Ctx) error {
		clientID, err := portalClient(c, portal)
		if err != nil {
			return err
		}
		return s.pageUpload(c, shell, clientID)
	})
	shell.Page(fiber.MethodGet, UploadPagePath+"/:id/view", PermPortal, func(c *fiber.Ctx) error {
		clientID, err := portalClient(c, portal)
		if err != nil {
			return err
		}
		return s.redirectToFile(c, &clientID)
	})
	shell.Page(fiber.MethodGet, "/backoffice/documents/:id/view", PermView, func(c *fiber.Ctx) error {
		return s.redirectToFile(c, nil)
	})
	s.mountSections(shell)
}

var notices = map[string]string{
	"uploaded": "Thank you: your document is uploaded and waiting for review.",
}

func (s *Service) redirectToFile(c *fiber.Ctx, owner *uuid.UUID) error {
	l, err := s.viewOf(c, owner)
	if err != nil {
		return err
	}
	return c.Redirect(l.url, fiber.StatusSeeOther)
}

// portalForm is what the upload form shows again after a refusal, with the problem.
type portalForm struct {
	Notice, Error   string
	Problems        []string
	Type, ExpiresOn string
}

type portalRow struct {
	ID, TypeLabel, FileName, Size, ExpiresOn, UploadedAt, Status, StatusLabel, Reason, Message, ViewHref string
}

type typeOption struct {
	Value, Label string
	Selected     bool
}

type portalPage struct {
	portalForm
	CSRF, Action, MaxSize, Blocked string
	MayUpload                      bool
	Documents                      []portalRow
	Types                          []typeOption
}

func (s *Service) renderPortal(c *fiber.Ctx, shell *web.Shell, clientID uuid.UUID, status int, f portalForm) error {
	var cl clients.Client
	var docs []Document
	err := s.o.Gate.ScopeWith(c.UserContext(), tenants.Current(c), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if cl, err = s.o.Clients.GetTx(ctx, tx, clientID); err != nil {
			return err
		}
		docs, err = s.ClientDocumentsTx(ctx, tx, clientID)
		return err
	})
	if err != nil {
		return err
	}
	p := portalPage{portalForm: f, CSRF: shell.CSRF(c), Action: UploadPagePath, MaxSize: mib(s.o.MaxBytes), MayUpload: MayUpload(cl.Status)}
	if !p.MayUpload {
		p.Blocked = fmt.Sprintf("Documents cannot be uploaded while your account is: %s.", cl.Status.Label())
	}
	for _, t := range Types {
		p.Types = append(p.Types, typeOption{Value: string(t), Label: t.Label(), Selected: string(t) == f.Type})
	}
	for _, d := range docs {
		if d.ErasedAt != nil {
			continue
		}
		pd := s.toPortal(d)
		p.Documents = append(p.Documents, portalRow{ID: pd.ID, TypeLabel: d.Type.Label(), FileName: d.FileName,
			Size: content.Size(d.Size), ExpiresOn: pd.ExpiresOn, UploadedAt: d.UploadedAt.UTC().Format("2 Jan 2006 15:04 UTC"),
			Status: pd.Status, StatusLabel: d.Status.Label(), Reason: pd.Reason, Message: pd.Message,
			ViewHref: viewPath("/portal", d.ID)})
	}
	return shell.Render(c, status, "documents_portal", "Your documents", p)
}

// formOverhead is what the upload form may add to the file's own size (boundaries, part headers, small fields).
const formOverhead = 64 << 10

// pageUpload reads the upload form as a stream, part by part in the order the form sends them: csrf (checked
// before anything else is read), type, expires_on, then the file, which goes to Upload as it arrives.
func (s *Service) pageUpload(c *fiber.Ctx, shell *web.Shell, clientID uuid.UUID) error {
	f := portalForm{}
	refuse := func(err error) error {
		var p *web.Problem
		if !errors.As(problemOf(err, s.o.MaxBytes), &p) {
			return err
		}
		f.Error = p.Detail
		for _, fe := range p.Errors {
			f.Problems = append(f.Problems, fieldLabel(fe.Field)+": "+fe.Message)
		}
		return s.renderPortal(c, shell, clientID, p.Status, f)
	}
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return web.NewProblem(fiber.StatusBadRequest, "form", "Send the upload form (multipart/form-data).")
	}
	mr := multipart.NewReader(web.RequestBody(c), params["boundary"])
	part, err := mr.NextPart()
	if err != nil || part.FormName() != web.CSRFField || !shell.ValidCSRF(c, smallValue(part)) {
		return web.NewProblem(fiber.StatusForbidden, "csrf", "The form has expired. Reload the page and try again.")
	}
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > s.o.MaxBytes+formOverhead {
		return refuse(ErrTooLarge)
	}
	for fields := 0; ; fields++ {
		part, err = mr.NextPart()
		if err != nil || fields > 8 {
			return refuse(&ReadError{errors.New("the form ended before its file")})
		}
		switch part.FormName() {
		case "type":
			f.Type = smallValue(part)
		case "expires_on":
			f.ExpiresOn = smallValue(part)
		case "file":
			_, err := s.Upload(c.UserContext(), tenants.Current(c), clientID, Upload{Type: Type(f.Type), ExpiresOn: f.ExpiresOn,
				FileName: part.FileName(), Body: part, Actor: identity.Actor(c)})
			if err != nil {
				return refuse(err)
			}
			return c.Redirect(UploadPagePath+"?notice=uploaded", fiber.StatusSeeOther)
		}
	}
}

// smallValue reads a short form field (at most 256 bytes are kept).
func smallValue(p *multipart.Part) string {
	b, _ := io.ReadAll(io.LimitReader(p, 256))
	return strings.TrimSpace(string(b))
}

func fieldLabel(f string) string {
	switch f {
	case "type":
		return "Document"
	case "expires_on":
		return "Expiry date"
	case "file", "filename":
		return "File"
	}
	return f
}
