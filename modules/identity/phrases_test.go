package identity_test

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

func TestSignInActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	colin := audit.Ref{Name: "Colin Compliance"}
	dana := audit.Ref{Name: "Dana Demo"}
	system := audit.Ref{Name: "BrokerDesk"}
	login := audit.Ref{Name: "dana@example.com"}
	staffUser, portalUser := "staff_user", "portal_user"
	cases := []struct {
		action, targetType, targetID string
		actor, target                audit.Ref
		after                        any
		want                         string
	}{
		{identity.ActionLoginSucceeded, staffUser, "s1", colin, colin, m{"second_factor": "totp"}, "Colin Compliance signed in to the back office with an authenticator code"},
		{identity.ActionLoginSucceeded, portalUser, "p1", dana, login, m{"second_factor": "none"}, "Dana Demo signed in to the portal"},
		{identity.ActionLoginFailed, staffUser, "unknown", system, audit.Ref{Name: "staff user unknown"}, m{"email": "who@example.com", "reason": "unknown_account"},
			"Someone failed to sign in to the back office as who@example.com, which has no account"},
		{identity.ActionLoginFailed, portalUser, "p1", dana, login, m{"reason": "password"}, "Dana Demo failed to sign in to the portal"},
		{identity.ActionLoginFailed, portalUser, "p1", dana, login, m{"reason": "locked"}, "Dana Demo tried to sign in to the portal while locked out"},
		{identity.ActionLockedOut, portalUser, "p1", system, login, m{"failures": 5}, "BrokerDesk locked dana@example.com out of the portal after repeated failed sign-ins"},
		{identity.ActionRecoveryCodeUsed, staffUser, "s1", colin, colin, nil, "Colin Compliance used a recovery code to sign in to the back office"},
		{identity.ActionTOTPEnrolStarted, staffUser, "s1", colin, colin, nil, "Colin Compliance started setting up two-factor sign-in"},
		{identity.ActionTOTPEnrolled, staffUser, "s1", colin, colin, nil, "Colin Compliance turned on two-factor sign-in"},
		{identity.ActionLoggedOut, portalUser, "p1", dana, login, m{"audience": "portal"}, "Dana Demo signed out of the portal"},
		{identity.ActionRefreshReused, staffUser, "s1", system, colin, m{"family_revoked": true}, "BrokerDesk ended every session of Colin Compliance: a refresh token was presented twice"},
		{identity.ActionResetRequested, portalUser, "p1", system, login, nil, "BrokerDesk emailed dana@example.com a link to reset their password"},
		{identity.ActionPasswordReset, portalUser, "p1", dana, login, nil, "Dana Demo set a new password through a reset link; every other session ended"},
		{identity.ActionInvitationAccepted, staffUser, "s1", colin, colin, nil, "Colin Compliance accepted the invitation and chose a password"},
		{identity.ActionPortalUserCreated, portalUser, "p1", dana, login, m{"email": "dana@example.com"}, "Dana Demo got a portal login, dana@example.com"},
		{identity.ActionTwoFactorReset, portalUser, "p1", colin, login, m{"two_factor": false}, "Colin Compliance reset the two-factor sign-in of dana@example.com and ended their sessions"},
		{identity.ActionTOTPResealed, "data_keys", "totp_secret", system, audit.Ref{Name: "data keys"}, m{"resealed": 3}, "BrokerDesk re-encrypted 3 two-factor secrets with the current data key"},
		{identity.ActionAPIKeyCreated, "api_key", "k1", colin, audit.Ref{Name: "“CRM sync”"}, nil, "Colin Compliance created the API key “CRM sync”"},
		{identity.ActionAPIKeyRevoked, "api_key", "k1", colin, audit.Ref{Name: "“CRM sync”"}, nil, "Colin Compliance revoked the API key “CRM sync”"},
		{identity.ActionSettingsChanged, "setting", "require_staff_2fa", colin, audit.Ref{Name: "setting"}, m{"value": true}, "Colin Compliance made two-factor sign-in required for every staff user"},
		{identity.ActionSettingsWeakened, "setting", "require_staff_2fa", colin, audit.Ref{Name: "setting"}, m{"value": false}, "Colin Compliance made two-factor sign-in optional for staff"},
	}
	svc := audit.NewService(nil)
	svc.Phrases(identity.Phrases()...)
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		diff, err := audit.Diff(nil, c.after)
		if err != nil {
			t.Fatal(err)
		}
		row := audit.Row{Action: c.action, Target: audit.Target{Type: c.targetType, ID: c.targetID}, Diff: diff}
		told := svc.TellOne(audit.NewEvent(row, c.actor, c.target))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}
