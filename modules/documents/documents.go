// Package documents is the room for a client's KYC documents: the streamed upload from the portal (type detected
// from the content, SHA-256 computed while the file goes to the blob store, nothing kept of a refused file), the
// duplicate flag (the same file already used by another client), short signed links for viewing (every view
// audited), the review outcome the compliance review writes back (DecideTx), and expiry (a daily job per tenant).
//
// The review itself is modules/kyc's: every new document is announced in the upload's transaction as a
// document.uploaded event (events.go), which kyc subscribes to, so this package never imports kyc.
// docs/documents.md is the operator's and integrator's side.
package documents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Type is what a document is.
type Type string

const (
	TypePassport            Type = "passport"
	TypeNationalID          Type = "national_id"
	TypeDrivingLicence      Type = "driving_licence"
	TypeProofOfAddress      Type = "proof_of_address"
	TypeSelfie              Type = "selfie"
	TypeCompanyRegistration Type = "company_registration"
	TypeCompanyArticles     Type = "company_articles"
	TypeCompanyOwnership    Type = "company_ownership"
)

// Types lists every document type, in the order forms show them.
var Types = []Type{TypePassport, TypeNationalID, TypeDrivingLicence, TypeProofOfAddress, TypeSelfie,
	TypeCompanyRegistration, TypeCompanyArticles, TypeCompanyOwnership}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// HasExpiry reports whether documents of this type carry an expiry date (identity documents do; it is required
// at upload).
func (t Type) HasExpiry() bool {
	return t == TypePassport || t == TypeNationalID || t == TypeDrivingLicence
}

// Label is the type as a person reads it.
func (t Type) Label() string {
	switch t {
	case TypePassport:
		return "Passport"
	case TypeNationalID:
		return "National identity card"
	case TypeDrivingLicence:
		return "Driving licence"
	case TypeProofOfAddress:
		return "Proof of address"
	case TypeSelfie:
		return "Selfie"
	case TypeCompanyRegistration:
		return "Company registration"
	case TypeCompanyArticles:
		return "Articles of association"
	case TypeCompanyOwnership:
		return "Company ownership"
	}
	return string(t)
}

// Status is where a document is in review and life.
type Status string

const (
	StatusPendingReview     Status = "pending_review"
	StatusApproved          Status = "approved"
	StatusRejected          Status = "rejected"
	StatusMoreInfoRequested Status = "more_info_requested"
	StatusExpired           Status = "expired"
	// StatusSuperseded: the client uploaded a newer document of the same type before this one was decided, or
	// a newer one of the same type was approved.
	StatusSuperseded Status = "superseded"
)

// Label is the status as a client reads it.
func (s Status) Label() string {
	switch s {
	case StatusPendingReview:
		return "Waiting for review"
	case StatusApproved:
		return "Approved"
	case StatusRejected:
		return "Rejected"
	case StatusMoreInfoRequested:
		return "More information needed"
	case StatusExpired:
		return "Expired"
	case StatusSuperseded:
		return "Replaced by a newer upload"
	}
	return string(s)
}

// Document is one uploaded file's record.
type Document struct {
	ID, ClientID uuid.UUID
	Type         Type
	Status       Status
	FileName     string // as the client named it (shown, never used to decide anything)
	ContentType  string // detected from the content: image/jpeg, image/png or application/pdf
	Size         int64
	SHA256       string // hex; "" once erased
	// DuplicateClients are other clients of the tenant who uploaded a file with the same SHA-256.
	DuplicateClients []uuid.UUID
	ExpiresOn        *time.Time // a date (UTC midnight); nil for types without expiry
	ReasonCode       string     // set with a rejection (the code kyc maps to words the client sees)
	Message          string     // set with a request for more information
	UploadedAt       time.Time
	UploadedBy       string    // the audit actor, "client:<id>"
	ReviewedAt       time.Time // zero until decided
	ReviewedBy       string
	// ExpiringFlaggedAt is when the expiry job asked the client for a new one (nil: not yet).
	ExpiringFlaggedAt *time.Time
	ExpiredAt         *time.Time
	ErasedAt          *time.Time
	BlobKey           string
}

// Flagged reports whether the same file was uploaded by another client.
func (d Document) Flagged() bool { return len(d.DuplicateClients) > 0 }

// Clients is what uploads need of the clients module (*clients.Service): who the client is and their status.
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
}

// Store is the blob store as this module uses it (*blob.S3 and *blob.Disk are ones).
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
	SignedURL(ctx context.Context, key string, ttl time.Duration, filename string) (string, error)
	DeletePrefix(ctx context.Context, prefix string) error
}

// Audit actions.
const (
	ActionUploaded          = "document.uploaded"
	ActionViewed            = "document.viewed"
	ActionApproved          = "document.approved"
	ActionRejected          = "document.rejected"
	ActionMoreInfoRequested = "document.more_info_requested"
	ActionSuperseded        = "document.superseded"
	ActionExpiring          = "document.expiring_flagged"
	ActionExpired           = "document.expired"
	ActionSettings          = "documents.settings_changed"
)

// Errors callers branch on; the HTTP layer maps them (problem.go).
var (
	ErrNotFound = errors.New("documents: document not found")
	// ErrClientNotFound: the client does not exist (or is not this tenant's).
	ErrClientNotFound = errors.New("documents: client not found")
	// ErrTooLarge: the file is larger than the upload limit.
	ErrTooLarge = errors.New("documents: file larger than the upload limit")
	// ErrEmpty: the file has no bytes.
	ErrEmpty = errors.New("documents: empty file")
	// ErrUnsupported: the content is not a JPEG, PNG or PDF, whatever its name says.
	ErrUnsupported = errors.New("documents: not a JPEG, PNG or PDF")
	// ErrIncomplete: the content starts as a JPEG, PNG or PDF but does not end as one (truncated or damaged).
	ErrIncomplete = errors.New("documents: file incomplete or damaged")
	// ErrNotDecidable: DecideTx on a document that is not waiting for a decision, or with a status that is not a
	// decision.
	ErrNotDecidable = errors.New("documents: document cannot take this decision")
)

// NotAllowedError refuses an upload by a client whose status does not allow it.
type NotAllowedError struct{ Status clients.Status }

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("documents: a client with status %s may not upload documents", e.Status)
}

// Options are the service's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Audit   *audit.Service
	Clients Clients
	Store   Store
	// Events announces every new document (EventUploaded) in the upload's transaction; a subscriber's error rolls
	// the upload back and the stored file is deleted.
	Events Publisher
	Emails Emails
	// Portal says which client a portal login is (identity), for the portal's upload page and API.
	Portal PortalClients
	// MaxBytes is the largest file accepted (BD_UPLOAD_MAX_MB).
	MaxBytes int64
	// TenantURL is the absolute URL of a path on the tenant's own host (the upload link in expiry emails).
	TenantURL func(t tenants.Tenant, path string) string
	// ReasonText gives a rejection reason code's words for the client (kyc's list); nil or "" shows the code.
	ReasonText func(code string) string
	// LinkTTL is how long a view link lives (default and most 5 minutes).
	LinkTTL time.Duration
	Now     func() time.Time
	Log     *slog.Logger
}

// Service keeps every tenant's documents, always through the tenant gate.
type Service struct {
	o Options
}

// MaxLinkTTL is the longest a view link may live.
const MaxLinkTTL = 5 * time.Minute

// NewService returns the documents service.
func NewService(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Store == nil || o.Events == nil {
		return nil, errors.New("documents: Gate, Audit, Store and Events are required")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 15 << 20
	}
	if o.LinkTTL <= 0 || o.LinkTTL > MaxLinkTTL {
		o.LinkTTL = MaxLinkTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// MaxBytes is the upload limit.
func (s *Service) MaxBytes() int64 { return s.o.MaxBytes }

// BlobKey is where a document's file lives: "<tenant id>/clients/<client id>/documents/<document id>".
func BlobKey(t tenants.Tenant, clientID, id uuid.UUID) string {
	return ClientPrefix(t, clientID) + "documents/" + id.String()
}

// ClientPrefix is the blob prefix of everything stored for one client (erasure deletes it).
func ClientPrefix(t tenants.Tenant, clientID uuid.UUID) string {
	return t.ID.String() + "/clients/" + clientID.String() + "/"
}

const columns = `id, client_id, type, status, file_name, content_type, size, coalesce(encode(sha256, 'hex'), ''),
	duplicate_clients, expires_on, reason_code, message, uploaded_at, uploaded_by, reviewed_at, coalesce(reviewed_by, ''),
	expiring_flagged_at, expired_at, erased_at, blob_key`

func scan(row pgx.Row) (Document, error) {
	var d Document
	var typ, status string
	var expires, reviewed *time.Time
	err := row.Scan(&d.ID, &d.ClientID, &typ, &status, &d.FileName, &d.ContentType, &d.Size, &d.SHA256,
		&d.DuplicateClients, &expires, &d.ReasonCode, &d.Message, &d.UploadedAt, &d.UploadedBy, &reviewed, &d.ReviewedBy,
		&d.ExpiringFlaggedAt, &d.ExpiredAt, &d.ErasedAt, &d.BlobKey)
	if err != nil {
		return d, err
	}
	d.Type, d.Status = Type(typ), Status(status)
	if expires != nil {
		e := time.Date(expires.Year(), expires.Month(), expires.Day(), 0, 0, 0, 0, time.UTC)
		d.ExpiresOn = &e
	}
	if reviewed != nil {
		d.ReviewedAt = *reviewed
	}
	return d, nil
}

// GetTx reads one document in tx (a transaction of the tenant's scope); ErrNotFound if there is none.
func (s *Service) GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Document, error) {
	d, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM documents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("documents: get %s: %w", id, err)
	}
	return d, nil
}

// Get reads one document of tenant t.
func (s *Service) Get(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Document, error) {
	var d Document
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		d, err = s.GetTx(ctx, tx, id)
		return err
	})
	return d, err
}

// ClientDocumentsTx lists a client's documents, newest first.
func (s *Service) ClientDocumentsTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) ([]Document, error) {
	rows, err := tx.Query(ctx, `SELECT `+columns+` FROM documents WHERE client_id = $1 ORDER BY uploaded_at DESC, id DESC`, clientID)
	if err != nil {
		return nil, fmt.Errorf("documents: list of client %s: %w", clientID, err)
	}
	defer rows.Close()
	out := []Document{}
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("documents: list of client %s: %w", clientID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClientDocuments lists a client's documents of tenant t, newest first.
func (s *Service) ClientDocuments(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]Document, error) {
	var out []Document
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.ClientDocumentsTx(ctx, tx, clientID)
		return err
	})
	return out, err
}

var reasonCode = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// auditView is what the audit trail keeps of a document: metadata, never the content.
type auditView struct {
	ClientID         uuid.UUID   `json:"client_id"`
	Type             Type        `json:"type"`
	Status           Status      `json:"status"`
	ContentType      string      `json:"content_type,omitempty"`
	Size             int64       `json:"size,omitempty"`
	SHA256           string      `json:"sha256,omitempty"`
	DuplicateClients []uuid.UUID `json:"duplicate_clients,omitempty"`
	ExpiresOn        string      `json:"expires_on,omitempty"`
	ReasonCode       string      `json:"reason_code,omitempty"`
	Message          string      `json:"message,omitempty"`
}

func (d Document) audited() auditView {
	v := auditView{ClientID: d.ClientID, Type: d.Type, Status: d.Status, ContentType: d.ContentType, Size: d.Size,
		SHA256: d.SHA256, DuplicateClients: d.DuplicateClients, ReasonCode: d.ReasonCode, Message: d.Message}
	if d.ExpiresOn != nil {
		v.ExpiresOn = d.ExpiresOn.Format(time.DateOnly)
	}
	return v
}

// targetType is the audit target type of a document.
const targetType = "document"

func target(id uuid.UUID) audit.Target { return audit.Target{Type: targetType, ID: id.String()} }

// DecideTx records the review's decision on a document waiting for one (pending_review or more_info_requested):
// approved, rejected (reasonCode required: the code the client is shown in words) or more_info_requested (message
// required: what the client is asked for). Approving a document supersedes the client's earlier approved document
// of the same type; approving one whose expiry date has passed is refused. Audited in tx.
func (s *Service) DecideTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, to Status, reasonCode, message string, actor audit.Actor) error {
	var bad validation.Fields
	message = strings.TrimSpace(message)
	switch to {
	case StatusApproved:
	case StatusRejected:
		if !reasonCodeOK(reasonCode) {
			bad.Add("reason_code", "a rejection needs a reason code (lower-case letters, digits, _)")
		}
	case StatusMoreInfoRequested:
		if message == "" {
			bad.Add("message", "say what the client should provide")
		}
	default:
		return fmt.Errorf("%w: %q is not a decision", ErrNotDecidable, to)
	}
	if len(message) > 2000 {
		bad.Add("message", "at most 2000 characters")
	}
	if reasonCode != "" && !reasonCodeOK(reasonCode) {
		bad.Add("reason_code", "lower-case letters, digits and _, at most 40")
	}
	bad.Text("message", message, 0)
	if err := bad.Err(); err != nil {
		return err
	}
	before, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM documents WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("documents: decide %s: %w", id, err)
	}
	if before.Status != StatusPendingReview && before.Status != StatusMoreInfoRequested {
		return fmt.Errorf("%w: it is %s", ErrNotDecidable, before.Status)
	}
	now := s.o.Now()
	if to == StatusApproved && before.ExpiresOn != nil && before.ExpiresOn.Before(dateOf(now)) {
		return fmt.Errorf("%w: its expiry date %s has passed", ErrNotDecidable, before.ExpiresOn.Format(time.DateOnly))
	}
	if to == StatusApproved {
		reasonCode, message = "", ""
		// The newer approved document replaces the older one of the same type.
		if _, err := s.supersedeTx(ctx, tx, before.ClientID, before.Type, []Status{StatusApproved}, id, actor); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE documents SET status = $2, reason_code = $3, message = $4, reviewed_at = $5,
		reviewed_by = $6 WHERE id = $1`, id, string(to), reasonCode, message, now, string(actor.Kind)+":"+actor.ID); err != nil {
		return fmt.Errorf("documents: decide %s: %w", id, err)
	}
	after := before
	after.Status, after.ReasonCode, after.Message = to, reasonCode, message
	action := map[Status]string{StatusApproved: ActionApproved, StatusRejected: ActionRejected,
		StatusMoreInfoRequested: ActionMoreInfoRequested}[to]
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: target(id),
		Before: before.audited(), After: after.audited()})
}

func reasonCodeOK(c string) bool { return reasonCode.MatchString(c) }

// dateOf is t's calendar date in UTC, as a time at midnight.
func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// supersedeTx marks the client's documents of type typ that are in one of statuses superseded by the document by
// (which is never one of them), audits each with the status it had, and returns their ids.
func (s *Service) supersedeTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID, typ Type, statuses []Status, by uuid.UUID, actor audit.Actor) ([]uuid.UUID, error) {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	rows, err := tx.Query(ctx, `WITH old AS (
			SELECT id, status FROM documents WHERE client_id = $1 AND type = $2 AND status = ANY($3) AND id <> $4 FOR UPDATE)
		UPDATE documents d SET status = 'superseded' FROM old WHERE d.id = old.id RETURNING d.id, old.status`,
		clientID, string(typ), names, by)
	if err != nil {
		return nil, fmt.Errorf("documents: supersede: %w", err)
	}
	type superseded struct {
		ID     uuid.UUID
		Status string
	}
	old, err := pgx.CollectRows(rows, pgx.RowToStructByPos[superseded])
	if err != nil {
		return nil, fmt.Errorf("documents: supersede: %w", err)
	}
	ids := make([]uuid.UUID, 0, len(old))
	for _, o := range old {
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSuperseded, Target: target(o.ID),
			Before: map[string]any{"status": o.Status}, After: map[string]any{"status": StatusSuperseded, "by": by}}); err != nil {
			return nil, err
		}
		ids = append(ids, o.ID)
	}
	return ids, nil
}
