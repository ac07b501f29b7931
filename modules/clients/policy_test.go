package clients_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// The whole gate, status by action, under the default rules and under each tenant rule that changes an answer.
func TestPolicyGateAnswersEveryStatusAndActionAsTheTableSays(t *testing.T) {
	t.Parallel()
	const dep, wd, demo, xfer = clients.ActionDeposit, clients.ActionWithdraw, clients.ActionOpenDemoAccount, clients.ActionInternalTransfer
	all := func(v bool) map[clients.Action]bool {
		m := map[clients.Action]bool{}
		for _, a := range clients.Actions {
			m[a] = v
		}
		return m
	}
	only := func(as ...clients.Action) map[clients.Action]bool {
		m := all(false)
		for _, a := range as {
			m[a] = true
		}
		return m
	}
	defaults := clients.Rules{DemoFromEmailVerified: true}
	strict := clients.Rules{}
	early := clients.Rules{AllowDepositsBeforeKYC: true, DemoFromEmailVerified: true}
	vipEarly := clients.Rules{DepositsBeforeKYCTiers: []string{"vip"}}
	type row struct {
		rules       clients.Rules
		tier        string
		kycApproved bool
		want        map[clients.Status]map[clients.Action]bool
	}
	rows := map[string]row{
		"default rules": {rules: defaults, want: map[clients.Status]map[clients.Action]bool{
			clients.StatusRegistered: all(false), clients.StatusEmailVerified: only(demo), clients.StatusKYCSubmitted: only(demo),
			clients.StatusKYCMoreInfo: only(demo), clients.StatusKYCRejected: all(false), clients.StatusKYCApproved: all(true),
			clients.StatusRestricted: all(false), clients.StatusSuspended: all(false), clients.StatusClosed: all(false)}},
		"restricted after an approval": {rules: defaults, kycApproved: true, want: map[clients.Status]map[clients.Action]bool{
			clients.StatusRestricted: only(wd, xfer), clients.StatusSuspended: all(false), clients.StatusClosed: all(false),
			clients.StatusKYCApproved: all(true), clients.StatusKYCMoreInfo: only(demo)}},
		"no demo before approval": {rules: strict, want: map[clients.Status]map[clients.Action]bool{
			clients.StatusRegistered: all(false), clients.StatusEmailVerified: all(false), clients.StatusKYCSubmitted: all(false),
			clients.StatusKYCMoreInfo: all(false), clients.StatusKYCRejected: all(false), clients.StatusKYCApproved: all(true)}},
		"deposits before KYC": {rules: early, want: map[clients.Status]map[clients.Action]bool{
			clients.StatusRegistered: all(false), clients.StatusEmailVerified: only(dep, demo), clients.StatusKYCSubmitted: only(dep, demo),
			clients.StatusKYCMoreInfo: only(demo), clients.StatusKYCRejected: all(false), clients.StatusKYCApproved: all(true),
			clients.StatusRestricted: all(false), clients.StatusSuspended: all(false), clients.StatusClosed: all(false)}},
		"deposits before KYC for the vip tier, a vip client": {rules: vipEarly, tier: "vip", want: map[clients.Status]map[clients.Action]bool{
			clients.StatusEmailVerified: only(dep), clients.StatusKYCSubmitted: only(dep), clients.StatusKYCMoreInfo: all(false)}},
		"deposits before KYC for the vip tier, a standard client": {rules: vipEarly, tier: "standard", want: map[clients.Status]map[clients.Action]bool{
			clients.StatusEmailVerified: all(false), clients.StatusKYCSubmitted: all(false)}},
	}
	for name, r := range rows {
		for st, actions := range r.want {
			for _, a := range clients.Actions {
				d := clients.Decide(clients.Input{Action: a, Status: st, KYCApproved: r.kycApproved, Tier: r.tier, Rules: r.rules})
				if d.Allowed != actions[a] || d.Action != a {
					t.Errorf("%s: %s may %s: %v (%q), want %v", name, st, a, d.Allowed, d.Reason, actions[a])
				}
				if len(d.Reason) < 20 || !strings.HasSuffix(d.Reason, ".") || strings.Contains(d.Reason, "_") {
					t.Errorf("%s: %s/%s: reason %q is not a sentence for a client", name, st, a, d.Reason)
				}
				if len(d.ForClient) < 15 || !strings.HasSuffix(d.ForClient, ".") || strings.Contains(d.ForClient, "The client") {
					t.Errorf("%s: %s/%s: %q does not speak to the client", name, st, a, d.ForClient)
				}
			}
		}
	}
	// Every status appears in the default table: a status added later without a row fails here.
	for _, st := range clients.Statuses {
		if _, ok := rows["default rules"].want[st]; !ok {
			t.Errorf("status %s has no row in the gate table", st)
		}
	}
	for _, in := range []clients.Input{{Action: "teleport", Status: clients.StatusKYCApproved}, {Action: dep, Status: "pending"}} {
		if d := clients.Decide(in); d.Allowed {
			t.Errorf("%+v allowed: unknown actions and statuses must be refused", in)
		}
	}
}

// The gate never allows what it does not know, and always says why.
func FuzzDecideRefusesTheUnknown(f *testing.F) {
	f.Add("deposit", "kyc_approved", "vip", true, true)
	f.Add("teleport", "registered", "", false, false)
	f.Fuzz(func(t *testing.T, action, status, tier string, early, demo bool) {
		in := clients.Input{Action: clients.Action(action), Status: clients.Status(status), Tier: tier,
			Rules: clients.Rules{AllowDepositsBeforeKYC: early, DemoFromEmailVerified: demo, DepositsBeforeKYCTiers: []string{tier}}}
		d := clients.Decide(in)
		if d.Reason == "" || d.ForClient == "" {
			t.Fatalf("%+v: no reason", in)
		}
		if d.Allowed && (!clients.Status(status).Valid() || !slices.Contains(clients.Actions, clients.Action(action))) {
			t.Fatalf("%+v allowed", in)
		}
		if d.Allowed && status != string(clients.StatusKYCApproved) && status != string(clients.StatusRestricted) &&
			action != string(clients.ActionDeposit) && action != string(clients.ActionOpenDemoAccount) {
			t.Fatalf("%+v allowed before KYC approval", in)
		}
	})
}
