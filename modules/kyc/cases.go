package kyc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const caseColumns = `id, document_id, client_id, document_type, status, opened_at, holder_id, claimed_at, checklist,
	first_approver_id, first_approved_at, coalesce(decision, ''), reason_code, message, decided_by, decided_at`

func scanCase(scan func(dest ...any) error) (Case, error) {
	var c Case
	var typ, status, decision, reason string
	var ticks []byte
	err := scan(&c.ID, &c.DocumentID, &c.ClientID, &typ, &status, &c.OpenedAt, &c.HolderID, &c.ClaimedAt, &ticks,
		&c.FirstApproverID, &c.FirstApprovedAt, &decision, &reason, &c.Message, &c.DecidedBy, &c.DecidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Case{}, ErrNotFound
	}
	if err != nil {
		return Case{}, err
	}
	c.DocumentType, c.Status, c.Decision, c.ReasonCode = documents.Type(typ), Status(status), Decision(decision), ReasonCode(reason)
	if err := json.Unmarshal(ticks, &c.Ticks); err != nil {
		return Case{}, fmt.Errorf("kyc case %s: checklist: %w", c.ID, err)
	}
	if c.Ticks == nil {
		c.Ticks = map[string]Tick{}
	}
	return c, nil
}

// caseTx reads one case inside tx; lock takes its row lock until tx ends.
func caseTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (Case, error) {
	q := `SELECT ` + caseColumns + ` FROM kyc_cases WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	return scanCase(tx.QueryRow(ctx, q, id).Scan)
}

// caseState is what the audit trail keeps of a case around a change.
func caseState(c Case) map[string]any {
	m := map[string]any{"status": c.Status, "document_id": c.DocumentID, "client_id": c.ClientID, "document_type": c.DocumentType}
	if c.HolderID != nil {
		m["holder_id"] = *c.HolderID
	}
	if c.FirstApproverID != nil {
		m["first_approver_id"] = *c.FirstApproverID
	}
	if c.Decision != "" {
		m["decision"] = c.Decision
	}
	if c.ReasonCode != "" {
		m["reason_code"] = c.ReasonCode
	}
	if c.Message != "" {
		m["message"] = c.Message
	}
	ticked := slices.Sorted(maps.Keys(c.Ticks))
	if len(ticked) > 0 {
		m["ticked"] = ticked
	}
	return m
}

// openCase opens the review case of a newly uploaded document, in the upload's transaction tx (the subscriber of
// documents.EventUploaded). It is idempotent per document. Open cases of the documents the upload replaced are
// closed as superseded, and the client moves to kyc_submitted when clientMove says so (first submission, or a new
// document after more information was asked or KYC was rejected).
func (s *Service) openCase(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, d documents.Uploaded) error {
	id := uuid.New()
	tag, err := tx.Exec(ctx, `INSERT INTO kyc_cases (id, document_id, client_id, document_type, status, opened_at)
		VALUES ($1, $2, $3, $4, 'open', now()) ON CONFLICT (document_id) DO NOTHING`, id, d.DocumentID, d.ClientID, string(d.Type))
	if err != nil {
		return fmt.Errorf("kyc: open case for document %s: %w", d.DocumentID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // already open: a retried upload transaction
	}
	clientActor := audit.Actor{Kind: audit.ActorClient, ID: d.ClientID.String()}
	if err := s.closeSupersededTx(ctx, tx, d.Superseded); err != nil {
		return err
	}
	c, err := s.clients.GetTx(ctx, tx, d.ClientID)
	if err != nil {
		return fmt.Errorf("kyc: client of document %s: %w", d.DocumentID, err)
	}
	if to, ok := clientMove(c.Status, eventSubmitted); ok {
		if err := s.clients.TransitionTx(ctx, tx, t, c.ID, to, "KYC document submitted: "+DocumentLabel(d.Type), clientActor); err != nil {
			return fmt.Errorf("kyc: move client %s to %s: %w", c.ID, to, err)
		}
	}
	// The client hears that the document arrived and waits for review (one email per document).
	if err := s.emails.Queue(ctx, tx, t, "kyc:received:"+d.DocumentID.String(), emails.Email{Template: emails.TemplateDocumentsReceived,
		To: c.Email, Data: map[string]any{"FirstName": c.FirstName, "Documents": []string{DocumentLabel(d.Type)}}}); err != nil {
		return err
	}
	return s.audit.Record(ctx, tx, audit.Entry{Actor: clientActor, Action: ActionOpened, Target: caseTarget(id),
		After: map[string]any{"status": StatusOpen, "document_id": d.DocumentID, "client_id": d.ClientID, "document_type": d.Type}})
}

// closeSupersededTx closes the undecided cases of documents an upload replaced.
func (s *Service) closeSupersededTx(ctx context.Context, tx pgx.Tx, superseded []uuid.UUID) error {
	if len(superseded) == 0 {
		return nil
	}
	// SKIP LOCKED: a case an officer is deciding right now is left alone (locking it would wait for the decision
	// while the decision waits for the document row this upload has locked: a deadlock). That decision then finds
	// its document replaced and closes the case itself (Decide).
	rows, err := tx.Query(ctx, `SELECT id FROM kyc_cases WHERE document_id = ANY($1) AND status <> 'decided'
		FOR UPDATE SKIP LOCKED`, superseded)
	if err != nil {
		return err
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	for _, id := range open {
		if _, err := tx.Exec(ctx, `UPDATE kyc_cases SET status = 'decided', decision = 'superseded', decided_at = now(),
			holder_id = NULL, claimed_at = NULL WHERE id = $1`, id); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("kyc"), Action: ActionSuperseded, Target: caseTarget(id),
			After: map[string]any{"status": StatusDecided, "decision": DecisionSuperseded, "document_status": documents.StatusSuperseded}}); err != nil {
			return err
		}
	}
	return nil
}

// Get returns one case.
func (s *Service) Get(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Case, error) {
	var c Case
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = caseTx(ctx, tx, id, false)
		return err
	})
	return c, err
}

// Claim gives the case to officer. Of two officers claiming at once exactly one wins; the other gets ErrHeld.
// Claiming a case one already holds changes nothing.
func (s *Service) Claim(ctx context.Context, t tenants.Tenant, id, officer uuid.UUID, actor audit.Actor) (Case, error) {
	var c Case
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		// The row lock serialises claimers: a second UPDATE waits, then finds the case no longer open.
		var err error
		c, err = scanCase(tx.QueryRow(ctx, `UPDATE kyc_cases SET status = 'claimed', holder_id = $2, claimed_at = now()
			WHERE id = $1 AND status = 'open' RETURNING `+caseColumns, id, officer).Scan)
		if errors.Is(err, ErrNotFound) {
			if c, err = caseTx(ctx, tx, id, false); err != nil {
				return err
			}
			switch {
			case c.Status == StatusDecided:
				return ErrDecided
			case c.HolderID != nil && *c.HolderID == officer:
				return nil
			default:
				return ErrHeld
			}
		}
		if err != nil {
			return err
		}
		before := c
		before.Status, before.HolderID = StatusOpen, nil
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionClaimed, Target: caseTarget(id),
			Before: caseState(before), After: caseState(c)})
	})
	return c, err
}

// Release returns the officer's case to the queue. With anyHolder (the caller holds kyc.reassign) it also returns
// a case another officer holds, for an officer who is away; the audit entry names the holder it was taken from.
// Ticks stay: they name who ticked.
func (s *Service) Release(ctx context.Context, t tenants.Tenant, id, officer uuid.UUID, anyHolder bool, actor audit.Actor) (Case, error) {
	var c Case
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := s.heldTx(ctx, tx, id, officer)
		if anyHolder && errors.Is(err, ErrHeld) {
			err = nil
		}
		if err != nil {
			return err
		}
		if c, err = scanCase(tx.QueryRow(ctx, `UPDATE kyc_cases SET status = 'open', holder_id = NULL, claimed_at = NULL
			WHERE id = $1 RETURNING `+caseColumns, id).Scan); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionReleased, Target: caseTarget(id),
			Before: caseState(before), After: caseState(c)})
	})
	return c, err
}

// heldTx locks the case and checks that officer holds it.
func (s *Service) heldTx(ctx context.Context, tx pgx.Tx, id, officer uuid.UUID) (Case, error) {
	c, err := caseTx(ctx, tx, id, true)
	if err != nil {
		return c, err
	}
	return c, holds(c, officer)
}

// holds checks that officer holds c.
func holds(c Case, officer uuid.UUID) error {
	switch {
	case c.Status == StatusDecided:
		return ErrDecided
	case c.Status == StatusOpen:
		return ErrNotHolder
	case c.HolderID == nil || *c.HolderID != officer:
		return ErrHeld
	}
	return nil
}

// SetChecklist sets the ticks of the officer's case: items maps an item key of the document type's checklist to
// ticked or not; items not named keep their state. An unknown key, or no item at all, is a *validation.Error naming it
// (checked after the case: an id that is not the tenant's is ErrNotFound whatever the body).
func (s *Service) SetChecklist(ctx context.Context, t tenants.Tenant, id, officer uuid.UUID, actor audit.Actor, items map[string]bool) (Case, error) {
	var c Case
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := s.heldTx(ctx, tx, id, officer)
		if err != nil {
			return err
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		list := st.Checklist(before.DocumentType)
		var f validation.Fields
		f.Check(len(items) > 0 && len(items) <= maxItemsPerType, "items", "name from 1 to 30 checklist items")
		for key := range items {
			if !slices.ContainsFunc(list, func(it ChecklistItem) bool { return it.Key == key }) {
				f.Add("items."+key, "is not an item of the "+DocumentLabel(before.DocumentType)+" checklist")
			}
		}
		if err := f.Err(); err != nil {
			return err
		}
		ticks := maps.Clone(before.Ticks)
		now := s.now().UTC()
		for key, on := range items {
			_, was := ticks[key]
			switch {
			case on && !was:
				ticks[key] = Tick{By: officer, At: now}
			case !on:
				delete(ticks, key)
			}
		}
		raw, err := json.Marshal(ticks)
		if err != nil {
			return err
		}
		if c, err = scanCase(tx.QueryRow(ctx, `UPDATE kyc_cases SET checklist = $2 WHERE id = $1 RETURNING `+caseColumns, id, raw).Scan); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionChecklist, Target: caseTarget(id),
			Before: map[string]any{"ticked": slices.Sorted(maps.Keys(before.Ticks))}, After: map[string]any{"ticked": slices.Sorted(maps.Keys(c.Ticks))}})
	})
	return c, err
}

// missingItems lists the required items of list that ticks lacks.
func missingItems(list []ChecklistItem, ticks map[string]Tick) []ChecklistItem {
	var out []ChecklistItem
	for _, it := range list {
		if _, ok := ticks[it.Key]; it.Required && !ok {
			out = append(out, it)
		}
	}
	return out
}

// Verdict is what an officer decides.
type Verdict string

const (
	VerdictApprove  Verdict = "approve"
	VerdictReject   Verdict = "reject"
	VerdictMoreInfo Verdict = "more_info"
)

// DecisionInput is one decision on a case.
type DecisionInput struct {
	Verdict    Verdict
	ReasonCode ReasonCode // reject: one of Reasons
	// Message: for more_info, what the client must do (required); for reject, an optional note to the client.
	Message string
}

// Message bounds: the document keeps at most 2000 characters, and a rejection's message is the reason's plain
// words followed by the officer's note.
const (
	maxMessageLen    = 2000
	maxRejectNoteLen = 1700
)

// Validate records every problem of in (field names as in the API).
func (in DecisionInput) Validate(f *validation.Fields) {
	msg := strings.TrimSpace(in.Message)
	limit := maxMessageLen
	if in.Verdict == VerdictReject {
		limit = maxRejectNoteLen
	}
	f.Check(utf8.RuneCountInString(msg) <= limit, "message", fmt.Sprintf("must be at most %d characters", limit))
	f.Text("message", msg, 0) // the client reads it in an email and the portal: lines, but no control characters
	switch in.Verdict {
	case VerdictApprove:
		f.Check(in.ReasonCode == "", "reason_code", "is only for a rejection")
	case VerdictReject:
		if _, ok := ReasonFor(in.ReasonCode); !ok {
			codes := make([]string, len(Reasons))
			for i, r := range Reasons {
				codes[i] = string(r.Code)
			}
			f.Add("reason_code", "must be one of "+strings.Join(codes, ", "))
		}
	case VerdictMoreInfo:
		f.Check(msg != "", "message", "is required: tell the client what to send")
		f.Check(in.ReasonCode == "", "reason_code", "is only for a rejection")
	default:
		f.Add("decision", "must be approve, reject or more_info")
	}
}

// Outcome is what a decision did.
type Outcome struct {
	Case Case
	// AwaitingSecondApproval: a first approval under four-eyes; the case went back to the queue.
	AwaitingSecondApproval bool
	// ClientStatus is the client's status after the decision; ClientMoved says whether the decision changed it.
	ClientStatus clients.Status
	ClientMoved  bool
	// Stale: the document was no longer waiting for review; the case was closed as superseded (ErrNotPending).
	Stale bool
}

// Decide records officer's decision on the case the officer holds: the document's status (documents.DecideTx),
// the client's email, the client's status (clientMove) and the audit entry commit together. Approving needs every
// required checklist item ticked (*ChecklistError). Under four-eyes (a client from a high-risk country with the
// switch on) the first approval returns the case to the queue and a second officer's approval decides it; the
// same officer approving twice gets ErrSameApprover.
func (s *Service) Decide(ctx context.Context, t tenants.Tenant, id, officer uuid.UUID, actor audit.Actor, in DecisionInput) (Outcome, error) {
	in.Message = strings.TrimSpace(in.Message)
	docs := s.docs
	var out Outcome
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		out = Outcome{}
		// The case first (an id that is not the tenant's is ErrNotFound whatever the input), then the input, then
		// who holds it.
		before, err := caseTx(ctx, tx, id, true)
		if err != nil {
			return err
		}
		var f validation.Fields
		in.Validate(&f)
		if err := f.Err(); err != nil {
			return err
		}
		if err := holds(before, officer); err != nil {
			return err
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		doc, err := docs.GetTx(ctx, tx, before.DocumentID)
		if err != nil {
			return fmt.Errorf("kyc case %s: document: %w", id, err)
		}
		if doc.Status != documents.StatusPendingReview {
			// Replaced or expired while the case was open: close it, and tell the officer.
			if out.Case, err = s.closeTx(ctx, tx, id, officer, DecisionSuperseded, "", ""); err != nil {
				return err
			}
			out.Stale = true
			return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSuperseded, Target: caseTarget(id),
				Before: caseState(before), After: map[string]any{"status": StatusDecided, "decision": DecisionSuperseded, "document_status": doc.Status}})
		}
		client, err := s.clients.GetTx(ctx, tx, before.ClientID)
		if err != nil {
			return fmt.Errorf("kyc case %s: client: %w", id, err)
		}
		out.ClientStatus = client.Status
		switch in.Verdict {
		case VerdictApprove:
			if missing := missingItems(st.Checklist(before.DocumentType), before.Ticks); len(missing) > 0 {
				return &ChecklistError{Missing: missing}
			}
			if fourEyes(st, client.Country) {
				if before.FirstApproverID == nil {
					return s.firstApprovalTx(ctx, tx, before, officer, actor, &out)
				}
				if *before.FirstApproverID == officer {
					return ErrSameApprover
				}
			}
			if err := docs.DecideTx(ctx, tx, doc.ID, documents.StatusApproved, "", "", actor); err != nil {
				return fmt.Errorf("kyc case %s: approve document: %w", id, err)
			}
			if out.Case, err = s.closeTx(ctx, tx, id, officer, DecisionApproved, "", ""); err != nil {
				return err
			}
			all, err := docs.ClientDocumentsTx(ctx, tx, client.ID)
			if err != nil {
				return err
			}
			if requirementsMet(st.RequiredDocuments, all) {
				moved, err := s.moveClientTx(ctx, tx, t, client, eventAllApproved, "KYC approved: every required document approved", actor, &out)
				if err != nil {
					return err
				}
				if moved {
					if err := s.emails.Queue(ctx, tx, t, "kyc:approved:"+id.String(), emails.Email{Template: emails.TemplateKYCApproved,
						To: client.Email, Data: map[string]any{"FirstName": client.FirstName, "PortalURL": "/portal"}}); err != nil {
						return err
					}
				}
			}
		case VerdictReject:
			reason, _ := ReasonFor(in.ReasonCode)
			// The document keeps the plain words (the portal shows them) with the officer's note after them.
			text := strings.TrimSpace(reason.Text + " " + in.Message)
			if err := docs.DecideTx(ctx, tx, doc.ID, documents.StatusRejected, string(reason.Code), text, actor); err != nil {
				return fmt.Errorf("kyc case %s: reject document: %w", id, err)
			}
			if out.Case, err = s.closeTx(ctx, tx, id, officer, DecisionRejected, reason.Code, in.Message); err != nil {
				return err
			}
			if err := s.emails.Queue(ctx, tx, t, "kyc:rejected:"+id.String(), emails.Email{Template: emails.TemplateDocumentRejected,
				To: client.Email, Data: map[string]any{"FirstName": client.FirstName, "Document": DocumentLabel(doc.Type), "Reason": text}}); err != nil {
				return err
			}
			ev := eventRejectedCurable
			if !reason.Curable {
				ev = eventRejectedIncurable
			}
			if _, err := s.moveClientTx(ctx, tx, t, client, ev, "KYC document rejected: "+string(reason.Code), actor, &out); err != nil {
				return err
			}
		case VerdictMoreInfo:
			if err := docs.DecideTx(ctx, tx, doc.ID, documents.StatusMoreInfoRequested, "", in.Message, actor); err != nil {
				return fmt.Errorf("kyc case %s: ask for more information: %w", id, err)
			}
			if out.Case, err = s.closeTx(ctx, tx, id, officer, DecisionMoreInfo, "", in.Message); err != nil {
				return err
			}
			if err := s.emails.Queue(ctx, tx, t, "kyc:more_info:"+id.String(), emails.Email{Template: emails.TemplateMoreInfoNeeded,
				To: client.Email, Data: map[string]any{"FirstName": client.FirstName, "Document": DocumentLabel(doc.Type),
					"Message": in.Message, "UploadURL": "/portal/documents"}}); err != nil {
				return err
			}
			if _, err := s.moveClientTx(ctx, tx, t, client, eventMoreInfo, "KYC: more information requested", actor, &out); err != nil {
				return err
			}
		}
		action := map[Decision]string{DecisionApproved: ActionApproved, DecisionRejected: ActionRejected, DecisionMoreInfo: ActionMoreInfo}[out.Case.Decision]
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: caseTarget(id),
			Before: caseState(before), After: caseState(out.Case)})
	})
	if err == nil && out.Stale {
		return out, ErrNotPending
	}
	return out, err
}

// firstApprovalTx records a four-eyes case's first approval and returns it to the queue for a second officer.
func (s *Service) firstApprovalTx(ctx context.Context, tx pgx.Tx, before Case, officer uuid.UUID, actor audit.Actor, out *Outcome) error {
	c, err := scanCase(tx.QueryRow(ctx, `UPDATE kyc_cases SET first_approver_id = $2, first_approved_at = now(),
		status = 'open', holder_id = NULL, claimed_at = NULL WHERE id = $1 RETURNING `+caseColumns, before.ID, officer).Scan)
	if err != nil {
		return err
	}
	out.Case, out.AwaitingSecondApproval = c, true
	return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionFirstApproved, Target: caseTarget(c.ID),
		Before: caseState(before), After: caseState(c)})
}

func (s *Service) closeTx(ctx context.Context, tx pgx.Tx, id, officer uuid.UUID, d Decision, reason ReasonCode, message string) (Case, error) {
	return scanCase(tx.QueryRow(ctx, `UPDATE kyc_cases SET status = 'decided', decision = $3, reason_code = $4, message = $5,
		decided_by = $2, decided_at = now(), holder_id = NULL, claimed_at = NULL WHERE id = $1 RETURNING `+caseColumns,
		id, officer, string(d), string(reason), message).Scan)
}

// moveClientTx moves the client when clientMove says so.
func (s *Service) moveClientTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, c clients.Client, ev event, reason string, actor audit.Actor, out *Outcome) (bool, error) {
	to, ok := clientMove(c.Status, ev)
	if !ok {
		return false, nil
	}
	if err := s.clients.TransitionTx(ctx, tx, t, c.ID, to, reason, actor); err != nil {
		return false, fmt.Errorf("kyc: move client %s from %s to %s: %w", c.ID, c.Status, to, err)
	}
	out.ClientStatus, out.ClientMoved = to, true
	return true, nil
}
