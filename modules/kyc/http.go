package kyc

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Permissions the routes declare (identity maps roles to them).
const (
	PermReview   = identity.PermKYCReview
	PermSettings = identity.PermSettingsManage
	PermReassign = identity.PermKYCReassign
)

// StaffRef names an officer.
type StaffRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CaseResponse is a case in the API (one queue row).
type CaseResponse struct {
	ID                     string     `json:"id"`
	DocumentID             string     `json:"document_id"`
	DocumentType           string     `json:"document_type"`
	ClientID               string     `json:"client_id"`
	ClientName             string     `json:"client_name"`
	ClientCountry          string     `json:"client_country"`
	Status                 string     `json:"status"` // open, claimed, decided
	AwaitingSecondApproval bool       `json:"awaiting_second_approval"`
	OpenedAt               time.Time  `json:"opened_at"`
	DueAt                  time.Time  `json:"due_at"`
	WaitingSeconds         int64      `json:"waiting_seconds"`
	Overdue                bool       `json:"overdue"`
	Holder                 *StaffRef  `json:"holder,omitempty"`
	ClaimedAt              *time.Time `json:"claimed_at,omitempty"`
	FirstApprover          *StaffRef  `json:"first_approver,omitempty"`
	FirstApprovedAt        *time.Time `json:"first_approved_at,omitempty"`
	Decision               string     `json:"decision,omitempty"`
	ReasonCode             string     `json:"reason_code,omitempty"`
	Message                string     `json:"message,omitempty"`
	DecidedAt              *time.Time `json:"decided_at,omitempty"`
}

func ref(id *uuid.UUID, name string) *StaffRef {
	if id == nil {
		return nil
	}
	return &StaffRef{ID: id.String(), Name: name}
}

func toCaseResponse(it QueueItem) CaseResponse {
	return CaseResponse{ID: it.ID.String(), DocumentID: it.DocumentID.String(), DocumentType: string(it.DocumentType),
		ClientID: it.ClientID.String(), ClientName: it.ClientName, ClientCountry: it.ClientCountry, Status: string(it.Status),
		AwaitingSecondApproval: it.AwaitingSecondApproval(), OpenedAt: it.OpenedAt, DueAt: it.DueAt,
		WaitingSeconds: int64(it.Waiting / time.Second), Overdue: it.Overdue, Holder: ref(it.HolderID, it.HolderName),
		ClaimedAt: it.ClaimedAt, FirstApprover: ref(it.FirstApproverID, it.FirstApproverName), FirstApprovedAt: it.FirstApprovedAt,
		Decision: string(it.Decision), ReasonCode: string(it.ReasonCode), Message: it.Message, DecidedAt: it.DecidedAt}
}

// ClientEssentials are what the reviewer compares the document with.
type ClientEssentials struct {
	ID          string `json:"id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"`
	Country     string `json:"country"`
	DateOfBirth string `json:"date_of_birth,omitempty"` // 2006-01-02
	Status      string `json:"status"`
	HighRisk    bool   `json:"high_risk"` // from a high-risk country (four-eyes applies when switched on)
}

// DocumentInfo is the reviewed document as the documents API shows it to staff, and where to view its file.
type DocumentInfo struct {
	documents.DocumentResponse
	ViewPath string `json:"view_path"`
}

// ChecklistItemResponse is one checklist item with its tick.
type ChecklistItemResponse struct {
	Key      string     `json:"key"`
	Label    string     `json:"label"`
	Required bool       `json:"required"`
	Ticked   bool       `json:"ticked"`
	TickedBy string     `json:"ticked_by,omitempty"`
	TickedAt *time.Time `json:"ticked_at,omitempty"`
}

// CaseDetailResponse is one case with everything the review needs.
type CaseDetailResponse struct {
	Case      CaseResponse            `json:"case"`
	Client    ClientEssentials        `json:"client"`
	Document  DocumentInfo            `json:"document"`
	Checklist []ChecklistItemResponse `json:"checklist"`
	// MayApprove: every required checklist item is ticked.
	MayApprove bool `json:"may_approve"`
	// FourEyes: an approval needs a second, different officer.
	FourEyes bool `json:"four_eyes"`
}

func toDetailResponse(d Detail) CaseDetailResponse {
	out := CaseDetailResponse{Case: toCaseResponse(d.Item), MayApprove: len(d.Missing) == 0, FourEyes: d.FourEyes,
		Checklist: []ChecklistItemResponse{}}
	cl := d.Client
	out.Client = ClientEssentials{ID: cl.ID.String(), FirstName: cl.FirstName, LastName: cl.LastName, Email: cl.Email,
		Country: cl.Country, Status: string(cl.Status), HighRisk: slices.Contains(d.Settings.HighRiskCountries, cl.Country)}
	if !cl.DateOfBirth.IsZero() {
		out.Client.DateOfBirth = cl.DateOfBirth.Format(time.DateOnly)
	}
	doc := d.Document
	out.Document = DocumentInfo{DocumentResponse: documents.ToResponse(doc), ViewPath: "/backoffice/documents/" + doc.ID.String() + "/view"}
	for _, it := range d.Checklist {
		r := ChecklistItemResponse{Key: it.Key, Label: it.Label, Required: it.Required, Ticked: it.Ticked, TickedBy: it.TickedBy}
		if it.Ticked {
			at := it.TickedAt
			r.TickedAt = &at
		}
		out.Checklist = append(out.Checklist, r)
	}
	return out
}

// ChecklistRequest ticks (true) or unticks (false) checklist items by key; items not named keep their state.
type ChecklistRequest struct {
	Items map[string]bool `json:"items"`
}

// DecisionRequest is one decision: approve; reject with a reason_code (and an optional message to the client);
// more_info with a message telling the client what to send.
type DecisionRequest struct {
	Decision   string `json:"decision"`
	ReasonCode string `json:"reason_code,omitempty"`
	Message    string `json:"message,omitempty"`
}

func (r DecisionRequest) input() DecisionInput {
	return DecisionInput{Verdict: Verdict(r.Decision), ReasonCode: ReasonCode(r.ReasonCode), Message: r.Message}
}

// Examples of the request bodies, for the OpenAPI document.
func (ChecklistRequest) Example() any {
	return ChecklistRequest{Items: map[string]bool{"name_matches": true}}
}
func (DecisionRequest) Example() any { return DecisionRequest{Decision: string(VerdictApprove)} }

// DecisionResponse is what a decision did.
type DecisionResponse struct {
	Case                   CaseResponse `json:"case"`
	AwaitingSecondApproval bool         `json:"awaiting_second_approval"`
	ClientStatus           string       `json:"client_status"`
	ClientMoved            bool         `json:"client_moved"`
}

// ReasonResponse is one rejection reason.
type ReasonResponse struct {
	Code    string `json:"code"`
	Label   string `json:"label"`
	Text    string `json:"text"` // what the client reads
	Curable bool   `json:"curable"`
}

// ReasonsResponse lists the rejection reasons.
type ReasonsResponse struct {
	Reasons []ReasonResponse `json:"reasons"`
}

// apiCursor is the queue's cursor as the API hands it out: the keyset position and which order it belongs to.
type apiCursor struct {
	At      time.Time `json:"t"`
	ID      uuid.UUID `json:"i"`
	Decided bool      `json:"d,omitempty"`
}

// Routes registers the KYC API on the tenant hosts' route table.
func Routes(api *web.API, s *Service) {
	cursors := web.NewCursors([]byte("brokerdesk kyc queue cursor v1 (positions only, nothing secret)"))
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/kyc/cases", Permission: PermReview, Tag: "kyc",
		Summary:  "The KYC queue: undecided cases oldest first (overdue against the SLA first) or decided ones; filters status, type, holder (an id or \"me\"), overdue; cursor paged",
		Response: web.Paged[CaseResponse]{},
		Handler: func(c *fiber.Ctx) error {
			f, err := filterOf(c, queryOf(c))
			if err != nil {
				return err
			}
			var after apiCursor
			limit, first, err := cursors.PageQuery(c, &after)
			if err != nil {
				return err
			}
			var from *Cursor
			if !first {
				if after.Decided != (f.Status == StatusDecided) {
					return web.Invalid("The request has invalid fields.", web.FieldError{Field: "cursor", Message: "belongs to another status filter; start again without one"})
				}
				from = &Cursor{At: after.At, ID: after.ID}
			}
			items, _, err := s.List(c.UserContext(), tenants.Current(c), f, from, limit+1)
			if err != nil {
				return err
			}
			rows := make([]CaseResponse, len(items))
			for i, it := range items {
				rows[i] = toCaseResponse(it)
			}
			page, err := web.MakePaged(cursors, rows, limit, func(r CaseResponse) any {
				i := slices.IndexFunc(items, func(it QueueItem) bool { return it.ID.String() == r.ID })
				cur := CursorOf(f, items[i])
				return apiCursor{At: cur.At, ID: cur.ID, Decided: f.Status == StatusDecided}
			})
			if err != nil {
				return err
			}
			return c.JSON(page)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/kyc/reasons", Permission: PermReview, Tag: "kyc",
		Summary: "The rejection reason codes, with the plain words the client reads", Response: ReasonsResponse{},
		Handler: func(c *fiber.Ctx) error {
			out := ReasonsResponse{Reasons: make([]ReasonResponse, len(Reasons))}
			for i, r := range Reasons {
				out.Reasons[i] = ReasonResponse{Code: string(r.Code), Label: r.Label, Text: r.Text, Curable: r.Curable}
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/kyc/cases/:id", Permission: PermReview, Tag: "kyc",
		Summary: "One KYC case with the client's essentials, the document's metadata and the checklist", Response: CaseDetailResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, err := caseID(c)
			if err != nil {
				return err
			}
			d, err := s.Detail(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(toDetailResponse(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/kyc/cases/:id/claim", Permission: PermReview, Tag: "kyc",
		Summary: "Claim a case (409 when another officer holds it)", Response: CaseResponse{},
		Handler: officerAction(s, func(c *fiber.Ctx, id, officer uuid.UUID) error {
			_, err := s.Claim(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c))
			return err
		})})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/kyc/cases/:id/release", Permission: PermReview, Tag: "kyc",
		Summary: "Return one's case to the queue (with kyc.reassign, also a case another officer holds)", Response: CaseResponse{},
		Handler: officerAction(s, func(c *fiber.Ctx, id, officer uuid.UUID) error {
			_, err := s.Release(c.UserContext(), tenants.Current(c), id, officer, mayReassign(c), identity.Actor(c))
			return err
		})})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/kyc/cases/:id/checklist", Permission: PermReview, Tag: "kyc",
		Summary: "Tick or untick checklist items of one's case", Request: ChecklistRequest{}, Response: CaseDetailResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, officer, err := officerOf(c)
			if err != nil {
				return err
			}
			var r ChecklistRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			if _, err := s.SetChecklist(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c), r.Items); err != nil {
				return apiError(err)
			}
			d, err := s.Detail(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(toDetailResponse(d))
		}})
	// An Idempotency-Key route: it emails the client, so a retry replays the first answer. Underneath, a case takes
	// one decision (a new key on a decided case answers 409 case-decided) and each email's outbox key is the case's.
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/kyc/cases/:id/decision", Permission: PermReview, Tag: "kyc",
		Idempotent: true,
		Summary:    "Decide one's case: approve (every required checklist item ticked; four-eyes may need a second officer), reject with a reason code, or ask for more information; emails the client",
		Request:    DecisionRequest{}, Response: DecisionResponse{},
		Handler: func(c *fiber.Ctx) error {
			id, officer, err := officerOf(c)
			if err != nil {
				return err
			}
			var r DecisionRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			out, err := s.Decide(c.UserContext(), tenants.Current(c), id, officer, identity.Actor(c), r.input())
			if err != nil {
				return apiError(err)
			}
			items, err := s.itemOf(c, out.Case.ID)
			if err != nil {
				return err
			}
			return c.JSON(DecisionResponse{Case: toCaseResponse(items), AwaitingSecondApproval: out.AwaitingSecondApproval,
				ClientStatus: string(out.ClientStatus), ClientMoved: out.ClientMoved})
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/kyc", Permission: PermSettings, Tag: "kyc",
		Summary: "The KYC settings: SLA, checklists per document type, required documents, four-eyes and high-risk countries", Response: Settings{},
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(st)
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/kyc", Permission: PermSettings, Tag: "kyc",
		Summary: "Replace the KYC settings, the whole document (audited; a weakening as kyc.settings_weakened)", Request: Settings{}, Response: Settings{},
		Handler: func(c *fiber.Ctx) error {
			var st Settings
			if err := web.Bind(c, &st); err != nil {
				return err
			}
			saved, err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st)
			if err != nil {
				return err
			}
			return c.JSON(saved)
		}})
}

// itemOf is one case as a queue row (after an action, for the answer).
func (s *Service) itemOf(c *fiber.Ctx, id uuid.UUID) (QueueItem, error) {
	d, err := s.Detail(c.UserContext(), tenants.Current(c), id)
	if err != nil {
		return QueueItem{}, apiError(err)
	}
	return d.Item, nil
}

// officerAction runs an action of the signed-in officer on a case and answers with the case.
func officerAction(s *Service, do func(c *fiber.Ctx, id, officer uuid.UUID) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, officer, err := officerOf(c)
		if err != nil {
			return err
		}
		if err := do(c, id, officer); err != nil {
			return apiError(err)
		}
		it, err := s.itemOf(c, id)
		if err != nil {
			return err
		}
		return c.JSON(toCaseResponse(it))
	}
}

// officerOf reads the case id and the signed-in staff user: holding and deciding a case is a person's act, so an
// API key (an integration) may read the queue but not act on it.
func officerOf(c *fiber.Ctx) (id, officer uuid.UUID, err error) {
	if id, err = caseID(c); err != nil {
		return id, officer, err
	}
	p, ok := identity.PrincipalOf(c)
	if !ok || p.Kind != identity.Staff {
		return id, officer, web.NewProblem(fiber.StatusForbidden, "officer-only", "Only a signed-in compliance officer can hold and decide a KYC case.")
	}
	return id, p.UserID, nil
}

func caseID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return id, web.NotFound("No such KYC case.")
	}
	return id, nil
}

// query is the queue's filter as given (the API's query string, the page's form).
type query struct{ Status, Type, Holder, Overdue string }

func queryOf(c *fiber.Ctx) query {
	return query{Status: c.Query("status"), Type: c.Query("type"), Holder: c.Query("holder"), Overdue: c.Query("overdue")}
}

// filterOf reads the queue's filter; holder "me" is the signed-in user.
func filterOf(c *fiber.Ctx, q query) (Filter, error) {
	var f Filter
	var fields web.Fields
	switch Status(q.Status) {
	case "", StatusOpen, StatusClaimed, StatusDecided:
		f.Status = Status(q.Status)
	default:
		fields.Add("status", "must be open, claimed or decided (or empty for every undecided case)")
	}
	if q.Type != "" {
		if !slices.Contains(DocumentTypes, documents.Type(q.Type)) {
			fields.Add("type", "is not a document type")
		}
		f.DocumentType = documents.Type(q.Type)
	}
	switch q.Holder {
	case "":
	case "me":
		if p, ok := identity.PrincipalOf(c); ok {
			id := p.UserID
			f.HolderID = &id
		}
	default:
		id, err := web.ParseUUID(q.Holder)
		if err != nil {
			fields.Add("holder", `must be a staff user's id or "me"`)
		}
		f.HolderID = &id
	}
	if q.Overdue != "" {
		b, err := strconv.ParseBool(q.Overdue)
		if err != nil {
			fields.Add("overdue", "must be true or false")
		}
		f.Overdue = &b
	}
	if f.Status == StatusDecided && f.Overdue != nil {
		fields.Add("overdue", "applies to undecided cases only")
	}
	return f, fields.Err()
}

// apiError maps the review's errors to problems; anything else stays internal.
func apiError(err error) error {
	var missing *ChecklistError
	invalid, isInvalid := validation.As(err)
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such KYC case.")
	case errors.Is(err, ErrHeld):
		return web.NewProblem(fiber.StatusConflict, "case-held", "Another officer holds this case.")
	case errors.Is(err, ErrNotHolder):
		return web.NewProblem(fiber.StatusConflict, "claim-first", "Claim the case before acting on it.")
	case errors.Is(err, ErrDecided):
		return web.NewProblem(fiber.StatusConflict, "case-decided", "This case is already decided.")
	case errors.Is(err, ErrSameApprover):
		return web.NewProblem(fiber.StatusConflict, "four-eyes", "You gave this case its first approval; the second approval must come from a different officer.")
	case errors.Is(err, ErrNotPending):
		return web.NewProblem(fiber.StatusConflict, "document-not-pending", "The document is no longer waiting for review (it was replaced or has expired); the case is closed.")
	case errors.Is(err, documents.ErrNotDecidable):
		return web.NewProblem(fiber.StatusConflict, "document-not-decidable", "The document cannot take this decision (for an approval: its expiry date may have passed).")
	case isInvalid:
		// As a problem here (not left to the error handler): the review page lists the fields beside its forms.
		return web.Invalid("The request is not valid.", invalid.Fields...)
	case errors.As(err, &missing):
		p := web.Invalid("Tick every required checklist item before approving.")
		for _, it := range missing.Missing {
			p.Errors = append(p.Errors, web.FieldError{Field: "checklist." + it.Key, Message: it.Label + ": not ticked"})
		}
		return p
	}
	return err
}

// mayReassign reports whether the request's staff user may return a case another officer holds to the queue.
func mayReassign(c *fiber.Ctx) bool {
	pr, ok := identity.PrincipalOf(c)
	return ok && identity.Allowed(pr.Claims.Roles, PermReassign)
}
