package partners

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func TestPartnerActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	ivan := audit.Ref{Name: "Ivan IB-Manager", Href: "/backoffice/audit?actor=staff%3As1"}
	charlie := audit.Ref{Name: "Charlie Trading Club"}
	dora := audit.Ref{Name: "Dora Trader", Href: "/backoffice/clients/c1"}
	system := audit.Ref{Name: "BrokerDesk"}
	type m = map[string]any
	for _, c := range []struct {
		action        string
		actor, target audit.Ref
		before, after any
		want          string
	}{
		{ActionCreated, ivan, charlie, nil, m{"name": "Charlie Trading Club", "status": "active", "plan": "Standard IB", "parent": "Bravo Introducers", "code": "IB-CHARLIE"},
			"Ivan IB-Manager made Charlie Trading Club a partner under Bravo Introducers on the plan Standard IB, with the code IB-CHARLIE"},
		{ActionApplied, dora, charlie, nil, m{"name": "Dora Trader", "status": "applied"}, "Dora Trader applied to become a partner"},
		{ActionApproved, ivan, charlie, m{"status": "applied"}, m{"status": "active", "plan": "Standard IB"},
			"Ivan IB-Manager approved the partner Charlie Trading Club on the plan Standard IB"},
		{ActionRejected, ivan, charlie, m{"status": "applied"}, m{"status": "rejected", "note": "no website yet"},
			"Ivan IB-Manager rejected the partner application of Charlie Trading Club: no website yet"},
		{ActionCodeAdded, ivan, charlie, nil, m{"code": "CTC-2", "campaign": "webinar"}, "Ivan IB-Manager gave Charlie Trading Club the referral code CTC-2 (campaign webinar)"},
		{ActionMoved, ivan, charlie, m{"parent": "Bravo Introducers"}, m{"to": "Atlas Partners", "effective": "1 December 2026 00:00 UTC", "reason": "reports to Atlas"},
			"Ivan IB-Manager moved the partner Charlie Trading Club under Atlas Partners from 1 December 2026 00:00 UTC: reports to Atlas"},
		{ActionPlanSet, ivan, charlie, m{"plan": ""}, m{"plan": "Gold IB"}, "Ivan IB-Manager put the partner Charlie Trading Club on the plan Gold IB"},
		{ActionClientAttributed, system, dora, m{"partner": ""}, m{"to": "Charlie Trading Club", "code": "ib-charlie", "source": "registration"},
			"Dora Trader registered with the code ib-charlie and is attributed to Charlie Trading Club"},
		{ActionClientAttributed, system, dora, m{"partner": ""}, m{"code": "NOPE", "source": "registration"},
			"Dora Trader registered with the code NOPE, which no partner holds"},
		{ActionClientAttributed, ivan, dora, m{"partner": "Charlie Trading Club"}, m{"to": "", "source": "staff", "effective": "1 December 2026 00:00 UTC", "reason": "left the IB"},
			"Ivan IB-Manager attributed Dora Trader to no partner from 1 December 2026 00:00 UTC: left the IB"},
		{ActionPlanSaved, ivan, audit.Ref{Name: "Standard IB"}, nil, m{"name": "Standard IB", "currency": "USD", "version": 1}, "Ivan IB-Manager made the commission plan Standard IB in USD"},
		{ActionPlanSaved, ivan, audit.Ref{Name: "Standard IB"}, m{"version": 1}, m{"version": 2}, "Ivan IB-Manager changed the commission plan Standard IB (version 2)"},
		{ActionSettingsChanged, ivan, audit.Ref{Name: "symbol_suffixes"}, m{"symbol_suffixes": []string{}}, m{"symbol_suffixes": []string{"m"}},
			"Ivan IB-Manager changed the symbol suffixes commission plans ignore"},
		{ActionSettingsChanged, ivan, audit.Ref{Name: "referred_client_display"}, m{"referred_client_display": "masked_email"}, m{"referred_client_display": "masked_name"},
			"Ivan IB-Manager let partners see the clients they referred by the first name and the last name's initial (Sofia R.) (before: the email masked (s***@example.com))"},
	} {
		svc := audit.NewService(nil)
		svc.Phrases(Phrases()...)
		if err := svc.PhrasesErr(); err != nil {
			t.Fatal(err)
		}
		diff, err := audit.Diff(c.before, c.after)
		if err != nil {
			t.Fatal(err)
		}
		row := audit.Row{Action: c.action, Actor: audit.Actor{Kind: audit.ActorStaff, ID: "a1"}, Target: audit.Target{Type: partnerTarget, ID: "p1"}, Diff: diff}
		told := svc.TellOne(audit.NewEvent(row, c.actor, c.target))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}
