package auth

import (
	"fmt"
	"time"
)

// LockoutPolicy is the login throttling rule for one account: MaxFailures failed logins within Window lock the
// account for BaseLockout; each further lockout doubles the duration up to MaxLockout; ForgetAfter without any
// failure, or one successful login, forgets the history. It is a pure rule over LoginState so the identity module
// can keep the state wherever it likes (a row per user, updated in the login transaction) and tests need no clock.
//
// Locking an account lets an attacker annoy its owner, so locks are short and temporary and a password reset by
// email still works during one. Per-IP limits (another layer, in the HTTP rate limiter) stop one source from
// spraying many accounts; this rule stops many sources from hammering one.
type LockoutPolicy struct {
	MaxFailures int
	Window      time.Duration
	BaseLockout time.Duration
	MaxLockout  time.Duration
	ForgetAfter time.Duration
}

// DefaultLockoutPolicy: 5 failures in 15 minutes lock for 1 minute, then 2, 4, 8, ... up to 1 hour; a day without
// failures starts over. An online guesser gets at most ~5 guesses an hour once escalated, which against the
// password policy's blocklist and 12-character minimum is hopeless, while a user who fumbles a password a few times
// waits a minute.
func DefaultLockoutPolicy() LockoutPolicy {
	return LockoutPolicy{MaxFailures: 5, Window: 15 * time.Minute, BaseLockout: time.Minute, MaxLockout: time.Hour, ForgetAfter: 24 * time.Hour}
}

// Validate refuses policies that would lock on every attempt or never expire.
func (p LockoutPolicy) Validate() error {
	if p.MaxFailures < 1 || p.Window <= 0 || p.BaseLockout <= 0 || p.MaxLockout < p.BaseLockout || p.ForgetAfter < p.Window {
		return fmt.Errorf("auth: lockout policy %+v: want MaxFailures >= 1, positive Window and BaseLockout, MaxLockout >= BaseLockout, ForgetAfter >= Window", p)
	}
	return nil
}

// LoginState is one account's failure history, as stored between attempts. The zero value is a clean account.
type LoginState struct {
	Failures    int       // failures in the current window
	WindowStart time.Time // first failure of the current window; zero when there is none
	Lockouts    int       // lockouts so far, which sets the next one's length
	LockedUntil time.Time
	LastFailure time.Time
}

// RetryAfter is how long the account stays locked at now; zero means a login may be attempted. While it is locked,
// refuse the attempt WITHOUT checking the password and without calling Failed: checking would tell a guesser
// whether the guess was right, and counting would let anyone extend the lock forever.
func (p LockoutPolicy) RetryAfter(s LoginState, now time.Time) time.Duration {
	if now.Before(s.LockedUntil) {
		return s.LockedUntil.Sub(now)
	}
	return 0
}

// Failed records a failed login at now and returns the new state; RetryAfter on it tells whether this failure
// locked the account.
func (p LockoutPolicy) Failed(s LoginState, now time.Time) LoginState {
	if now.Before(s.LockedUntil) {
		return s // see RetryAfter: attempts during a lock are not evaluated, so they do not count either
	}
	if !s.LastFailure.IsZero() && now.Sub(s.LastFailure) >= p.ForgetAfter {
		s = LoginState{}
	}
	if s.WindowStart.IsZero() || now.Sub(s.WindowStart) >= p.Window {
		s.Failures, s.WindowStart = 0, now
	}
	s.Failures++
	s.LastFailure = now
	if s.Failures >= max(p.MaxFailures, 1) {
		s.Lockouts++
		s.LockedUntil = now.Add(p.lockoutFor(s.Lockouts))
		s.Failures, s.WindowStart = 0, time.Time{}
	}
	return s
}

// Succeeded is the state after a successful login: everything forgotten.
func (p LockoutPolicy) Succeeded(LoginState) LoginState { return LoginState{} }

// lockoutFor is the length of the n-th lockout: BaseLockout doubled n-1 times, capped (and doubled no further than
// the cap, so a long history cannot overflow).
func (p LockoutPolicy) lockoutFor(n int) time.Duration {
	d := p.BaseLockout
	for i := 1; i < n && d < p.MaxLockout; i++ {
		d *= 2
	}
	return min(d, p.MaxLockout)
}

// LockedError refuses a sign-in because the account is locked (the password was not checked). Every sign-in flow
// (staff, traders, operators) returns this one type, so every HTTP layer answers it the same way: 429 with
// Retry-After.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("account locked for another %s", e.RetryAfter.Round(time.Second))
}
