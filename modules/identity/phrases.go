package identity

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// How identity's rows read in the audit trail (frontdoor.Door.Trail). Staff users are named by the staff module and
// clients by the clients module; identity names what only it keeps: portal logins (by email, linked to their
// client's page), API keys (by name), and relates a client's portal logins to the client's timeline.

// signInArea is where a sign-in row's account signs in.
func signInArea(e audit.Event) string {
	if e.Row.Target.Type == Portal.target {
		return "the portal"
	}
	return "the back office"
}

// Phrases are the sentences of identity's audited actions.
func Phrases() []audit.Phrase {
	const signIn, settings = "Sign-in", "Settings"
	say := func(action, kind string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: kind, Say: f}
	}
	return []audit.Phrase{
		say(ActionLoginSucceeded, signIn, func(e audit.Event) audit.Sentence {
			how := ""
			switch e.After("/second_factor") {
			case "totp":
				how = " with an authenticator code"
			case "recovery_code":
				how = " with a recovery code"
			}
			return audit.Say(e.Actor, " signed in to ", signInArea(e), how)
		}),
		say(ActionLoginFailed, signIn, func(e audit.Event) audit.Sentence {
			switch e.After("/reason") {
			case "unknown_account":
				return audit.Say("Someone failed to sign in to ", signInArea(e), " as ", e.After("/email"), ", which has no account")
			case "locked":
				return audit.Say(e.Actor, " tried to sign in to ", signInArea(e), " while locked out")
			case "wrong_confirmation_code", "replayed_confirmation_code":
				return audit.Say(e.Actor, " typed a wrong authenticator code to confirm ", e.After("/confirming"))
			}
			return audit.Say(e.Actor, " failed to sign in to ", signInArea(e))
		}),
		say(ActionLockedOut, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " locked ", e.Target, " out of ", signInArea(e), " after repeated failed sign-ins")
		}),
		say(ActionRecoveryCodeUsed, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " used a recovery code to sign in to ", signInArea(e))
		}),
		say(ActionTOTPEnrolStarted, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " started setting up two-factor sign-in")
		}),
		say(ActionTOTPEnrolled, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " turned on two-factor sign-in")
		}),
		say(ActionLoggedOut, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " signed out of ", signInArea(e))
		}),
		say(ActionRefreshReused, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " ended every session of ", e.Target, ": a refresh token was presented twice")
		}),
		say(ActionResetRequested, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " emailed ", e.Target, " a link to reset their password")
		}),
		say(ActionPasswordReset, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " set a new password through a reset link; every other session ended")
		}),
		say(ActionInvitationAccepted, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " accepted the invitation and chose a password")
		}),
		say(ActionPortalUserCreated, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " got a portal login, ", e.Target)
		}),
		say(ActionTwoFactorReset, signIn, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " reset the two-factor sign-in of ", e.Target, " and ended their sessions")
		}),
		say(ActionTOTPResealed, settings, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " re-encrypted ", e.After("/resealed"), " two-factor secrets with the current data key")
		}),
		say(ActionAPIKeyCreated, settings, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " created the API key ", e.Target)
		}),
		say(ActionAPIKeyRevoked, settings, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " revoked the API key ", e.Target)
		}),
		say(ActionSettingsChanged, settings, signInSetting),
		say(ActionSettingsWeakened, settings, signInSetting),
	}
}

// signInSetting reads a change of the sign-in security settings (require_staff_2fa), a weakening included.
func signInSetting(e audit.Event) audit.Sentence {
	if e.Row.Target.ID == "require_staff_2fa" {
		if e.After("/value") == "true" {
			return audit.Say(e.Actor, " made two-factor sign-in required for every staff user")
		}
		return audit.Say(e.Actor, " made two-factor sign-in optional for staff")
	}
	return audit.Say(e.Actor, " changed the sign-in setting ", e.Row.Target.ID)
}

// NamePortalUsers names portal logins by their email, linked to their client's page.
func NamePortalUsers(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, email, client_id FROM portal_users WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("portal login names: %w", err)
	}
	defer rows.Close()
	out := map[string]audit.Ref{}
	for rows.Next() {
		var id uuid.UUID
		var email string
		var client *uuid.UUID
		if err := rows.Scan(&id, &email, &client); err != nil {
			return nil, err
		}
		r := audit.Ref{Name: email}
		if client != nil {
			r.Href = "/backoffice/clients/" + client.String()
		}
		out[id.String()] = r
	}
	return out, rows.Err()
}

// NameAPIKeys names API keys by the name they were given.
func NameAPIKeys(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, name FROM api_keys WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("API key names: %w", err)
	}
	defer rows.Close()
	out := map[string]audit.Ref{}
	for rows.Next() {
		var id uuid.UUID
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id.String()] = audit.Ref{Name: "“" + name + "”"}
	}
	return out, rows.Err()
}

// PortalClientsTx maps portal logins to their clients (a client acting in the portal is recorded as its login):
// logins without a client, or unknown, are left out.
func PortalClientsTx(ctx context.Context, tx pgx.Tx, logins []uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT id, client_id FROM portal_users WHERE id = ANY($1) AND client_id IS NOT NULL`, logins)
	if err != nil {
		return nil, fmt.Errorf("portal logins' clients: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID]uuid.UUID{}
	for rows.Next() {
		var login, client uuid.UUID
		if err := rows.Scan(&login, &client); err != nil {
			return nil, err
		}
		out[login] = client
	}
	return out, rows.Err()
}

// trail declares how identity's rows read on the audit service it holds.
func (s *Service) trail() {
	s.audit.Phrases(Phrases()...)
	s.audit.Names(Portal.target, NamePortalUsers)
	s.audit.Names(string(audit.ActorAPIKey), NameAPIKeys)
	s.audit.Relate("client", audit.RelatedBy(Portal.target, `SELECT id FROM portal_users WHERE client_id = $1`))
}
