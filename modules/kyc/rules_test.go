package kyc

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

func TestClientMovesAsTheReviewRuleSays(t *testing.T) {
	t.Parallel()
	type want struct {
		to clients.Status
		ok bool
	}
	stay := func(s clients.Status) want { return want{s, false} }
	move := func(s clients.Status) want { return want{s, true} }
	cases := []struct {
		from clients.Status
		ev   event
		want want
	}{
		{clients.StatusEmailVerified, eventSubmitted, move(clients.StatusKYCSubmitted)},
		{clients.StatusKYCMoreInfo, eventSubmitted, move(clients.StatusKYCSubmitted)},
		{clients.StatusKYCRejected, eventSubmitted, move(clients.StatusKYCSubmitted)},
		{clients.StatusKYCSubmitted, eventSubmitted, stay(clients.StatusKYCSubmitted)},
		{clients.StatusKYCApproved, eventSubmitted, stay(clients.StatusKYCApproved)},
		{clients.StatusSuspended, eventSubmitted, stay(clients.StatusSuspended)},
		{clients.StatusKYCSubmitted, eventMoreInfo, move(clients.StatusKYCMoreInfo)},
		{clients.StatusKYCMoreInfo, eventMoreInfo, stay(clients.StatusKYCMoreInfo)},
		{clients.StatusKYCApproved, eventMoreInfo, stay(clients.StatusKYCApproved)},
		{clients.StatusKYCSubmitted, eventRejectedCurable, move(clients.StatusKYCMoreInfo)},
		{clients.StatusKYCRejected, eventRejectedCurable, stay(clients.StatusKYCRejected)},
		{clients.StatusKYCSubmitted, eventRejectedIncurable, move(clients.StatusKYCRejected)},
		{clients.StatusKYCMoreInfo, eventRejectedIncurable, move(clients.StatusKYCRejected)},
		{clients.StatusKYCApproved, eventRejectedIncurable, stay(clients.StatusKYCApproved)},
		{clients.StatusKYCSubmitted, eventAllApproved, move(clients.StatusKYCApproved)},
		{clients.StatusKYCMoreInfo, eventAllApproved, stay(clients.StatusKYCMoreInfo)},
		{clients.StatusKYCRejected, eventAllApproved, stay(clients.StatusKYCRejected)},
		{clients.StatusRestricted, eventAllApproved, stay(clients.StatusRestricted)},
		{clients.StatusClosed, eventAllApproved, stay(clients.StatusClosed)},
	}
	for _, c := range cases {
		to, ok := clientMove(c.from, c.ev)
		if to != c.want.to || ok != c.want.ok {
			t.Errorf("clientMove(%s, %d) = %s, %v; want %s, %v", c.from, c.ev, to, ok, c.want.to, c.want.ok)
		}
		if ok && !clients.CanMove(c.from, to) {
			t.Errorf("clientMove(%s, %d) = %s, which the clients lifecycle does not allow", c.from, c.ev, to)
		}
	}
}

func TestEveryRuleMoveIsOneTheLifecycleAllows(t *testing.T) {
	t.Parallel()
	for _, from := range clients.Statuses {
		for ev := eventSubmitted; ev <= eventAllApproved; ev++ {
			if to, ok := clientMove(from, ev); ok && !clients.CanMove(from, to) {
				t.Errorf("%s -> %s (event %d) is not in clients.Transitions", from, to, ev)
			}
		}
	}
}

func TestRequiredDocumentsNeedOneApprovedDocumentPerGroup(t *testing.T) {
	t.Parallel()
	req := DefaultSettings().RequiredDocuments
	doc := func(typ documents.Type, st documents.Status) documents.Document {
		return documents.Document{Type: typ, Status: st}
	}
	cases := []struct {
		name string
		docs []documents.Document
		want bool
	}{
		{"nothing", nil, false},
		{"passport only", []documents.Document{doc("passport", "approved")}, false},
		{"passport and address", []documents.Document{doc("passport", "approved"), doc("proof_of_address", "approved")}, true},
		{"licence and address", []documents.Document{doc("driving_licence", "approved"), doc("proof_of_address", "approved")}, true},
		{"address pending", []documents.Document{doc("passport", "approved"), doc("proof_of_address", "pending_review")}, false},
		{"identity rejected", []documents.Document{doc("passport", "rejected"), doc("proof_of_address", "approved")}, false},
		{"identity expired", []documents.Document{doc("national_id", "expired"), doc("proof_of_address", "approved")}, false},
		{"selfie is not identity", []documents.Document{doc("selfie", "approved"), doc("proof_of_address", "approved")}, false},
	}
	for _, c := range cases {
		if got := requirementsMet(req, c.docs); got != c.want {
			t.Errorf("%s: requirementsMet = %v, want %v", c.name, got, c.want)
		}
	}
	if requirementsMet(nil, []documents.Document{doc("passport", "approved")}) {
		t.Error("an empty requirement list approves nobody")
	}
}

func TestOverdueIsWaitingLongerThanTheSLA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sla := 24 * time.Hour
	cases := []struct {
		waited time.Duration
		want   bool
	}{{0, false}, {23 * time.Hour, false}, {sla, false}, {sla + time.Second, true}, {72 * time.Hour, true}}
	for _, c := range cases {
		if got := overdue(now.Add(-c.waited), now, sla); got != c.want {
			t.Errorf("waited %s: overdue = %v, want %v", c.waited, got, c.want)
		}
	}
}

func TestFourEyesAppliesOnlyWithTheSwitchAndAHighRiskCountry(t *testing.T) {
	t.Parallel()
	st := DefaultSettings()
	st.HighRiskCountries = []string{"IR", "KP"}
	if fourEyes(st, "IR") {
		t.Error("four-eyes with the switch off")
	}
	st.FourEyes = true
	if !fourEyes(st, "KP") || fourEyes(st, "DE") {
		t.Error("four-eyes must apply to high-risk countries only")
	}
}

func TestDecisionInputIsValidated(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     DecisionInput
		fields []string
	}{
		{DecisionInput{Verdict: VerdictApprove}, nil},
		{DecisionInput{Verdict: VerdictApprove, ReasonCode: "unreadable"}, []string{"reason_code"}},
		{DecisionInput{Verdict: VerdictReject, ReasonCode: "document_expired"}, nil},
		{DecisionInput{Verdict: VerdictReject, ReasonCode: "suspected_forgery", Message: "See the MRZ."}, nil},
		{DecisionInput{Verdict: VerdictReject}, []string{"reason_code"}},
		{DecisionInput{Verdict: VerdictReject, ReasonCode: "looks_odd"}, []string{"reason_code"}},
		{DecisionInput{Verdict: VerdictReject, ReasonCode: "unreadable", Message: strings.Repeat("x", maxRejectNoteLen+1)}, []string{"message"}},
		{DecisionInput{Verdict: VerdictMoreInfo, Message: "Please send the back side."}, nil},
		{DecisionInput{Verdict: VerdictMoreInfo, Message: "   "}, []string{"message"}},
		{DecisionInput{Verdict: VerdictMoreInfo, Message: strings.Repeat("x", maxMessageLen+1)}, []string{"message"}},
		{DecisionInput{Verdict: "maybe"}, []string{"decision"}},
	}
	for _, c := range cases {
		var f web.Fields
		c.in.Validate(&f)
		var got []string
		if err := f.Err(); err != nil {
			for _, fe := range err.(*validation.Error).Fields {
				got = append(got, fe.Field)
			}
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%+v: fields %v, want %v", c.in, got, c.fields)
		}
	}
}

func TestEveryReasonHasPlainWordsAndOnlyForgeryIsIncurable(t *testing.T) {
	t.Parallel()
	for _, r := range Reasons {
		if r.Text == "" || r.Label == "" || strings.Contains(r.Text, "_") {
			t.Errorf("%s: needs a label and plain words", r.Code)
		}
		if r.Curable == (r.Code == "suspected_forgery") {
			t.Errorf("%s: curable = %v", r.Code, r.Curable)
		}
	}
	for _, code := range []ReasonCode{"document_expired", "unreadable", "name_mismatch", "wrong_document_type", "suspected_forgery", "address_too_old"} {
		if _, ok := ReasonFor(code); !ok {
			t.Errorf("reason %s missing", code)
		}
	}
}

func TestDefaultSettingsAreValid(t *testing.T) {
	t.Parallel()
	var f web.Fields
	DefaultSettings().Validate(&f)
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	st := DefaultSettings()
	keys := func(typ documents.Type) []string {
		var out []string
		for _, it := range st.Checklist(typ) {
			out = append(out, it.Key)
		}
		return out
	}
	for _, want := range []struct {
		typ documents.Type
		key string
	}{{"passport", "name_matches"}, {"passport", "dob_matches"}, {"passport", "not_expired"},
		{"proof_of_address", "address_dated_within_3_months"}, {"selfie", "photo_matches"}} {
		if !slices.Contains(keys(want.typ), want.key) {
			t.Errorf("default %s checklist lacks %s", want.typ, want.key)
		}
	}
}

func TestSettingsValidationNamesEveryBadField(t *testing.T) {
	t.Parallel()
	st := Settings{SLAHours: 0, Checklists: map[documents.Type][]ChecklistItem{
		"passport": {{"Bad Key", "x", true}, {"ok", "", true}, {"dup", "a", true}, {"dup", "b", false}},
		"visa":     {{"ok", "x", true}},
	}, RequiredDocuments: [][]documents.Type{{}, {"tax_return"}}, HighRiskCountries: []string{"ir"}}
	var f web.Fields
	st.Validate(&f)
	var got []string
	for _, fe := range f.Err().(*validation.Error).Fields {
		got = append(got, fe.Field)
	}
	slices.Sort(got)
	want := []string{"checklists.passport[0].key", "checklists.passport[1].label", "checklists.passport[3].key", "checklists.visa",
		"high_risk_countries", "required_documents[0]", "required_documents[1]", "sla_hours"}
	if !slices.Equal(got, want) {
		t.Errorf("fields %v\nwant %v", got, want)
	}
}

func TestSettingsFormTextRoundTrips(t *testing.T) {
	t.Parallel()
	items := DefaultSettings().Checklist("selfie")
	if got := parseChecklist(checklistText(items)); !slices.Equal(got, items) {
		t.Errorf("checklist round trip: %+v, want %+v", got, items)
	}
	got := parseChecklist("Bill is recent!\n\n  3 stamps visible (optional)\nname_matches: Name matches\n")
	want := []ChecklistItem{{"bill_is_recent", "Bill is recent!", true}, {"item_3_stamps_visible", "3 stamps visible", false}, {"name_matches", "Name matches", true}}
	if !slices.Equal(got, want) {
		t.Errorf("parseChecklist = %+v, want %+v", got, want)
	}
	req := DefaultSettings().RequiredDocuments
	back := parseRequired(requiredText(req))
	if len(back) != len(req) || !slices.Equal(back[0], req[0]) || !slices.Equal(back[1], req[1]) {
		t.Errorf("required round trip: %v", back)
	}
	if got := parseCountries("ir, kp\nMM"); !slices.Equal(got, []string{"IR", "KP", "MM"}) {
		t.Errorf("countries: %v", got)
	}
}

func TestWaitedReadsLikeAPerson(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{7 * time.Minute: "7 min", 5*time.Hour + 12*time.Minute: "5 h 12 min", 76 * time.Hour: "3 d 4 h", -time.Second: "0 min"} {
		if got := waited(d); got != want {
			t.Errorf("waited(%s) = %q, want %q", d, got, want)
		}
	}
}
