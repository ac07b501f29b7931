package kyc

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func TestReviewActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	colin := audit.Ref{Name: "Colin Compliance"}
	dana := audit.Ref{Name: "Dana Demo"}
	review := audit.Ref{Name: "passport review", Href: "/backoffice/kyc/cases/k1"}
	cases := []struct {
		action        string
		actor         audit.Ref
		before, after any
		want          string
	}{
		{ActionOpened, dana, nil, m{"status": "open"}, "The upload by Dana Demo opened a passport review"},
		{ActionClaimed, colin, m{"status": "open"}, m{"status": "claimed"}, "Colin Compliance claimed the passport review"},
		{ActionReleased, colin, m{"status": "claimed"}, m{"status": "open"}, "Colin Compliance returned the passport review to the queue"},
		{ActionChecklist, colin, m{"status": "claimed"}, m{"status": "claimed", "ticked": []string{"photo_matches", "not_expired"}},
			"Colin Compliance ticked 2 checklist items of the passport review"},
		{ActionChecklist, colin, m{"ticked": []string{"photo_matches"}}, m{"status": "claimed"}, "Colin Compliance ticked 0 checklist items of the passport review"},
		{ActionFirstApproved, colin, m{"status": "claimed"}, m{"status": "open", "first_approver_id": "s1"},
			"Colin Compliance gave the passport review its first approval; a second officer must approve it (four-eyes)"},
		{ActionApproved, colin, m{"status": "claimed"}, m{"status": "decided", "decision": "approved"}, "Colin Compliance closed the passport review: approved"},
		{ActionRejected, colin, m{"status": "claimed"}, m{"status": "decided", "decision": "rejected", "reason_code": "suspected_forgery"},
			"Colin Compliance closed the passport review: rejected, suspected forgery or tampering"},
		{ActionMoreInfo, colin, m{"status": "claimed"}, m{"status": "decided", "decision": "more_info_requested"},
			"Colin Compliance closed the passport review: more information requested"},
		{ActionSuperseded, audit.Ref{Name: "BrokerDesk"}, m{"status": "open"}, m{"status": "decided", "decision": "superseded"},
			"BrokerDesk closed the passport review: a newer upload replaced the document"},
		{ActionSettings, colin, m{"sla_hours": 24}, m{"sla_hours": 12}, "Colin Compliance changed the KYC settings"},
		{ActionSettingsWeakened, colin, m{"four_eyes": true}, m{"four_eyes": false, audit.WeakenedKey: []string{"four-eyes off", "NG no longer high risk"}},
			"Colin Compliance weakened the KYC settings: four-eyes off; NG no longer high risk"},
	}
	svc := audit.NewService(nil)
	svc.Phrases(Phrases()...)
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		diff, err := audit.Diff(c.before, c.after)
		if err != nil {
			t.Fatal(err)
		}
		told := svc.TellOne(audit.NewEvent(audit.Row{Action: c.action, Diff: diff}, c.actor, review))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
	// On the audit page a review says whose it is, unless its client acted.
	owned := review
	owned.Owner = &audit.Ref{Name: "Dana Demo", Href: "/backoffice/clients/c1"}
	diff, _ := audit.Diff(nil, map[string]any{"status": "claimed"})
	for actor, want := range map[audit.Ref]string{colin: "Colin Compliance claimed the passport review of Dana Demo",
		{Name: "Dana Demo", Href: "/backoffice/clients/c1"}: "Dana Demo claimed the passport review"} {
		if got := svc.TellOne(audit.NewEvent(audit.Row{Action: ActionClaimed, Diff: diff}, actor, owned)).Sentence.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
