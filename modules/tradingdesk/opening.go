package tradingdesk

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Opening an account in the worker (TaskOpenAccount). The task may run more than once for one request (a retry after
// a lost answer, a worker killed mid-call): each run picks up where the last one stopped, and never opens a second
// account.
//
//   - Before each platform call the request's call count is raised and committed. A run that finds calls already
//     sent under the reserved login first asks the platform for an account at that login: found in the request's
//     group, it is the one a lost answer created, and the desk adopts it instead of creating another.
//   - A creation answered ErrAlreadyExists at the first call of a login means the login was taken outside the CRM:
//     the desk reserves the next one and tries again. At a later call it is the earlier call's account: adopted.
//   - TradeLocker chooses logins and dedupes creations by the operation id (the request's id): the same call again
//     returns the first account.
//   - The calls skip the session's backoff (Sessions.Use with now): the queue already spaces a task's retries, and a
//     client waits on this one.
//   - The passwords are minted in the run that sends them and live only in its memory and in the email. A run that
//     adopts an account (its passwords died with the lost answer's run) or finds the email unsent sets new ones on
//     the platform (ResetPassword) before it emails them; nothing stores them.

// handleOpenAccount runs TaskOpenAccount: at Asynq's last attempt a failure becomes the request's.
func (s *Service) handleOpenAccount(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p openTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskOpenAccount, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	max, ok := asynq.GetMaxRetry(ctx)
	err := s.OpenRequested(ctx, t, p.RequestID, !ok || retried >= max)
	if errors.Is(err, errFailed) {
		return nil // the request records the failure for support: retrying cannot change it
	}
	return err
}

// errFailed marks a request failed for good: the task is not retried.
var errFailed = errors.New("tradingdesk: the request failed")

// OpenRequested opens the account of request id on its platform, records it, and emails its credentials; a request
// that is no longer pending is left alone. An error the platform will answer the same way again (a refused
// request), or any error when final is set, fails the request with the reason in the platform's words (the
// returned error wraps errFailed); other errors are returned for the task to retry.
func (s *Service) OpenRequested(ctx context.Context, t tenants.Tenant, id uuid.UUID, final bool) error {
	var r Request
	var first, last, email string
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if r, err = requestTx(ctx, tx, `r.id = $1`, id); err != nil {
			return err
		}
		c, err := s.o.Clients.GetTx(ctx, tx, r.ClientID)
		first, last, email = c.FirstName, c.LastName, c.Email
		return err
	}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil // the request is gone (its tenant erased it): nothing to open
		}
		return err
	}
	if r.Status != RequestPending {
		return nil
	}
	release, err := s.claim(ctx, t, id)
	if err != nil {
		return err
	}
	defer release()
	err = s.openOnce(ctx, t, r, first, last, email)
	if err == nil {
		return nil
	}
	if final || refused(err) {
		if ferr := s.fail(ctx, t, r, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	}
	return err
}

// ErrClaimed: another run of the request holds it; the task tries again later.
var ErrClaimed = errors.New("tradingdesk: another run of this request is calling the platform")

// claim takes the request for this run until the task's timeout has certainly passed (twice over), so a run whose
// delivery overlapped another's (an expired lease) waits instead of calling the platform beside it: two first calls
// under one login would read as a login taken outside the CRM and open a second account. release gives it back;
// a crashed run's claim lapses.
func (s *Service) claim(ctx context.Context, t tenants.Tenant, id uuid.UUID) (release func(), err error) {
	return s.claimRow(ctx, t, "trading_requests", id)
}

// claimRow claims row id of table (trading_requests, trading_transfers: a pending row with claimed_until) for a run.
func (s *Service) claimRow(ctx context.Context, t tenants.Tenant, table string, id uuid.UUID) (release func(), err error) {
	var got bool
	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE `+table+` SET claimed_until = now() + make_interval(secs => $2)
			WHERE id = $1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < now())`, id, (4 * s.o.CheckTimeout).Seconds())
		got = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return nil, err
	}
	if !got {
		return nil, ErrClaimed
	}
	return func() {
		ctx := context.WithoutCancel(ctx) // given back even when the run's own context ended
		_ = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE `+table+` SET claimed_until = NULL WHERE id = $1`, id)
			return err
		})
	}, nil
}

// refused reports whether the platform refused the request itself: asking again would be answered the same.
func refused(err error) bool {
	return !errors.Is(err, ErrBackingOff) && (errors.Is(err, trading.ErrInvalidRequest) || errors.Is(err, trading.ErrUnsupported))
}

// currencyOf is a request's currency.
func currencyOf(code string) (money.Currency, error) {
	c, ok := money.Lookup(code)
	if !ok {
		return c, fmt.Errorf("tradingdesk: unknown currency %q", code)
	}
	return c, nil
}

// openOnce is one run: open (or adopt) the account, record it, email its credentials.
func (s *Service) openOnce(ctx context.Context, t tenants.Tenant, r Request, first, last, email string) error {
	tg, err := s.target(ctx, t, r.ServerID)
	if err != nil {
		return err
	}
	var pw, investor string // set only when this run set them on the platform
	if r.AccountID == nil {
		var acc trading.Account
		err := s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
			var err error
			acc, pw, investor, err = s.create(ctx, t, c, &r, first, last, email)
			return err
		})
		if err != nil {
			return err
		}
		if err := s.recordOpened(ctx, t, &r, acc); err != nil {
			return err // the next run finds the account at its login and adopts it
		}
	}
	return s.sendCredentials(ctx, t, tg, r, first, email, pw, investor)
}

// create opens the request's account, or finds the one an earlier call created; it answers the passwords it set
// ("" when it adopted an account whose passwords it does not know).
func (s *Service) create(ctx context.Context, t tenants.Tenant, c trading.Connector, r *Request, first, last, email string) (trading.Account, string, string, error) {
	for range 3 { // a login taken outside the CRM moves to the next, a few times at most
		calls, err := s.countCall(ctx, t, r.ID)
		if err != nil {
			return trading.Account{}, "", "", err
		}
		if r.Login != "" && calls > 1 {
			acc, err := c.Account(ctx, r.Login)
			switch {
			case err == nil && acc.Group == r.Group:
				return acc, "", "", nil // the account a lost answer created
			case err == nil:
				if err := s.nextLogin(ctx, t, r); err != nil { // someone else's account at our login
					return trading.Account{}, "", "", err
				}
				continue
			case !errors.Is(err, trading.ErrNotFound):
				return trading.Account{}, "", "", err
			}
		}
		pw, investor, err := newPasswords()
		if err != nil {
			return trading.Account{}, "", "", err
		}
		acc, err := c.CreateAccount(ctx, trading.NewAccount{Login: r.Login, Group: r.Group, Leverage: r.Leverage, Currency: r.Currency,
			FirstName: first, LastName: last, Email: email, Password: pw, InvestorPassword: investor,
			OperationID: strings.ReplaceAll(r.ID.String(), "-", "")})
		switch {
		case err == nil:
			return acc, pw, investor, nil
		case errors.Is(err, trading.ErrAlreadyExists) && r.Login != "" && calls == 1:
			if err := s.nextLogin(ctx, t, r); err != nil {
				return trading.Account{}, "", "", err
			}
		case errors.Is(err, trading.ErrAlreadyExists) && r.Login != "":
			acc, gerr := c.Account(ctx, r.Login)
			if gerr == nil && acc.Group == r.Group {
				return acc, "", "", nil
			}
			return trading.Account{}, "", "", err
		default:
			return trading.Account{}, "", "", err
		}
	}
	return trading.Account{}, "", "", &trading.PlatformError{Kind: trading.ErrAlreadyExists, Platform: c.Capabilities().Platform,
		Op: "create_account", Message: "the logins the desk reserved are taken on the platform; raise the server's login range"}
}

// countCall records, before a platform call, that one more is sent under the request's login, and answers how many.
func (s *Service) countCall(ctx context.Context, t tenants.Tenant, id uuid.UUID) (int, error) {
	var n int
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE trading_requests SET calls = calls + 1, updated_at = now() WHERE id = $1 RETURNING calls`, id).Scan(&n)
	})
	return n, err
}

// nextLogin reserves another login for r (its own was taken outside the CRM) and starts its calls again.
func (s *Service) nextLogin(ctx context.Context, t tenants.Tenant, r *Request) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		login, err := reserveLogin(ctx, tx, r.ServerID)
		if err != nil {
			return err
		}
		r.Login = login
		_, err = tx.Exec(ctx, `UPDATE trading_requests SET login = $2, calls = 0, updated_at = now() WHERE id = $1`, r.ID, login)
		return err
	})
}

// recordOpened records the platform's account as the client's and audits the opening.
func (s *Service) recordOpened(ctx context.Context, t tenants.Tenant, r *Request, acc trading.Account) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		cur, err := currencyOf(r.Currency)
		if err != nil {
			return err
		}
		id := uuid.New()
		bal, eq := toMinor(acc.Balance, cur), toMinor(acc.Equity, cur)
		if _, err := tx.Exec(ctx, `INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name,
			swap_free, balance, equity, state_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())`,
			id, r.ClientID, r.ServerID, r.TypeID, acc.Login, r.Currency, r.Leverage, r.Group, r.SwapFree, bal, eq); err != nil {
			return fmt.Errorf("tradingdesk: record account %s: %w", acc.Login, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE trading_requests SET account_id = $2, login = $3, updated_at = now() WHERE id = $1`,
			r.ID, id, acc.Login); err != nil {
			return err
		}
		r.AccountID, r.Login = &id, acc.Login
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: requestActor(*r), Action: ActionAccountOpened,
			Target: audit.Target{Type: accountTarget, ID: id.String()},
			After: map[string]any{"login": acc.Login, "type": r.TypeName, "currency": r.Currency, "leverage": r.Leverage, "live": r.Live,
				"server": r.ServerName, "request": r.ID.String()}})
	})
}

// requestActor is who asked for r: the client (the portal), or the staff user or system named in created_by.
func requestActor(r Request) audit.Actor {
	if id, ok := strings.CutPrefix(r.CreatedBy, "client:"); ok {
		return audit.Actor{Kind: audit.ActorClient, ID: id}
	}
	return systemActor
}

// sendCredentials emails the account's login and passwords and marks the request done. Passwords pw and investor
// are those this run set; without them (the account was adopted, or an earlier run's email failed) new ones are set
// on the platform first.
func (s *Service) sendCredentials(ctx context.Context, t tenants.Tenant, tg Target, r Request, first, email, pw, investor string) error {
	if r.EmailedAt == nil {
		if pw == "" {
			var err error
			if pw, investor, err = newPasswords(); err != nil {
				return err
			}
			if err := s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
				if err := c.ResetPassword(ctx, r.Login, trading.PasswordMain, pw); err != nil {
					return err
				}
				return c.ResetPassword(ctx, r.Login, trading.PasswordInvestor, investor)
			}); err != nil {
				return err
			}
		}
		kind := "demo"
		if r.Live {
			kind = "live"
		}
		if err := s.o.Emails.Send(ctx, t, emails.Email{Template: emails.TemplateTradingAccountOpened, To: email, Data: map[string]any{
			"FirstName": first, "Kind": kind, "AccountType": r.TypeName, "Login": r.Login, "Server": r.ServerName,
			"Details": fmt.Sprintf("%s, 1:%d", r.Currency, r.Leverage), "Password": pw, "InvestorPassword": investor,
			"AccountsURL": PortalAccountsPath}}); err != nil {
			return err
		}
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'done', credentials_sent_at = coalesce(credentials_sent_at, now()),
			finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'pending'`, r.ID)
		return err
	})
}

// maxFailure bounds the reason kept on a failed request.
const maxFailure = 500

// fail records that r failed, with the platform's reason in words, and audits it.
func (s *Service) fail(ctx context.Context, t tenants.Tenant, r Request, cause error) error {
	reason := failureText(cause)
	if r.AccountID != nil {
		reason = fmt.Sprintf("account %s was opened, but its credentials could not be emailed: %s", r.Login, reason)
	}
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_requests SET status = 'failed', failure = $2, finished_at = now(), updated_at = now()
			WHERE id = $1 AND status = 'pending'`, r.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionAccountRequestFailed,
			Target: audit.Target{Type: requestTarget, ID: r.ID.String()}, Before: map[string]any{"status": RequestPending},
			After: map[string]any{"status": RequestFailed, "reason": reason, "client": r.ClientName, "type": r.TypeName,
				"currency": r.Currency, "leverage": r.Leverage, "live": r.Live}})
	})
	if err == nil {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "trading account request failed", "request", r.ID, "server", r.ServerName, "reason", reason)
	}
	return err
}

// failureText is a failure as support reads it: the platform's own text where it gave one.
func failureText(err error) string {
	var pe *trading.PlatformError
	text := err.Error()
	if errors.As(err, &pe) {
		text = fmt.Sprintf("%s (%v", pe.Message, pe.Kind)
		if pe.Code != "" {
			text += ", platform code " + pe.Code
		}
		text += ")"
	}
	if r := []rune(text); len(r) > maxFailure {
		text = string(r[:maxFailure-1]) + "…"
	}
	return text
}

// target is how the worker reaches a server's session.
func (s *Service) target(ctx context.Context, t tenants.Tenant, serverID uuid.UUID) (Target, error) {
	var srv Server
	var sealed *string
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if srv, sealed, err = serverTx(ctx, tx, `id = $1`, serverID); err != nil {
			return err
		}
		srv.SwapFreeTwins, err = swapFreeTwinsTx(ctx, tx, serverID, uuid.Nil)
		return err
	})
	if err != nil {
		return Target{}, err
	}
	return Target{Tenant: t.ID, Server: srv, Version: version(srv), Credentials: func() (Credentials, error) { return s.openCredentials(srv.ID, sealed) }}, nil
}

// Passwords: 12 characters with a lower-case and an upper-case letter, a digit and a sign each, which every
// platform's rules accept (MT5 and the simulator ask 8 to 16 of all four kinds); signs that HTML and URLs escape are
// left out, so the email shows them as they are.
const (
	pwLower  = "abcdefghijkmnopqrstuvwxyz"
	pwUpper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	pwDigits = "23456789"
	pwSigns  = "#$%*-?@!"
	pwLength = 12
)

func newPasswords() (string, string, error) {
	a, err := newPassword()
	if err != nil {
		return "", "", err
	}
	b, err := newPassword()
	return a, b, err
}

func newPassword() (string, error) {
	all := pwLower + pwUpper + pwDigits + pwSigns
	out := make([]byte, pwLength)
	pick := func(set string) (byte, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[n.Int64()], nil
	}
	for i := range out {
		set := all
		if i < 4 {
			set = []string{pwLower, pwUpper, pwDigits, pwSigns}[i]
		}
		b, err := pick(set)
		if err != nil {
			return "", err
		}
		out[i] = b
	}
	// Shuffle, so the kinds are not always in the first four places.
	for i := len(out) - 1; i > 0; i-- {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		j := n.Int64()
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}
