package payments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// A manual deposit's evidence: the bank statement or advice finance uploads with it (RecordManual), so the second
// approver reads it before approving. The file is checked by its bytes (PDF, PNG or JPEG, complete; package
// content, the one the KYC documents use), stored in the blob store under the client's prefix before the deposit's
// transaction, and deleted again if that transaction fails. It is read through a short signed link, each one
// audited (EvidenceURL), never a permanent address.

// Store is the blob store as this module uses it (*blob.S3 and *blob.Disk are ones).
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	Delete(ctx context.Context, key string) error
	SignedURL(ctx context.Context, key string, ttl time.Duration, filename string) (string, error)
}

// MaxEvidenceBytes is the largest evidence file accepted: a bank statement's scan or a photo of an advice.
const MaxEvidenceBytes = 10 << 20

// Evidence is the file given with a manual deposit.
type Evidence struct {
	// FileName is the name it was uploaded under: shown and used as the download's name, never to decide anything.
	FileName string
	// Content holds Size bytes (a multipart.File, a bytes.Reader): read twice, to check it and to store it.
	Content io.ReaderAt
	Size    int64
}

// Errors of an evidence file; the HTTP layer maps them to problems naming the evidence field.
var (
	ErrEvidenceTooLarge   = errors.New("payments: evidence file larger than the limit")
	ErrEvidenceEmpty      = errors.New("payments: empty evidence file")
	ErrEvidenceType       = errors.New("payments: evidence file is not a PDF, PNG or JPEG")
	ErrEvidenceIncomplete = errors.New("payments: evidence file incomplete or damaged")
	// ErrNoEvidence: the deposit has no evidence file to show.
	ErrNoEvidence = errors.New("payments: the deposit has no evidence file")
)

// EvidenceType reads an evidence file's content type from its bytes, whatever its name or declared type: a PDF,
// PNG or JPEG that ends as one (a truncated file, or a renamed executable or web page, is refused), of at most
// MaxEvidenceBytes.
func EvidenceType(r io.ReaderAt, size int64) (string, error) {
	switch {
	case size <= 0:
		return "", ErrEvidenceEmpty
	case size > MaxEvidenceBytes:
		return "", ErrEvidenceTooLarge
	}
	head := make([]byte, content.SniffLen)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("payments: read evidence: %w", err)
	}
	ct := content.Detect(head[:n])
	if ct == "" {
		return "", ErrEvidenceType
	}
	chk := content.NewChecker(ct)
	if _, err := io.Copy(chk, io.NewSectionReader(r, 0, size)); err != nil {
		return "", fmt.Errorf("payments: read evidence: %w", err)
	}
	if !chk.Complete() {
		return "", ErrEvidenceIncomplete
	}
	return ct, nil
}

// evidenceMessage is what an evidence error says beside the form's evidence field.
func evidenceMessage(err error) string {
	switch {
	case errors.Is(err, ErrEvidenceTooLarge):
		return "at most " + mib(MaxEvidenceBytes)
	case errors.Is(err, ErrEvidenceEmpty):
		return "the file is empty"
	case errors.Is(err, ErrEvidenceType):
		return "must be a PDF, PNG or JPEG file (read from its content, whatever its name says)"
	case errors.Is(err, ErrEvidenceIncomplete):
		return "the file is incomplete or damaged: it does not end as a PDF, PNG or JPEG does"
	}
	return "could not be read"
}

// mib writes a size limit in MiB ("10 MiB").
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

// evidenceKey is where a deposit's evidence lives: under its client's prefix, "<tenant id>/clients/<client id>/",
// the one every file of a client shares (docs/documents.md, "Key layout"), so erasing the client deletes it too.
func evidenceKey(t tenants.Tenant, client, deposit uuid.UUID) string {
	return t.ID.String() + "/clients/" + client.String() + "/deposits/" + deposit.String() + "/evidence"
}

// EvidenceLabel is an evidence content type as a person reads it.
func EvidenceLabel(contentType string) string {
	switch contentType {
	case content.PDF:
		return "PDF document"
	case content.PNG:
		return "PNG image"
	case content.JPEG:
		return "JPEG image"
	}
	return contentType
}

// storedEvidence is a checked evidence file on its way to the store and the deposit's row.
type storedEvidence struct {
	key, name, contentType string
	size                   int64
}

// putEvidence stores a checked evidence file of the deposit id of client; a failed write leaves nothing behind.
func (s *Service) putEvidence(ctx context.Context, t tenants.Tenant, client, id uuid.UUID, ev *Evidence, ct string) (storedEvidence, error) {
	se := storedEvidence{key: evidenceKey(t, client, id), name: content.Name(ev.FileName, "bank-statement", ct), contentType: ct, size: ev.Size}
	n, err := s.o.Store.Put(ctx, se.key, io.NewSectionReader(ev.Content, 0, ev.Size), ct)
	if err == nil && n != ev.Size {
		err = fmt.Errorf("stored %d of %d bytes", n, ev.Size)
	}
	if err != nil {
		s.discardEvidence(ctx, se.key)
		return storedEvidence{}, fmt.Errorf("payments: store evidence: %w", err)
	}
	return se, nil
}

// discardUnrecorded deletes the evidence of deposit id after its transaction failed, once the deposit is known not
// to exist: a failure can come after the commit reached the database (the connection lost while COMMIT was
// answered), and the file of a recorded deposit must stay. When that cannot be known, the file stays, logged.
func (s *Service) discardUnrecorded(ctx context.Context, t tenants.Tenant, id uuid.UUID, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var recorded bool
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deposits WHERE id = $1)`, id).Scan(&recorded)
	})
	switch {
	case err != nil:
		s.o.Log.ErrorContext(ctx, "evidence kept: whether its deposit was recorded is unknown", "key", key, "deposit", id, "err", err)
	case !recorded:
		s.discardEvidence(ctx, key)
	}
}

// discardEvidence deletes the evidence of a deposit that was not recorded, even when the request's context has
// ended. The log names the key, never the content.
func (s *Service) discardEvidence(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.o.Store.Delete(ctx, key); err != nil {
		s.o.Log.ErrorContext(ctx, "evidence of an unrecorded deposit not deleted from the blob store", "key", key, "err", err)
	}
}

// EvidenceLink is a short-lived signed link to a deposit's evidence file.
type EvidenceLink struct {
	URL       string
	ExpiresAt time.Time
}

// EvidenceURL returns a signed link to the evidence of deposit id, valid for blob.MaxLinkTTL (5 minutes), shown
// inline under its uploaded name and not to be cached. The view is audited (ActionEvidenceViewed) in the
// transaction that reads the deposit, so no link exists without its audit row. A deposit without evidence, or
// whose key is not under this tenant's prefix, is ErrNoEvidence: a link is only ever signed for the tenant whose
// host asked. Whether the viewer may see the deposit at all is the caller's to check first.
func (s *Service) EvidenceURL(ctx context.Context, t tenants.Tenant, id uuid.UUID, actor audit.Actor) (EvidenceLink, error) {
	var l EvidenceLink
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		d, err := depositTx(ctx, tx, `d.id = $1`, id)
		if err != nil {
			return err
		}
		if d.EvidenceKey == "" {
			return ErrNoEvidence
		}
		if blob.TenantOf(d.EvidenceKey) != t.ID.String() || blob.ValidKey(d.EvidenceKey) != nil {
			s.o.Log.ErrorContext(ctx, "a deposit's evidence key is not under its tenant's prefix", "deposit", id)
			return ErrNoEvidence
		}
		l.ExpiresAt = s.o.Now().Add(blob.MaxLinkTTL).UTC()
		if l.URL, err = s.o.Store.SignedURL(ctx, d.EvidenceKey, blob.MaxLinkTTL, d.EvidenceName); err != nil {
			return fmt.Errorf("payments: sign a link to the evidence of %s: %w", id, err)
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionEvidenceViewed, Target: depositTarget(id),
			After: map[string]any{"client_id": d.ClientID, "content_type": d.EvidenceType, "size": d.EvidenceSize,
				"link_ttl_seconds": int(blob.MaxLinkTTL.Seconds())}})
	})
	return l, err
}
