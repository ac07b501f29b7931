package clients_test

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

var (
	hannah = audit.Ref{Name: "Hannah Schmidt", Href: "/backoffice/clients/c1"}
	colin  = audit.Ref{Name: "Colin Compliance", Href: "/backoffice/audit?actor=staff%3As1"}
	system = audit.Ref{Name: "BrokerDesk"}
)

// tell reads one row of action as the trail's pages do, with its diff made as Record makes it.
func tell(t *testing.T, phrases []audit.Phrase, action string, actorKind audit.ActorKind, actor, target audit.Ref, before, after any) audit.Told {
	t.Helper()
	svc := audit.NewService(nil)
	svc.Phrases(phrases...)
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	diff, err := audit.Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	row := audit.Row{Action: action, Actor: audit.Actor{Kind: actorKind, ID: "a1"}, Target: audit.Target{Type: "client", ID: "c1"}, Diff: diff}
	return svc.TellOne(audit.NewEvent(row, actor, target))
}

func TestClientActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	cases := []struct {
		action        string
		kind          audit.ActorKind
		actor         audit.Ref
		before, after any
		want          string
	}{
		{clients.ActionRegistered, audit.ActorClient, hannah, nil, m{"email": "h@example.com"}, "Hannah Schmidt registered on the portal"},
		{clients.ActionStatusChanged, audit.ActorStaff, colin, m{"status": "kyc_submitted"}, m{"status": "kyc_approved", "reason": "KYC approved: every required document approved"},
			"Status of Hannah Schmidt changed from KYC submitted to KYC approved by Colin Compliance: every required document approved"},
		{clients.ActionStatusChanged, audit.ActorSystem, system, m{"status": "kyc_submitted"}, m{"status": "kyc_approved", "reason": "all required documents approved"},
			"Status of Hannah Schmidt changed from KYC submitted to KYC approved by BrokerDesk: all required documents approved"},
		{clients.ActionStatusChanged, audit.ActorClient, hannah, m{"status": "email_verified"}, m{"status": "kyc_submitted", "reason": "KYC document submitted: Passport"},
			"Status of Hannah Schmidt changed from Email verified to KYC submitted: KYC document submitted: Passport"},
		{clients.ActionStatusChanged, audit.ActorStaff, colin, m{"status": "kyc_approved"}, m{"status": "suspended"},
			"Status of Hannah Schmidt changed from KYC approved to Suspended by Colin Compliance"},
		{clients.ActionEmailVerified, audit.ActorClient, hannah, nil, nil, "Hannah Schmidt verified their email address"},
		{clients.ActionAssigned, audit.ActorSystem, system, m{"tier": ""}, m{"tier": "pro", "manager_id": "s2", "manager_assignment": "round_robin"},
			"BrokerDesk gave Hannah Schmidt the tier pro and an account manager (round_robin)"},
		{clients.ActionAssigned, audit.ActorSystem, system, m{"tier": ""}, m{"tier": "standard", "manager_id": nil},
			"BrokerDesk gave Hannah Schmidt the tier standard and no account manager (nobody to assign)"},
		{clients.ActionVerificationSent, audit.ActorSystem, system, nil, m{"expires_at": "2026-03-01T00:00:00Z"},
			"BrokerDesk emailed Hannah Schmidt a link to verify their email address"},
		{clients.ActionSettingsChanged, audit.ActorStaff, colin, m{"minimum_age": 18}, m{"minimum_age": 21}, "Colin Compliance changed the onboarding settings"},
		{clients.ActionSettingsWeakened, audit.ActorStaff, colin, m{"minimum_age": 21}, m{"minimum_age": 18, audit.WeakenedKey: []string{"minimum age lowered from 21 to 18"}},
			"Colin Compliance weakened the onboarding settings: minimum age lowered from 21 to 18"},
	}
	for _, c := range cases {
		told := tell(t, clients.Phrases(), c.action, c.kind, c.actor, hannah, c.before, c.after)
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
	told := tell(t, clients.Phrases(), clients.ActionStatusChanged, audit.ActorStaff, colin, hannah, m{"status": "kyc_approved"}, m{"status": "restricted", "reason": "a <b>"})
	if got := string(told.Sentence.HTML()); got != `Status of <a href="/backoffice/clients/c1">Hannah Schmidt</a> changed from KYC approved to Restricted by <a href="/backoffice/audit?actor=staff%3As1">Colin Compliance</a>: a &lt;b&gt;` {
		t.Errorf("html: %s", got)
	}
}
