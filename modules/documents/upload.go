package documents

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Upload is one file to store for a client.
type Upload struct {
	Type      Type
	ExpiresOn string // YYYY-MM-DD; required for types with an expiry (Type.HasExpiry), refused for the others
	FileName  string // as the client named it; only shown
	Body      io.Reader
	Actor     audit.Actor
}

// MayUpload reports whether a client in status st may upload documents: from email verification on, unless
// suspended or closed (a client asked for more information, or rejected, uploads again).
func MayUpload(st clients.Status) bool {
	switch st {
	case clients.StatusRegistered, clients.StatusSuspended, clients.StatusClosed:
		return false
	}
	return st.Valid()
}

// ReadError is a failure to read the upload itself (the client went away, or sent a malformed body); the HTTP
// layer answers it with a 400, not a 500.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "documents: reading the upload: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Upload stores a client's document: the fields are checked, then the client's status, then the body is streamed
// to the blob store while it is counted against the limit, hashed (SHA-256) and its structure followed
// (package content). A file that is empty, over the limit, of another type, or incomplete is refused, and nothing
// of it remains in the store or the database. Only then, in one transaction: the duplicate flag (the same SHA-256
// used by another client of the tenant, kept on both sides), earlier undecided documents of the same type
// superseded, the row, the document.uploaded event (the review opens its case) and the audit entry (metadata only). If that transaction
// fails, the stored file is deleted.
func (s *Service) Upload(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, u Upload) (Document, error) {
	expires, err := s.checkFields(u)
	if err != nil {
		return Document{}, err
	}
	err = s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.uploader(ctx, tx, clientID)
		return err
	})
	if err != nil {
		return Document{}, err
	}

	// The first bytes decide the type; nothing is stored for an empty file or one of another type.
	head := make([]byte, content.SniffLen)
	n, err := io.ReadFull(u.Body, head)
	switch {
	case n == 0 && (err == nil || errors.Is(err, io.EOF)):
		return Document{}, ErrEmpty
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return Document{}, &ReadError{err}
	}
	head = head[:n]
	ct := content.Detect(head)
	if ct == "" {
		return Document{}, ErrUnsupported
	}

	d := Document{ID: uuid.New(), ClientID: clientID, Type: u.Type, Status: StatusPendingReview,
		FileName: content.Name(u.FileName, "document", ct), ContentType: ct, ExpiresOn: expires,
		UploadedBy: string(u.Actor.Kind) + ":" + u.Actor.ID}
	d.BlobKey = BlobKey(t, clientID, d.ID)
	h := sha256.New()
	chk := content.NewChecker(ct)
	src := &limitReader{r: io.MultiReader(bytes.NewReader(head), u.Body), left: s.o.MaxBytes}
	size, err := s.o.Store.Put(ctx, d.BlobKey, io.TeeReader(src, io.MultiWriter(h, chk)), ct)
	if err != nil {
		s.discard(ctx, d.BlobKey)
		var re *ReadError
		switch {
		case errors.Is(err, ErrTooLarge):
			return Document{}, ErrTooLarge
		case errors.As(err, &re):
			return Document{}, re
		}
		return Document{}, fmt.Errorf("documents: store: %w", err)
	}
	if !chk.Complete() {
		s.discard(ctx, d.BlobKey)
		return Document{}, ErrIncomplete
	}
	d.Size, d.SHA256 = size, hex.EncodeToString(h.Sum(nil))
	d.UploadedAt = s.o.Now().UTC().Truncate(time.Microsecond)

	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.uploader(ctx, tx, clientID); err != nil {
			return err
		}
		return s.insertTx(ctx, tx, t, &d, u.Actor)
	})
	if err != nil {
		s.discard(ctx, d.BlobKey)
		return Document{}, err
	}
	return d, nil
}

// uploader reads the client and refuses one whose status does not allow uploads.
func (s *Service) uploader(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) (clients.Client, error) {
	if s.o.Clients == nil {
		return clients.Client{}, errors.New("documents: no clients service wired")
	}
	c, err := s.o.Clients.GetTx(ctx, tx, clientID)
	if errors.Is(err, clients.ErrNotFound) {
		return c, ErrClientNotFound
	}
	if err != nil {
		return c, err
	}
	if !MayUpload(c.Status) {
		return c, &NotAllowedError{Status: c.Status}
	}
	return c, nil
}

// insertTx writes a stored, checked document: duplicate flag, supersession, row, event, audit.
func (s *Service) insertTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, d *Document, actor audit.Actor) error {
	sum, err := hex.DecodeString(d.SHA256)
	if err != nil {
		return err
	}
	// Two clients uploading the same file at once must each see the other: serialise uploads of one hash.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(binary.BigEndian.Uint64(sum[:8]))); err != nil {
		return fmt.Errorf("documents: lock hash: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT client_id FROM documents WHERE sha256 = $1 AND client_id <> $2 ORDER BY client_id`,
		sum, d.ClientID)
	if err != nil {
		return fmt.Errorf("documents: duplicate check: %w", err)
	}
	d.DuplicateClients, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("documents: duplicate check: %w", err)
	}
	if len(d.DuplicateClients) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE documents SET duplicate_clients = array_append(duplicate_clients, $2)
			WHERE sha256 = $1 AND client_id <> $2 AND NOT ($2 = ANY (duplicate_clients))`, sum, d.ClientID); err != nil {
			return fmt.Errorf("documents: flag duplicates: %w", err)
		}
	}
	// The newest upload is the one to review: earlier undecided ones of the same type are replaced.
	superseded, err := s.supersedeTx(ctx, tx, d.ClientID, d.Type, []Status{StatusPendingReview, StatusMoreInfoRequested}, d.ID, actor)
	if err != nil {
		return err
	}
	if d.DuplicateClients == nil {
		d.DuplicateClients = []uuid.UUID{}
	}
	_, err = tx.Exec(ctx, `INSERT INTO documents (id, client_id, type, status, file_name, content_type, size, sha256,
		duplicate_clients, expires_on, uploaded_at, uploaded_by, blob_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		d.ID, d.ClientID, string(d.Type), string(d.Status), d.FileName, d.ContentType, d.Size, sum, d.DuplicateClients,
		d.ExpiresOn, d.UploadedAt, d.UploadedBy, d.BlobKey)
	if err != nil {
		return fmt.Errorf("documents: insert: %w", err)
	}
	if err := s.o.Events.Publish(ctx, tx, t, Uploaded{DocumentID: d.ID, ClientID: d.ClientID, Type: d.Type, Superseded: superseded}); err != nil {
		return fmt.Errorf("documents: announce upload: %w", err)
	}
	after := d.audited()
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionUploaded, Target: target(d.ID),
		After: struct {
			auditView
			FileName string `json:"file_name"`
		}{after, d.FileName}})
}

// discard deletes a refused upload's object, even when the request's context has ended.
func (s *Service) discard(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.o.Store.Delete(ctx, key); err != nil {
		s.o.Log.ErrorContext(ctx, "refused upload not deleted from the blob store", "key", key, "err", err)
	}
}

// checkFields validates an upload's fields before any byte of the body is read.
func (s *Service) checkFields(u Upload) (*time.Time, error) {
	var bad validation.Fields
	var expires *time.Time
	if !u.Type.Valid() {
		bad.Add("type", "choose one of: "+typeList())
	}
	raw := strings.TrimSpace(u.ExpiresOn)
	switch {
	case u.Type.Valid() && u.Type.HasExpiry() && raw == "":
		bad.Add("expires_on", "this document's expiry date is required (YYYY-MM-DD)")
	case u.Type.Valid() && !u.Type.HasExpiry() && raw != "":
		bad.Add("expires_on", "this type of document has no expiry date; leave it empty")
	case raw != "":
		e, err := time.Parse(time.DateOnly, raw)
		switch {
		case err != nil:
			bad.Add("expires_on", "a date as YYYY-MM-DD")
		case !e.After(dateOf(s.o.Now())):
			bad.Add("expires_on", "this document has expired; upload one that is still valid")
		case e.Year() > 2200:
			bad.Add("expires_on", "not a plausible expiry date")
		default:
			expires = &e
		}
	}
	if utf8.RuneCountInString(u.FileName) > 1000 {
		bad.Add("filename", "at most 1000 characters")
	} else {
		bad.Name("filename", u.FileName, 0) // shown to staff: one line, nothing invisible (a U+202E would fake the extension)
	}
	if u.Body == nil {
		bad.Add("file", "no file was sent")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	return expires, nil
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// limitReader passes at most left bytes and fails with ErrTooLarge on the first byte beyond; a failure of the
// underlying reader becomes a ReadError.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, &ReadError{err}
	}
	return n, err
}
