// Package kyc is the room for the compliance review of traders' KYC documents: one review case per submitted
// document, the queue ordered by waiting time against the tenant's SLA, claiming, the tenant's checklists per
// document type, decisions (approve, reject with a reason code the client sees in plain words, request more
// information), four-eyes on clients from high-risk countries, and the client's KYC status that follows from them.
//
// The documents module stores the files and announces every new document in the upload's transaction
// (documents.EventUploaded); this module subscribes (Subscribe) and opens the document's case in that same
// transaction. Decisions go back through documents.DecideTx, move the client
// through clients.TransitionTx and queue the client's email through emails.Queue, all in one transaction with the
// case change and its audit entry.
package kyc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Documents is what the review needs of the documents module (*documents.Service).
type Documents interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (documents.Document, error)
	ClientDocumentsTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) ([]documents.Document, error)
	DecideTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, to documents.Status, reasonCode, message string, actor audit.Actor) error
	ViewURL(ctx context.Context, t tenants.Tenant, id uuid.UUID, actor audit.Actor) (string, error)
	// Upload and ClientDocuments serve the demo brokerage's queue (SeedDemo).
	Upload(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, u documents.Upload) (documents.Document, error)
	ClientDocuments(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]documents.Document, error)
}

// Clients is what the review needs of the clients module (*clients.Service).
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
	TransitionTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID, to clients.Status, reason string, actor audit.Actor) error
	// List serves the demo seeding (clients waiting for review).
	List(ctx context.Context, t tenants.Tenant, v clients.Viewer, f clients.Filter, after *clients.After, limit int) ([]clients.Client, error)
}

// Emails queues a client's email in the caller's transaction (*emails.Service).
type Emails interface {
	Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e emails.Email) error
}

// Options are the service's collaborators.
type Options struct {
	Gate      *tenants.Gate
	Audit     *audit.Service
	Clients   Clients
	Emails    Emails
	Documents Documents
	Now       func() time.Time
	Log       *slog.Logger
}

// Service runs the review of every tenant, always through the tenant gate.
type Service struct {
	gate    *tenants.Gate
	audit   *audit.Service
	clients Clients
	emails  Emails
	docs    Documents
	now     func() time.Time
	log     *slog.Logger
}

// NewService returns the KYC review service.
func NewService(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Clients == nil || o.Emails == nil || o.Documents == nil {
		return nil, errors.New("kyc: Gate, Audit, Clients, Emails and Documents are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{gate: o.Gate, audit: o.Audit, clients: o.Clients, emails: o.Emails, docs: o.Documents, now: o.Now, log: o.Log}, nil
}

// Subscribe opens a review case for every uploaded document, in the upload's transaction.
func (s *Service) Subscribe(h *events.Hall) {
	events.OnTx(h, "kyc.open_case", s.openCase)
}

// Status is where a case is.
type Status string

const (
	StatusOpen    Status = "open"    // in the queue, nobody holds it (also after a first approval under four-eyes)
	StatusClaimed Status = "claimed" // one officer holds it
	StatusDecided Status = "decided"
)

// Decision is how a case ended.
type Decision string

const (
	DecisionApproved   Decision = "approved"
	DecisionRejected   Decision = "rejected"
	DecisionMoreInfo   Decision = "more_info_requested"
	DecisionSuperseded Decision = "superseded" // the client replaced the document before anyone decided
)

// Case is one document's review.
type Case struct {
	ID           uuid.UUID
	DocumentID   uuid.UUID
	ClientID     uuid.UUID
	DocumentType documents.Type
	Status       Status
	OpenedAt     time.Time
	HolderID     *uuid.UUID
	ClaimedAt    *time.Time
	// Ticks are the checklist items ticked: item key -> who and when.
	Ticks map[string]Tick
	// FirstApproverID is set once a four-eyes case has its first approval.
	FirstApproverID *uuid.UUID
	FirstApprovedAt *time.Time
	Decision        Decision
	ReasonCode      ReasonCode
	Message         string
	DecidedBy       *uuid.UUID
	DecidedAt       *time.Time
}

// Tick is one ticked checklist item.
type Tick struct {
	By uuid.UUID `json:"by"`
	At time.Time `json:"at"`
}

// AwaitingSecondApproval reports whether a four-eyes case has its first approval and waits for a second officer.
func (c Case) AwaitingSecondApproval() bool {
	return c.Status != StatusDecided && c.FirstApproverID != nil
}

// Errors of the review; the HTTP layers map each to one answer.
var (
	ErrNotFound = errors.New("kyc: no such case")
	// ErrHeld: another officer holds the case (a lost claim race, or acting on someone else's case).
	ErrHeld = errors.New("kyc: the case is held by another officer")
	// ErrNotHolder: the case must be claimed by the caller first.
	ErrNotHolder = errors.New("kyc: claim the case before acting on it")
	// ErrDecided: the case is closed.
	ErrDecided = errors.New("kyc: the case is already decided")
	// ErrSameApprover: four-eyes needs a second approval by a different officer.
	ErrSameApprover = errors.New("kyc: the second approval must come from a different officer")
	// ErrNotPending: the document is no longer waiting for review (replaced or expired meanwhile); Decide closed
	// the case as superseded.
	ErrNotPending = errors.New("kyc: the document is no longer pending review")
)

// ChecklistError refuses an approval while required checklist items are unticked.
type ChecklistError struct {
	Missing []ChecklistItem
}

func (e *ChecklistError) Error() string {
	return fmt.Sprintf("kyc: %d required checklist item(s) unticked", len(e.Missing))
}

// Audit actions.
const (
	ActionOpened        = "kyc.case_opened"
	ActionClaimed       = "kyc.case_claimed"
	ActionReleased      = "kyc.case_released"
	ActionChecklist     = "kyc.checklist_updated"
	ActionFirstApproved = "kyc.first_approved"
	ActionApproved      = "kyc.approved"
	ActionRejected      = "kyc.rejected"
	ActionMoreInfo      = "kyc.more_info_requested"
	ActionSuperseded    = "kyc.case_superseded"
	ActionSettings      = "kyc.settings_updated"
)

// caseTargetType is the audit target type of a review case.
const caseTargetType = "kyc_case"

func caseTarget(id uuid.UUID) audit.Target {
	return audit.Target{Type: caseTargetType, ID: id.String()}
}
