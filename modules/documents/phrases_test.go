package documents_test

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

func TestDocumentActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	dana := audit.Ref{Name: "Dana Demo", Href: "/backoffice/clients/c1"}
	colin := audit.Ref{Name: "Colin Compliance"}
	system := audit.Ref{Name: "BrokerDesk"}
	passport := audit.Ref{Name: "passport", Href: "/backoffice/clients/c1?tab=documents"}
	proof := audit.Ref{Name: "proof of address", Href: "/backoffice/clients/c1?tab=documents", Owner: &dana}
	owned := passport
	owned.Owner = &dana
	cases := []struct {
		action        string
		actor, target audit.Ref
		before, after any
		want          string
	}{
		{documents.ActionUploaded, dana, proof, nil, m{"type": "proof_of_address", "status": "pending_review", "file_name": "bill.pdf"},
			"Dana Demo uploaded a proof of address (bill.pdf)"},
		{documents.ActionUploaded, dana, audit.Ref{Name: "ID card"}, nil, m{"status": "pending_review"}, "Dana Demo uploaded an ID card"},
		{documents.ActionViewed, colin, passport, nil, m{"type": "passport"}, "Colin Compliance viewed the passport"},
		{documents.ActionApproved, colin, passport, m{"status": "pending_review"}, m{"status": "approved"}, "Colin Compliance approved the passport"},
		{documents.ActionApproved, colin, owned, m{"status": "pending_review"}, m{"status": "approved"}, "Colin Compliance approved the passport of Dana Demo"},
		{documents.ActionRejected, colin, passport, m{"status": "pending_review"}, m{"status": "rejected", "reason_code": "unreadable", "message": "We could not read the document."},
			"Colin Compliance rejected the passport: We could not read the document."},
		{documents.ActionMoreInfoRequested, colin, proof, m{"status": "pending_review"}, m{"status": "more_info_requested", "message": "Send page 2."},
			"Colin Compliance asked for more about the proof of address of Dana Demo: Send page 2."},
		{documents.ActionSuperseded, dana, passport, m{"status": "pending_review"}, m{"status": "superseded"}, "Dana Demo uploaded a newer one, which replaces the passport"},
		{documents.ActionSuperseded, colin, passport, m{"status": "approved"}, m{"status": "superseded"}, "Colin Compliance approved a newer one, which replaces the approved passport"},
		{documents.ActionExpiring, system, passport, nil, m{"expires_on": "2026-07-01", "client_emailed": true},
			"BrokerDesk flagged the passport as expiring on 2026-07-01 and asked the client for a new one"},
		{documents.ActionExpired, system, passport, m{"status": "approved"}, m{"status": "expired", "expires_on": "2026-07-01"},
			"BrokerDesk marked the passport expired (valid until 2026-07-01)"},
		{documents.ActionSettings, colin, audit.Ref{Name: "settings"}, m{"expiry_notice_days": 30}, m{"expiry_notice_days": 20}, "Colin Compliance changed the document settings"},
	}
	svc := audit.NewService(nil)
	svc.Phrases(documents.Phrases()...)
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		diff, err := audit.Diff(c.before, c.after)
		if err != nil {
			t.Fatal(err)
		}
		told := svc.TellOne(audit.NewEvent(audit.Row{Action: c.action, Diff: diff}, c.actor, c.target))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}
