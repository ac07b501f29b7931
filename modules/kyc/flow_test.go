package kyc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

// tickAll ticks every item of the case's checklist through the API.
func tickAll(t *testing.T, b *bundle, o officer, caseID uuid.UUID) {
	t.Helper()
	r := do(t, b.app, "GET", "/api/v1/kyc/cases/"+caseID.String(), o.token, nil)
	var d CaseDetailResponse
	r.Decode(t, &d)
	items := map[string]bool{}
	for _, it := range d.Checklist {
		items[it.Key] = true
	}
	if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/checklist", o.token, ChecklistRequest{Items: items}); r.Status != 200 {
		t.Fatalf("checklist: %d %s", r.Status, r.Body)
	}
}

func decide(t *testing.T, b *bundle, o officer, caseID uuid.UUID, req DecisionRequest) reply {
	t.Helper()
	buf, _ := json.Marshal(req)
	r := httptest.NewRequest("POST", "/api/v1/kyc/cases/"+caseID.String()+"/decision", bytes.NewReader(buf))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+o.token)
	r.Header.Set("Idempotency-Key", uuid.NewString())
	return webtest.Send(t, b.app, r)
}

func claim(t *testing.T, b *bundle, o officer, caseID uuid.UUID) {
	t.Helper()
	if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/claim", o.token, nil); r.Status != 200 {
		t.Fatalf("claim: %d %s", r.Status, r.Body)
	}
}

// approve claims, ticks every item and approves.
func approve(t *testing.T, b *bundle, o officer, caseID uuid.UUID) DecisionResponse {
	t.Helper()
	claim(t, b, o, caseID)
	tickAll(t, b, o, caseID)
	r := decide(t, b, o, caseID, DecisionRequest{Decision: "approve"})
	if r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	var out DecisionResponse
	r.Decode(t, &out)
	return out
}

func TestTwoOfficersClaimingAtOnceOneWinsTheOther409(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, bob := b.addOfficer(t, "Ann Lee", "compliance"), b.addOfficer(t, "Bob Ray", "compliance")
	client := b.addClient(t, "Kenji", "JP", clients.StatusEmailVerified)
	for round := range 5 {
		caseID := b.upload(t, client, "selfie")
		start := make(chan struct{})
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, o := range []officer{ann, bob} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/claim", o.token, nil).Status
			}()
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{200, 409}) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, statuses)
		}
		c, err := b.kyc.Get(context.Background(), b.ten, caseID)
		if err != nil || c.Status != StatusClaimed || c.HolderID == nil || (*c.HolderID != ann.id && *c.HolderID != bob.id) {
			t.Fatalf("round %d: case %+v %v", round, c, err)
		}
		winner, loser := ann, bob
		if *c.HolderID == bob.id {
			winner, loser = bob, ann
		}
		// Only the holder acts; the other officer is told who holds it.
		r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/release", loser.token, nil)
		if r.Status != 409 || r.Problem().Type != "/problems/case-held" {
			t.Fatalf("release by the loser: %d %s", r.Status, r.Body)
		}
		if r := decide(t, b, loser, caseID, DecisionRequest{Decision: "more_info", Message: "Again please."}); r.Status != 409 {
			t.Fatalf("decision by the loser: %d %s", r.Status, r.Body)
		}
		if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/claim", winner.token, nil); r.Status != 200 {
			t.Fatalf("claiming one's own case again: %d", r.Status)
		}
		if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/release", winner.token, nil); r.Status != 200 {
			t.Fatalf("release by the holder: %d %s", r.Status, r.Body)
		}
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: "kyc.case_claimed"}, "", 100)
	if err != nil || len(page.Rows) != 5 {
		t.Fatalf("claims audited: %d %v", len(page.Rows), err)
	}
}

func TestApprovalIsRefusedWhileARequiredChecklistItemIsUnticked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	client := b.addClient(t, "Sofia", "IT", clients.StatusEmailVerified)
	caseID := b.upload(t, client, "passport")
	claim(t, b, ann, caseID)
	path := "/api/v1/kyc/cases/" + caseID.String()
	// Tick every required item but one, and the optional ones do not matter.
	req := map[string]bool{}
	for _, it := range DefaultSettings().Checklist("passport") {
		req[it.Key] = it.Key != "not_expired"
	}
	if r := do(t, b.app, "POST", path+"/checklist", ann.token, ChecklistRequest{Items: req}); r.Status != 200 {
		t.Fatalf("checklist: %d %s", r.Status, r.Body)
	}
	r := decide(t, b, ann, caseID, DecisionRequest{Decision: "approve"})
	if r.Status != 422 || len(r.Problem().Errors) != 1 || r.Problem().Errors[0].Field != "checklist.not_expired" {
		t.Fatalf("approve with not_expired unticked: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", path+"/checklist", ann.token, ChecklistRequest{Items: map[string]bool{}}); r.Status != 422 {
		t.Fatalf("no checklist item: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", path+"/checklist", ann.token, ChecklistRequest{Items: map[string]bool{"smells_fine": true}}); r.Status != 422 {
		t.Fatalf("unknown checklist item: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", path+"/checklist", ann.token, ChecklistRequest{Items: map[string]bool{"not_expired": true}}); r.Status != 200 {
		t.Fatalf("tick: %d %s", r.Status, r.Body)
	}
	var d CaseDetailResponse
	do(t, b.app, "GET", path, ann.token, nil).Decode(t, &d)
	if !d.MayApprove {
		t.Fatalf("every required item ticked, may_approve false: %+v", d.Checklist)
	}
	if r := decide(t, b, ann, caseID, DecisionRequest{Decision: "approve"}); r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	doc, err := b.docs.Get(context.Background(), b.ten, uuid.MustParse(d.Document.ID))
	if err != nil || doc.Status != documents.StatusApproved {
		t.Fatalf("document after approval: %s %v", doc.Status, err)
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: "kyc.checklist_updated"}, "", 100)
	if err != nil || len(page.Rows) != 2 {
		t.Fatalf("checklist changes audited: %d %v", len(page.Rows), err)
	}
}

func TestFourEyesNeedsASecondApprovalByAnotherOfficer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.settings(t, func(s *Settings) { s.FourEyes, s.HighRiskCountries = true, []string{"NG", "IR"} })
	ann, bob := b.addOfficer(t, "Ann Lee", "compliance"), b.addOfficer(t, "Bob Ray", "compliance")
	risky := b.addClient(t, "Amara", "NG", clients.StatusEmailVerified)
	idCase, addrCase := b.upload(t, risky, "passport"), b.upload(t, risky, "proof_of_address")

	first := approve(t, b, ann, idCase)
	if !first.AwaitingSecondApproval || first.Case.Status != "open" || first.Case.FirstApprover == nil || first.Case.FirstApprover.ID != ann.id.String() {
		t.Fatalf("first approval: %+v", first)
	}
	doc, _ := b.docs.Get(context.Background(), b.ten, uuid.MustParse(first.Case.DocumentID))
	if doc.Status != documents.StatusPendingReview {
		t.Fatalf("one approval decided the document: %s", doc.Status)
	}
	// The same officer may claim it again but not approve twice.
	claim(t, b, ann, idCase)
	r := decide(t, b, ann, idCase, DecisionRequest{Decision: "approve"})
	if r.Status != 409 || r.Problem().Type != "/problems/four-eyes" || !strings.Contains(r.Problem().Detail, "different officer") {
		t.Fatalf("second approval by the same officer: %d %s", r.Status, r.Body)
	}
	do(t, b.app, "POST", "/api/v1/kyc/cases/"+idCase.String()+"/release", ann.token, nil)
	second := approve(t, b, bob, idCase)
	if second.AwaitingSecondApproval || second.Case.Status != "decided" || second.Case.Decision != "approved" {
		t.Fatalf("second approval: %+v", second)
	}
	// Both documents need two officers; with both approved the client is approved.
	approve(t, b, bob, addrCase)
	if st := b.clientStatus(t, risky); st != clients.StatusKYCSubmitted {
		t.Fatalf("after one approval of the address: %s", st)
	}
	last := approve(t, b, ann, addrCase)
	if last.ClientStatus != string(clients.StatusKYCApproved) || !last.ClientMoved || b.clientStatus(t, risky) != clients.StatusKYCApproved {
		t.Fatalf("after four-eyes on both documents: %+v", last)
	}
	// A client from elsewhere needs one officer only.
	safe := b.addClient(t, "Hannah", "DE", clients.StatusEmailVerified)
	if out := approve(t, b, ann, b.upload(t, safe, "passport")); out.AwaitingSecondApproval || out.Case.Decision != "approved" {
		t.Fatalf("low-risk client: %+v", out)
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: "kyc.first_approved"}, "", 100)
	if err != nil || len(page.Rows) != 2 {
		t.Fatalf("first approvals audited: %d %v", len(page.Rows), err)
	}
}

func TestClientStatusAndEmailsFollowTheDecisions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	id := b.addClient(t, "Lucas", "FR", clients.StatusEmailVerified)
	c, _ := b.clients.Get(context.Background(), b.ten, id)

	passport := b.upload(t, id, "passport")
	if st := b.clientStatus(t, id); st != clients.StatusKYCSubmitted {
		t.Fatalf("first submission: %s", st)
	}
	// More information: kyc_more_info and the email.
	claim(t, b, ann, passport)
	r := decide(t, b, ann, passport, DecisionRequest{Decision: "more_info", Message: "Please send the page with your photo."})
	var out DecisionResponse
	r.Decode(t, &out)
	if r.Status != 200 || out.ClientStatus != string(clients.StatusKYCMoreInfo) || b.clientStatus(t, id) != clients.StatusKYCMoreInfo {
		t.Fatalf("more info: %d %s", r.Status, r.Body)
	}
	// A new upload: kyc_submitted again; a curable rejection asks for another document.
	passport = b.upload(t, id, "passport")
	if st := b.clientStatus(t, id); st != clients.StatusKYCSubmitted {
		t.Fatalf("after the new upload: %s", st)
	}
	claim(t, b, ann, passport)
	if r := decide(t, b, ann, passport, DecisionRequest{Decision: "reject", ReasonCode: "unreadable"}); r.Status != 200 {
		t.Fatalf("reject: %d %s", r.Status, r.Body)
	}
	if st := b.clientStatus(t, id); st != clients.StatusKYCMoreInfo {
		t.Fatalf("after a curable rejection: %s", st)
	}
	doc, _ := b.docs.ClientDocuments(context.Background(), b.ten, id)
	if doc[0].Status != documents.StatusRejected || doc[0].ReasonCode != "unreadable" || !strings.Contains(doc[0].Message, "could not read") {
		t.Fatalf("rejected document: %+v", doc[0])
	}
	// Approve identity and address: kyc_approved and the approval email.
	approve(t, b, ann, b.upload(t, id, "national_id"))
	if st := b.clientStatus(t, id); st != clients.StatusKYCSubmitted {
		t.Fatalf("identity approved, address missing: %s", st)
	}
	out = approve(t, b, ann, b.upload(t, id, "proof_of_address"))
	if out.ClientStatus != string(clients.StatusKYCApproved) || b.clientStatus(t, id) != clients.StatusKYCApproved {
		t.Fatalf("all required approved: %+v", out)
	}
	// Every upload is acknowledged; each decision that concerns the client is told.
	want := []string{"documents_received", "more_info_needed", "documents_received", "document_rejected",
		"documents_received", "documents_received", "kyc_approved"}
	if got := b.emailsTo(t, c.Email); !slices.Equal(got, want) {
		t.Fatalf("emails queued %v, want %v", got, want)
	}

	// An incurable reason rejects the client's KYC.
	other := b.addClient(t, "Olga", "CY", clients.StatusEmailVerified)
	oc, _ := b.clients.Get(context.Background(), b.ten, other)
	forged := b.upload(t, other, "passport")
	claim(t, b, ann, forged)
	r = decide(t, b, ann, forged, DecisionRequest{Decision: "reject", ReasonCode: "suspected_forgery", Message: "The MRZ check digits fail."})
	r.Decode(t, &out)
	if r.Status != 200 || out.ClientStatus != string(clients.StatusKYCRejected) || b.clientStatus(t, other) != clients.StatusKYCRejected {
		t.Fatalf("forgery: %d %s", r.Status, r.Body)
	}
	if got := b.emailsTo(t, oc.Email); !slices.Equal(got, []string{"documents_received", "document_rejected"}) {
		t.Fatalf("forgery emails: %v", got)
	}
	// ...and a new upload after a rejection is a re-submission.
	b.upload(t, other, "driving_licence")
	if st := b.clientStatus(t, other); st != clients.StatusKYCSubmitted {
		t.Fatalf("upload after rejection: %s", st)
	}
	// Decided cases are audited.
	for _, action := range []string{ActionApproved, ActionRejected, ActionMoreInfo} {
		page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: action}, "", 100)
		if err != nil || len(page.Rows) == 0 {
			t.Errorf("%s not audited (%v)", action, err)
		}
	}
}

func TestADocumentReplacedBeforeReviewClosesItsCase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.addClient(t, "Tom", "GB", clients.StatusEmailVerified)
	old := b.upload(t, id, "proof_of_address")
	newer := b.upload(t, id, "proof_of_address")
	c, err := b.kyc.Get(context.Background(), b.ten, old)
	if err != nil || c.Status != StatusDecided || c.Decision != DecisionSuperseded {
		t.Fatalf("old case: %+v %v", c, err)
	}
	if c, _ := b.kyc.Get(context.Background(), b.ten, newer); c.Status != StatusOpen {
		t.Fatalf("new case: %+v", c)
	}
}

func TestDecisionsAreValidated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	caseID := b.upload(t, b.addClient(t, "Eva", "CZ", clients.StatusEmailVerified), "selfie")
	cases := []struct {
		req   DecisionRequest
		field string
	}{
		{DecisionRequest{Decision: "reject", ReasonCode: "looks_odd"}, "reason_code"},
		{DecisionRequest{Decision: "reject"}, "reason_code"},
		{DecisionRequest{Decision: "more_info"}, "message"},
		{DecisionRequest{Decision: "approve", ReasonCode: "unreadable"}, "reason_code"},
		{DecisionRequest{Decision: "escalate"}, "decision"},
	}
	for _, c := range cases {
		r := decide(t, b, ann, caseID, c.req)
		if r.Status != 422 || len(r.Problem().Errors) == 0 || r.Problem().Errors[0].Field != c.field {
			t.Errorf("%+v: %d %s", c.req, r.Status, r.Body)
		}
	}
	// Valid, but the case is not claimed.
	if r := decide(t, b, ann, caseID, DecisionRequest{Decision: "reject", ReasonCode: "photo_mismatch"}); r.Status != 409 || r.Problem().Type != "/problems/claim-first" {
		t.Fatalf("decision on an unclaimed case: %d %s", r.Status, r.Body)
	}
	claim(t, b, ann, caseID)
	if r := decide(t, b, ann, caseID, DecisionRequest{Decision: "reject", ReasonCode: "photo_mismatch"}); r.Status != 200 {
		t.Fatalf("valid rejection: %d %s", r.Status, r.Body)
	}
	if r := decide(t, b, ann, caseID, DecisionRequest{Decision: "approve"}); r.Status != 409 || r.Problem().Type != "/problems/case-decided" {
		t.Fatalf("decision on a decided case: %d %s", r.Status, r.Body)
	}
	var reasons ReasonsResponse
	do(t, b.app, "GET", "/api/v1/kyc/reasons", ann.token, nil).Decode(t, &reasons)
	if len(reasons.Reasons) != len(Reasons) {
		t.Fatalf("reasons: %+v", reasons)
	}
}

func TestAnotherTenantsOfficerCannotSeeOrActOnACase(t *testing.T) {
	t.Parallel()
	a := setup(t)
	other := a.world.tenant(t)
	annA := a.addOfficer(t, "Ann Lee", "compliance")
	bobB := other.addOfficer(t, "Bob Ray", "compliance")
	caseID := a.upload(t, a.addClient(t, "Priya", "AE", clients.StatusEmailVerified), "passport")
	base := "/api/v1/kyc/cases/" + caseID.String()
	for _, r := range []reply{
		do(t, other.app, "GET", base, bobB.token, nil),
		do(t, other.app, "POST", base+"/claim", bobB.token, nil),
		do(t, other.app, "POST", base+"/release", bobB.token, nil),
		do(t, other.app, "POST", base+"/checklist", bobB.token, ChecklistRequest{Items: map[string]bool{"name_matches": true}}),
		decide(t, other, bobB, caseID, DecisionRequest{Decision: "approve"}),
		page(t, other.app, bobB, "GET", "/backoffice/kyc/cases/"+caseID.String(), nil),
		page(t, other.app, bobB, "POST", "/backoffice/kyc/cases/"+caseID.String()+"/claim", url.Values{}),
	} {
		if r.Status != 404 || strings.Contains(string(r.Body), "Priya") {
			t.Errorf("tenant B on tenant A's case: %d %s", r.Status, r.Body)
		}
	}
	var list web.Paged[CaseResponse]
	do(t, other.app, "GET", "/api/v1/kyc/cases", bobB.token, nil).Decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("tenant B's queue shows %d cases", len(list.Items))
	}
	// Tenant A's token on tenant B's host is refused outright.
	if r := do(t, other.app, "GET", base, annA.token, nil); r.Status != 401 {
		t.Fatalf("tenant A's token on tenant B: %d", r.Status)
	}
	if c, _ := a.kyc.Get(context.Background(), a.ten, caseID); c.Status != StatusOpen {
		t.Fatalf("tenant A's case changed: %+v", c)
	}
}

func TestOnlyOfficersWithTheReviewPermissionSeeTheQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sales := b.addOfficer(t, "Sam Sales", "sales")
	if r := do(t, b.app, "GET", "/api/v1/kyc/cases", sales.token, nil); r.Status != 403 {
		t.Fatalf("sales on the queue: %d", r.Status)
	}
	if r := page(t, b.app, sales, "GET", "/backoffice/kyc", nil); r.Status != 403 {
		t.Fatalf("sales on the queue page: %d", r.Status)
	}
	comp := b.addOfficer(t, "Cara Comp", "compliance")
	if r := do(t, b.app, "PUT", "/api/v1/settings/kyc", comp.token, DefaultSettings()); r.Status != 403 {
		t.Fatalf("compliance on the settings: %d", r.Status)
	}
}

// setOpened moves a case's opening time (the queue's order and SLA are about waiting time).
func (b *bundle) setOpened(tb testing.TB, id uuid.UUID, at time.Time) {
	tb.Helper()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE kyc_cases SET opened_at = $2 WHERE id = $1`, id, at)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestQueueOrdersByWaitingTimeAndFlagsOverdueCases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.settings(t, func(s *Settings) { s.SLAHours = 24 })
	ann, bob := b.addOfficer(t, "Ann Lee", "compliance"), b.addOfficer(t, "Bob Ray", "compliance")
	now := time.Now()
	// Each case: how long it has waited, its type, who holds it, whether it is decided.
	rows := []struct {
		name   string
		waited time.Duration
		typ    documents.Type
		holder *officer
		decide bool
	}{
		{"fresh", 10 * time.Minute, "selfie", nil, false},
		{"three days", 72 * time.Hour, "selfie", nil, false},
		{"just inside", 23 * time.Hour, "selfie", &ann, false},
		{"just over", 25 * time.Hour, "proof_of_address", &bob, false},
		{"a week, decided", 7 * 24 * time.Hour, "selfie", nil, true},
		{"two hours", 2 * time.Hour, "proof_of_address", nil, false},
	}
	ids := map[string]uuid.UUID{}
	for _, r := range rows {
		// A client each: one client's uploads of one type would supersede each other.
		id := b.upload(t, b.addClient(t, strings.NewReplacer(" ", "", ",", "").Replace(r.name), "DE", clients.StatusEmailVerified), r.typ)
		ids[r.name] = id
		b.setOpened(t, id, now.Add(-r.waited))
		if r.holder != nil {
			claim(t, b, *r.holder, id)
		}
		if r.decide {
			claim(t, b, ann, id)
			if rep := decide(t, b, ann, id, DecisionRequest{Decision: "reject", ReasonCode: "unreadable"}); rep.Status != 200 {
				t.Fatalf("reject %s: %d %s", r.name, rep.Status, rep.Body)
			}
		}
	}
	list := func(query string) (names []string, overdue []bool) {
		t.Helper()
		r := do(t, b.app, "GET", "/api/v1/kyc/cases"+query, ann.token, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", query, r.Status, r.Body)
		}
		var p web.Paged[CaseResponse]
		r.Decode(t, &p)
		for _, it := range p.Items {
			for name, id := range ids {
				if id.String() == it.ID {
					names = append(names, name)
				}
			}
			overdue = append(overdue, it.Overdue)
		}
		return names, overdue
	}
	cases := []struct {
		query   string
		names   []string
		overdue []bool
	}{
		{"", []string{"three days", "just over", "just inside", "two hours", "fresh"}, []bool{true, true, false, false, false}},
		{"?overdue=true", []string{"three days", "just over"}, []bool{true, true}},
		{"?overdue=false", []string{"just inside", "two hours", "fresh"}, []bool{false, false, false}},
		{"?status=open", []string{"three days", "two hours", "fresh"}, []bool{true, false, false}},
		{"?status=claimed", []string{"just over", "just inside"}, []bool{true, false}},
		{"?holder=me", []string{"just inside"}, []bool{false}},
		{"?holder=" + bob.id.String(), []string{"just over"}, []bool{true}},
		{"?type=proof_of_address", []string{"just over", "two hours"}, []bool{true, false}},
		{"?status=decided", []string{"a week, decided"}, []bool{false}},
	}
	for _, c := range cases {
		names, overdue := list(c.query)
		if !slices.Equal(names, c.names) || !slices.Equal(overdue, c.overdue) {
			t.Errorf("%q: %v %v\nwant %v %v", c.query, names, overdue, c.names, c.overdue)
		}
	}
	for _, q := range []string{"?status=pending", "?type=visa", "?holder=someone", "?overdue=soon", "?status=decided&overdue=true", "?cursor=forged"} {
		if r := do(t, b.app, "GET", "/api/v1/kyc/cases"+q, ann.token, nil); r.Status != 422 {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	// Cursor pages walk the same order without repeats or gaps.
	var walked []string
	next := "/api/v1/kyc/cases?limit=2"
	for next != "" {
		var p web.Paged[CaseResponse]
		do(t, b.app, "GET", next, ann.token, nil).Decode(t, &p)
		for _, it := range p.Items {
			walked = append(walked, it.ID)
		}
		next = ""
		if p.NextCursor != nil {
			next = "/api/v1/kyc/cases?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		}
	}
	var want []string
	for _, name := range cases[0].names {
		want = append(want, ids[name].String())
	}
	if !slices.Equal(walked, want) {
		t.Fatalf("paged walk %v, want %v", walked, want)
	}
	// The page shows the same queue, with who holds each and the overdue flag.
	r := page(t, b.app, ann, "GET", "/backoffice/kyc", nil)
	body := string(r.Body)
	if r.Status != 200 || !strings.Contains(body, "Bob Ray") || strings.Count(body, `class="kyc-overdue">overdue`) != 2 ||
		strings.Index(body, "threedays") > strings.Index(body, "fresh") {
		t.Fatalf("queue page: %d\n%s", r.Status, body)
	}
	if !strings.Contains(body, `<option value="`+bob.id.String()+`">Bob Ray</option>`) {
		t.Fatalf("the holder filter should offer Bob:\n%s", body)
	}
	r = page(t, b.app, ann, "GET", "/backoffice/kyc?holder="+bob.id.String(), nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "justover") || strings.Contains(string(r.Body), "justinside") {
		t.Fatalf("queue page held by Bob: %d\n%s", r.Status, r.Body)
	}
	if r := page(t, b.app, ann, "GET", "/backoffice/kyc?status=decided&after=forged", nil); r.Status != 422 {
		t.Fatalf("forged page cursor: %d", r.Status)
	}
}

func TestReviewPagesWalkClaimChecklistAndApproval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	id := b.addClient(t, "Diego", "ES", clients.StatusEmailVerified)
	b.upload(t, id, "passport")
	caseID := b.upload(t, id, "proof_of_address")
	path := "/backoffice/kyc/cases/" + caseID.String()

	r := page(t, b.app, ann, "GET", path, nil)
	body := string(r.Body)
	if r.Status != 200 || !strings.Contains(body, "Diego") || !strings.Contains(body, "12 April 1990") ||
		!strings.Contains(body, `<object data="/blobs/`) || !strings.Contains(body, "Claim this case") {
		t.Fatalf("review page: %d\n%s", r.Status, body)
	}
	views, _ := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: documents.ActionViewed}, "", 10)
	if len(views.Rows) != 1 {
		t.Fatalf("document views audited: %d", len(views.Rows))
	}
	if r := page(t, b.app, ann, "POST", path+"/claim", url.Values{}); r.Status != 303 {
		t.Fatalf("claim form: %d %s", r.Status, r.Body)
	}
	// Approving with nothing ticked shows the page again with what is missing.
	r = page(t, b.app, ann, "POST", path+"/decision", url.Values{"decision": {"approve"}})
	if r.Status != 422 || !strings.Contains(string(r.Body), "Dated within the last 3 months: not ticked") {
		t.Fatalf("approve unticked: %d\n%s", r.Status, r.Body)
	}
	r = page(t, b.app, ann, "POST", path+"/decision", url.Values{"decision": {"more_info"}, "message": {" "}})
	if r.Status != 422 || !strings.Contains(string(r.Body), "message is required") {
		t.Fatalf("more info without a message: %d\n%s", r.Status, r.Body)
	}
	form := url.Values{}
	for _, it := range DefaultSettings().Checklist("proof_of_address") {
		form.Add("items", it.Key)
		form.Add("ticked", it.Key)
	}
	if r := page(t, b.app, ann, "POST", path+"/checklist", form); r.Status != 303 {
		t.Fatalf("checklist form: %d %s", r.Status, r.Body)
	}
	if r := page(t, b.app, ann, "POST", path+"/decision", url.Values{"decision": {"approve"}}); r.Status != 303 || !strings.Contains(r.Header.Get("Location"), "notice=approved") {
		t.Fatalf("approve form: %d %s", r.Status, r.Header)
	}
	r = page(t, b.app, ann, "GET", path, nil)
	if !strings.Contains(string(r.Body), "Decided: <strong>approved</strong>") {
		t.Fatalf("decided page:\n%s", r.Body)
	}
	// A form without its CSRF token is refused.
	r = pageWithoutCSRF(t, b, ann, path+"/release", url.Values{})
	if r.Status != 403 {
		t.Fatalf("form without CSRF: %d", r.Status)
	}
}

func TestSettingsPageAndAPIAreAdminOnlyValidatedAndAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.addOfficer(t, "Ada Admin", "admin")
	var st Settings
	do(t, b.app, "GET", "/api/v1/settings/kyc", admin.token, nil).Decode(t, &st)
	if st.SLAHours != 24 || len(st.RequiredDocuments) != 2 {
		t.Fatalf("defaults: %+v", st)
	}
	st.SLAHours, st.FourEyes, st.HighRiskCountries = 48, true, []string{"KP", "IR", "KP"}
	r := do(t, b.app, "PUT", "/api/v1/settings/kyc", admin.token, st)
	var saved Settings
	r.Decode(t, &saved)
	if r.Status != 200 || saved.SLAHours != 48 || !slices.Equal(saved.HighRiskCountries, []string{"IR", "KP"}) {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	st.SLAHours, st.HighRiskCountries = 0, []string{"Iran"}
	if r := do(t, b.app, "PUT", "/api/v1/settings/kyc", admin.token, st); r.Status != 422 || len(r.Problem().Errors) != 2 {
		t.Fatalf("invalid settings: %d %s", r.Status, r.Body)
	}
	// The page shows and saves the same settings.
	r = page(t, b.app, admin, "GET", "/backoffice/settings/kyc", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `value="48"`) || !strings.Contains(string(r.Body), "IR, KP") {
		t.Fatalf("settings page: %d\n%s", r.Status, r.Body)
	}
	form := url.Values{"sla_hours": {"12"}, "four_eyes": {"on"}, "high_risk_countries": {"mm, ir"},
		"required_documents": {"passport or national_id\nproof_of_address\nselfie"},
		"checklist_selfie":   {"photo_matches: Face matches\nLooks alive (optional)"}}
	if r := page(t, b.app, admin, "POST", "/backoffice/settings/kyc", form); r.Status != 303 {
		t.Fatalf("settings form: %d %s", r.Status, r.Body)
	}
	got, _ := b.kyc.Settings(context.Background(), b.ten)
	if got.SLAHours != 12 || !slices.Equal(got.HighRiskCountries, []string{"IR", "MM"}) || len(got.RequiredDocuments) != 3 ||
		len(got.Checklist("selfie")) != 2 || got.Checklist("selfie")[1] != (ChecklistItem{"looks_alive", "Looks alive", false}) || len(got.Checklist("passport")) != 0 {
		t.Fatalf("saved from the page: %+v", got)
	}
	form.Set("sla_hours", "forever")
	if r := page(t, b.app, admin, "POST", "/backoffice/settings/kyc", form); r.Status != 422 || !strings.Contains(string(r.Body), "sla_hours") {
		t.Fatalf("bad form: %d", r.Status)
	}
	// The page's save dropped KP from the high-risk countries and the passport checklist: a weakening, audited
	// under its own action.
	page2, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: "kyc.settings_"}, "", 10)
	if err != nil || len(page2.Rows) != 2 || page2.Rows[0].Action != ActionSettingsWeakened || page2.Rows[1].Action != ActionSettings {
		t.Fatalf("settings audited: %d %v", len(page2.Rows), err)
	}
}

func TestDemoSeedFillsTheQueueOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct{ name, country string }{{"Kenji", "JP"}, {"Amara", "NG"}} {
		id := b.addClient(t, c.name, c.country, clients.StatusEmailVerified)
		err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			return b.clients.TransitionTx(ctx, tx, b.ten, id, clients.StatusKYCSubmitted, "demo", audit.System("test"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		n, err := SeedDemo(context.Background(), b.kyc, b.docs, b.ten)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{6, 0}[round]; n != want {
			t.Fatalf("round %d uploaded %d, want %d", round, n, want)
		}
	}
	items, st, err := b.kyc.List(context.Background(), b.ten, Filter{}, nil, 50)
	if err != nil || len(items) != 6 || !st.FourEyes {
		t.Fatalf("demo queue: %d cases, settings %+v, %v", len(items), st, err)
	}
	overdueCases := 0
	for _, it := range items {
		if it.ClientCountry == "NG" && !fourEyes(st, it.ClientCountry) {
			t.Fatal("the Nigerian demo client must need four eyes")
		}
		if it.Overdue {
			overdueCases++
		}
	}
	if overdueCases != 3 || !items[0].Overdue {
		t.Fatalf("the demo queue should start with the first client's 3 overdue cases: %d overdue", overdueCases)
	}
}

func pageWithoutCSRF(t *testing.T, b *bundle, o officer, path string, form url.Values) reply {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "bd_backoffice", Value: o.token})
	return webtest.Send(t, b.app, req)
}

func TestErasureClearsTheOfficersMessagesToTheClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	id := b.addClient(t, "Mark", "DK", clients.StatusEmailVerified)
	caseID := b.upload(t, id, "selfie")
	claim(t, b, ann, caseID)
	if r := decide(t, b, ann, caseID, DecisionRequest{Decision: "more_info", Message: "Mark, your glasses hide your eyes."}); r.Status != 200 {
		t.Fatalf("more info: %d %s", r.Status, r.Body)
	}
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.kyc.EraseClientTx(ctx, tx, b.ten, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.kyc.Get(context.Background(), b.ten, caseID)
	if err != nil || c.Message != "" || c.Decision != DecisionMoreInfo {
		t.Fatalf("after erasure: %+v %v", c, err)
	}
}

func TestDecidingACaseWhoseDocumentExpiredMeanwhileClosesIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.addOfficer(t, "Ann Lee", "compliance")
	caseID := b.upload(t, b.addClient(t, "Liam", "IE", clients.StatusEmailVerified), "passport")
	claim(t, b, ann, caseID)
	tickAll(t, b, ann, caseID)
	c, _ := b.kyc.Get(context.Background(), b.ten, caseID)
	// What the documents module's daily expiry job does to a document past its date.
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE documents SET status = 'expired', expired_at = now() WHERE id = $1`, c.DocumentID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := decide(t, b, ann, caseID, DecisionRequest{Decision: "approve"})
	if r.Status != 409 || r.Problem().Type != "/problems/document-not-pending" {
		t.Fatalf("approve an expired document: %d %s", r.Status, r.Body)
	}
	if c, _ := b.kyc.Get(context.Background(), b.ten, caseID); c.Status != StatusDecided || c.Decision != DecisionSuperseded {
		t.Fatalf("the stale case stays in the queue: %+v", c)
	}
}

func TestAnAdminReturnsACaseAnotherOfficerHoldsToTheQueueAndAnotherOfficerCannot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, bob, ada := b.addOfficer(t, "Ann Lee", "compliance"), b.addOfficer(t, "Bob Ray", "compliance"), b.addOfficer(t, "Ada Admin", "admin")
	client := b.addClient(t, "Kenji", "JP", clients.StatusEmailVerified)
	caseID := b.upload(t, client, "passport")
	path := "/backoffice/kyc/cases/" + caseID.String()
	if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/claim", ann.token, nil); r.Status != 200 {
		t.Fatalf("claim: %d %s", r.Status, r.Body)
	}
	// Another compliance officer is told who holds it, on the page and through the API.
	if r := page(t, b.app, bob, "GET", path, nil); r.Status != 200 || strings.Contains(string(r.Body), `id="reassign"`) {
		t.Fatalf("bob's review page: %d, offers the return: %v", r.Status, strings.Contains(string(r.Body), `id="reassign"`))
	}
	if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/release", bob.token, nil); r.Status != 409 {
		t.Fatalf("release by another officer: %d %s", r.Status, r.Body)
	}
	// The admin sees who holds it and takes it back from the page.
	r := page(t, b.app, ada, "GET", path, nil)
	if body := string(r.Body); r.Status != 200 || !strings.Contains(body, `id="reassign"`) || !strings.Contains(body, "Ann Lee holds this case") {
		t.Fatalf("the admin's review page: %d\n%.3000s", r.Status, body)
	}
	if r := page(t, b.app, ada, "POST", path+"/release", url.Values{}); r.Status != 303 || !strings.Contains(r.Header.Get("Location"), "notice=released") {
		t.Fatalf("the admin's release: %d %s", r.Status, r.Body)
	}
	c, err := b.kyc.Get(context.Background(), b.ten, caseID)
	if err != nil || c.Status != StatusOpen || c.HolderID != nil {
		t.Fatalf("after the admin's release: %+v %v", c, err)
	}
	rows, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: ActionReleased}, "", 10)
	if err != nil || len(rows.Rows) != 1 || rows.Rows[0].Actor.ID != ada.id.String() || !strings.Contains(string(rows.Rows[0].Diff), ann.id.String()) {
		t.Fatalf("the release's audit entry: %+v %v (want the admin as actor and Ann's id in the diff)", rows.Rows, err)
	}
	// An open case is nobody's to release, not even an admin's.
	if r := do(t, b.app, "POST", "/api/v1/kyc/cases/"+caseID.String()+"/release", ada.token, nil); r.Status != 409 {
		t.Fatalf("releasing an open case: %d %s", r.Status, r.Body)
	}
}
