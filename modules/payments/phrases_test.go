package payments

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func TestMoneyInActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	fiona := audit.Ref{Name: "Fiona Finance"}
	hannah := audit.Ref{Name: "Hannah Schmidt", Href: "/backoffice/clients/c1"}
	system := audit.Ref{Name: "BrokerDesk"}
	deposit := audit.Ref{Name: "deposit of 500.00 USD", Href: "/backoffice/deposits/d1"}
	kase := audit.Ref{Name: "amount differs case", Href: "/backoffice/payments/exceptions/e1"}
	gateway := audit.Ref{Name: "Cards (Stripe)", Href: "/backoffice/settings/payments"}
	cases := []struct {
		action        string
		actor, target audit.Ref
		system        bool
		before, after any
		want          string
	}{
		{ActionDepositStarted, hannah, deposit, false, nil, m{"gateway": "card", "amount": "500.00", "currency": "USD"},
			"Hannah Schmidt started a deposit of 500.00 USD through card"},
		{ActionDepositCompleted, system, deposit, true, m{"status": "pending"}, m{"status": "completed", "deposit_number": 1},
			"The deposit of 500.00 USD was credited to the wallet (the first deposit)"},
		{ActionDepositCompleted, system, deposit, true, m{"status": "pending"}, m{"status": "completed", "deposit_number": 2},
			"The deposit of 500.00 USD was credited to the wallet (deposit number 2)"},
		{ActionDepositCompleted, fiona, deposit, false, m{"status": "awaiting_approval"}, m{"status": "completed", "deposit_number": 3},
			"The deposit of 500.00 USD was credited to the wallet (deposit number 3) by Fiona Finance"},
		{ActionDepositFailed, system, deposit, true, m{"status": "pending"}, m{"status": "failed", "failure": "The card was declined."},
			"The deposit of 500.00 USD failed: The card was declined"},
		{ActionDepositRecorded, fiona, deposit, false, nil, m{"bank_reference": "BANK-42", "needs_second_approval": true},
			"Fiona Finance recorded a bank deposit of 500.00 USD (bank reference BANK-42); a second approver must confirm it (four-eyes)"},
		{ActionDepositRecorded, fiona, deposit, false, nil, m{"bank_reference": "BANK-43", "needs_second_approval": false,
			"evidence_name": "statement.pdf", "evidence_type": "application/pdf", "evidence_size": 48213},
			"Fiona Finance recorded a bank deposit of 500.00 USD (bank reference BANK-43) with the bank statement attached"},
		{ActionEvidenceViewed, fiona, deposit, false, nil, m{"client_id": "c1", "content_type": "application/pdf", "size": 48213, "link_ttl_seconds": 300},
			"Fiona Finance opened the bank statement of the deposit of 500.00 USD"},
		{ActionDepositApproved, fiona, deposit, false, m{"status": "awaiting_approval"}, m{"approved_by": "s2"},
			"Fiona Finance approved the deposit of 500.00 USD as second approver"},
		{ActionDepositRejected, fiona, deposit, false, m{"status": "awaiting_approval"}, m{"status": "cancelled", "reason": "No such transfer."},
			"Fiona Finance rejected the deposit of 500.00 USD: No such transfer"},
		{ActionExceptionOpened, system, kase, true, nil, m{"kind": "amount_mismatch", "amount": "450.00", "currency": "USD", "assignee_id": "s1"},
			"A payment exception opened: amount differs case for 450.00 USD"},
		{ActionExceptionOpened, system, kase, true, nil, m{"kind": "amount_mismatch", "assignee_id": nil},
			"A payment exception opened: amount differs case, not yet assigned (no active finance staff)"},
		{ActionExceptionResolved, fiona, kase, false, m{"status": "open"}, m{"status": "resolved", "resolution": "written_off", "note": "Test payment."},
			"Fiona Finance resolved the amount differs case: written off (Test payment)"},
		{ActionExceptionResolved, fiona, kase, false, m{"status": "open"}, m{"status": "resolved", "resolution": "matched"},
			"Fiona Finance resolved the amount differs case: credited to the client from suspense"},
		{ActionGatewaySaved, fiona, gateway, false, nil, m{"name": "Cards (Stripe)", "kind": "stripe", "enabled": true, "keys_rotated": true},
			"Fiona Finance added the payment gateway Cards (Stripe) and rotated its keys"},
		{ActionGatewaySaved, fiona, gateway, false, m{"name": "Cards (Stripe)", "enabled": true}, m{"name": "Cards (Stripe)", "enabled": false},
			"Fiona Finance changed the payment gateway Cards (Stripe); it no longer takes payments"},
		{ActionSettingsChanged, fiona, audit.Ref{Name: "payments"}, false, m{"manual_approval_above": "1000"}, m{"manual_approval_above": "500"},
			"Fiona Finance changed the money-in settings"},
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
		row := audit.Row{Action: c.action, Diff: diff, Actor: audit.Actor{Kind: audit.ActorStaff, ID: "s1"}}
		if c.system {
			row.Actor = systemActor
		}
		told := svc.TellOne(audit.NewEvent(row, c.actor, c.target))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
	// On the audit page a deposit says whose it is, unless its client acted.
	owned := deposit
	owned.Owner = &hannah
	diff, _ := audit.Diff(m{"status": "awaiting_approval"}, m{"approved_by": "s2"})
	row := audit.Row{Action: ActionDepositApproved, Diff: diff, Actor: audit.Actor{Kind: audit.ActorStaff, ID: "s1"}}
	if got := svc.TellOne(audit.NewEvent(row, fiona, owned)).Sentence.String(); got != "Fiona Finance approved the deposit of 500.00 USD of Hannah Schmidt as second approver" {
		t.Errorf("owned deposit: %q", got)
	}
}
