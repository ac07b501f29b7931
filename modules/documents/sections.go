package documents

import (
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The client page's "Documents" tab (the shell's client hub): every document the client uploaded, newest first,
// with its review status, the reason in the review's words (the words the client was sent), its expiry, the
// duplicate flag, and a viewer link for those who review documents.

type hubDocument struct {
	Type, Status, File, Uploaded, Expires, Reason, ViewHref string
	Tone                                                    web.Tone
	Duplicate, Erased                                       bool
}

type hubDocuments struct {
	Documents []hubDocument
	CanView   bool
}

// documentTone colours a document's review status.
func documentTone(s Status) web.Tone {
	switch s {
	case StatusApproved:
		return web.ToneGood
	case StatusPendingReview, StatusMoreInfoRequested:
		return web.ToneWarn
	case StatusRejected, StatusExpired:
		return web.ToneBad
	}
	return web.ToneNeutral
}

// reasonOf is what a decided document says of its decision, in the words the client was given.
func (s *Service) reasonOf(d Document) string {
	switch {
	case d.Status == StatusRejected && d.Message != "":
		return d.Message // the review stores its reason's words with the officer's note
	case d.Status == StatusRejected:
		return s.reasonText(d.ReasonCode)
	case d.Status == StatusMoreInfoRequested:
		return d.Message
	}
	return ""
}

func (s *Service) documentsTab(shell *web.Shell) func(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	return func(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
		v, _, err := shell.Viewer(c)
		if err != nil {
			return "", err
		}
		docs, err := s.ClientDocuments(c.UserContext(), tenants.Current(c), client)
		if err != nil {
			return "", err
		}
		d := hubDocuments{CanView: v.Can(PermView)}
		for _, doc := range docs {
			r := hubDocument{Type: doc.Type.Label(), Status: doc.Status.Label(), Tone: documentTone(doc.Status), File: doc.FileName,
				Uploaded: doc.UploadedAt.UTC().Format("2006-01-02 15:04"), Reason: strings.TrimSpace(s.reasonOf(doc)),
				Duplicate: doc.Flagged(), Erased: doc.ErasedAt != nil, ViewHref: viewPath("/backoffice", doc.ID)}
			if doc.ExpiresOn != nil {
				r.Expires = doc.ExpiresOn.Format(time.DateOnly)
			}
			d.Documents = append(d.Documents, r)
		}
		return shell.Fragment(c, "documents_hub", d)
	}
}

// mountSections adds the documents tab to the client page.
func (s *Service) mountSections(shell *web.Shell) {
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "documents", Label: "Documents", Order: 20,
		Hint: "The client's KYC documents and their review", Render: s.documentsTab(shell)})
}
