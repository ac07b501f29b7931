package clients_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

func fieldsOf(err error) []string {
	var ve *validation.Error
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestRegistrationRefusesEachBadFieldByNameAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := clients.DefaultSettings()
	st.BlockedCountries = []string{"KP", "ir"}
	st.ExtraDisposableDomains = []string{"throwaway.example"}
	if _, err := b.svc.SaveSettings(ctx, b.ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	taken := registration()
	if _, err := b.svc.Register(ctx, b.ten, taken); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	seventeen := now.AddDate(-18, 0, 1).Format(time.DateOnly) // eighteen tomorrow
	for name, tc := range map[string]struct {
		change func(r *clients.Registration)
		field  string
	}{
		"no email":                        {func(r *clients.Registration) { r.Email = " " }, "email"},
		"malformed email":                 {func(r *clients.Registration) { r.Email = "ada@@example.com" }, "email"},
		"email without a dotted domain":   {func(r *clients.Registration) { r.Email = "ada@localhost" }, "email"},
		"email with a display name":       {func(r *clients.Registration) { r.Email = "Ada <ada@example.com>" }, "email"},
		"disposable email":                {func(r *clients.Registration) { r.Email = "ada@mailinator.com" }, "email"},
		"disposable email, subdomain":     {func(r *clients.Registration) { r.Email = "ada@x.yopmail.com" }, "email"},
		"the tenant's disposable domain":  {func(r *clients.Registration) { r.Email = "ada@throwaway.example" }, "email"},
		"already registered":              {func(r *clients.Registration) { r.Email = strings.ToUpper(taken.Email) }, "email"},
		"no password":                     {func(r *clients.Registration) { r.Password = "" }, "password"},
		"weak password":                   {func(r *clients.Registration) { r.Password = "password123" }, "password"},
		"no first name":                   {func(r *clients.Registration) { r.FirstName = "" }, "first_name"},
		"last name with symbols":          {func(r *clients.Registration) { r.LastName = "<script>" }, "last_name"},
		"last name too long":              {func(r *clients.Registration) { r.LastName = strings.Repeat("a", 101) }, "last_name"},
		"no country":                      {func(r *clients.Registration) { r.Country = "" }, "country"},
		"not a country":                   {func(r *clients.Registration) { r.Country = "XX" }, "country"},
		"blocked country":                 {func(r *clients.Registration) { r.Country = "kp" }, "country"},
		"blocked country, set lower case": {func(r *clients.Registration) { r.Country = "IR" }, "country"},
		"no phone":                        {func(r *clients.Registration) { r.Phone = "" }, "phone"},
		"national phone number":           {func(r *clients.Registration) { r.Phone = "020 7946 0958" }, "phone"},
		"phone with letters":              {func(r *clients.Registration) { r.Phone = "+44 20 CALL ME" }, "phone"},
		"phone too short":                 {func(r *clients.Registration) { r.Phone = "+44 123" }, "phone"},
		"no date of birth":                {func(r *clients.Registration) { r.DateOfBirth = "" }, "date_of_birth"},
		"malformed date of birth":         {func(r *clients.Registration) { r.DateOfBirth = "25/04/1990" }, "date_of_birth"},
		"date of birth in the future":     {func(r *clients.Registration) { r.DateOfBirth = now.AddDate(1, 0, 0).Format(time.DateOnly) }, "date_of_birth"},
		"under age":                       {func(r *clients.Registration) { r.DateOfBirth = seventeen }, "date_of_birth"},
		"unknown experience":              {func(r *clients.Registration) { r.Experience = "guru" }, "experience"},
		"malformed referral code":         {func(r *clients.Registration) { r.Referral.Code = "IB 42; DROP" }, "referral_code"},
	} {
		r := registration()
		tc.change(&r)
		_, err := b.svc.Register(ctx, b.ten, r)
		if got := slices.Compact(fieldsOf(err)); !slices.Equal(got, []string{tc.field}) {
			t.Errorf("%s: fields %v (%v), want only %s", name, got, err, tc.field)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM clients`); n != 1 {
		t.Errorf("refused registrations wrote clients: %d rows, want the 1 accepted", n)
	}
	if n := b.count(t, `SELECT count(*) FROM portal_users`); n != 1 {
		t.Errorf("refused registrations wrote portal logins: %d", n)
	}
	// The duplicate's message says "already registered" and nothing more.
	r := registration()
	r.Email = taken.Email
	var ve *validation.Error
	if _, err := b.svc.Register(ctx, b.ten, r); !errors.As(err, &ve) || !strings.Contains(ve.Fields[0].Message, "already registered") {
		t.Errorf("duplicate email: %v", err)
	}
	// Eighteen today is old enough; the tenant's minimum age counts.
	r = registration()
	r.DateOfBirth = now.AddDate(-18, 0, 0).Format(time.DateOnly)
	if _, err := b.svc.Register(ctx, b.ten, r); err != nil {
		t.Errorf("eighteen today: %v", err)
	}
	st.MinimumAge = 21
	if _, err := b.svc.SaveSettings(ctx, b.ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	r = registration()
	r.DateOfBirth = now.AddDate(-20, 0, 0).Format(time.DateOnly)
	if _, err := b.svc.Register(ctx, b.ten, r); !slices.Equal(fieldsOf(err), []string{"date_of_birth"}) {
		t.Errorf("twenty where the minimum is 21: %v", err)
	}
}

func TestRegistrationWritesClientLoginReferralHistoryAuditAndTheVerificationTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r := registration()
	r.Email = "  Mixed.Case." + r.Email[7:]
	r.Phone = "0044 (20) 7946-0958"
	r.Experience = "Some"
	clicked := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	r.Referral = clients.Referral{Code: "IB-Alpha_7", Source: clients.ReferralLink, CapturedAt: clicked}
	c, err := b.svc.Register(ctx, b.ten, r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != clients.StatusRegistered || c.Email != strings.ToLower(strings.TrimSpace(r.Email)) || c.Phone != "+442079460958" ||
		c.Experience != "some" || c.ReferralCode != "IB-Alpha_7" || c.ReferralSource != "link" || c.DateOfBirth.Format(time.DateOnly) != "1990-04-25" {
		t.Errorf("registered client: %+v", c)
	}
	if b.count(t, `SELECT count(*) FROM client_referrals WHERE client_id = $1 AND captured_at = $2`, c.ID, clicked) != 1 {
		t.Error("the referral's capture time is not the link's")
	}
	if n := b.count(t, `SELECT count(*) FROM portal_users WHERE client_id = $1`, c.ID); n != 1 {
		t.Errorf("portal logins of the client: %d", n)
	}
	hist, err := b.svc.History(ctx, b.ten, c.ID)
	if err != nil || len(hist) != 1 || hist[0].From != "" || hist[0].To != clients.StatusRegistered {
		t.Errorf("history: %+v %v", hist, err)
	}
	page, err := b.trail.List(ctx, b.ten, audit.Filter{TargetType: "client", TargetID: c.ID.String()}, "", 10)
	if err != nil || len(page.Rows) != 1 || page.Rows[0].Action != clients.ActionRegistered {
		t.Errorf("audit: %+v %v", page.Rows, err)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1 AND payload->>'client_id' = $2`, clients.TaskSendVerification, c.ID.String()); n != 1 {
		t.Errorf("verification tasks: %d", n)
	}
	// A typed code with no link.
	r = registration()
	r.Referral = clients.Referral{Code: "TYPED1"}
	if c, err := b.svc.Register(ctx, b.ten, r); err != nil || c.ReferralSource != "typed" || c.ReferralCode != "TYPED1" {
		t.Errorf("typed referral: %+v %v", c, err)
	}
}

func TestTwoRegistrationsOfOneEmailAtOnceOneWinsTheOtherGetsTheFieldError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for round := range 3 {
		r := registration()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rr := r
				if i == 1 {
					rr.FirstName, rr.Email = "Grace", strings.ToUpper(r.Email)
				}
				_, errs[i] = b.svc.Register(ctx, b.ten, rr)
			}()
		}
		wg.Wait()
		ok, dup := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case slices.Equal(fieldsOf(err), []string{"email"}):
				dup++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || dup != 1 {
			t.Fatalf("round %d: %d registered, %d refused; want one of each", round, ok, dup)
		}
		for what, sql := range map[string]string{
			"clients":       `SELECT count(*) FROM clients WHERE email = $1`,
			"portal logins": `SELECT count(*) FROM portal_users WHERE email = $1`,
			"history rows":  `SELECT count(*) FROM client_status_history h JOIN clients c ON c.id = h.client_id WHERE c.email = $1`,
			"tasks":         `SELECT count(*) FROM outbox o JOIN clients c ON c.id::text = o.payload->>'client_id' WHERE c.email = $1`,
		} {
			if n := b.count(t, sql, r.Email); n != 1 {
				t.Errorf("round %d: %d %s, want 1", round, n, what)
			}
		}
	}
	if n := b.count(t, `SELECT count(*) FROM client_status_history`); n != 3 {
		t.Errorf("history rows in all: %d, want 3 (nothing half-written by the losers)", n)
	}
}

func TestPhoneNumbersNormaliseToE164(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+44 20 7946 0958": "+442079460958", "0049-151-1234.5678": "+4915112345678", "+1 (415) 555-0100": "+14155550100",
	} {
		if got, ok := clients.NormalizePhone(in); !ok || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "+0 123 4567 89", "12345678", "+44 20 7946 0958 ext 3", "+1234567"} {
		if got, ok := clients.NormalizePhone(in); ok {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

// Whatever a trader types, NormalizePhone either refuses it or returns an E.164 number that normalises to itself.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+44 20 7946 0958", "0049-151-1234.5678", "(0)20 7946", "+", "00", "+1\u00a0415 555 0100", "++44"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := clients.NormalizePhone(in)
		if !ok {
			return
		}
		if len(out) < 9 || len(out) > 16 || out[0] != '+' || out[1] == '0' {
			t.Fatalf("%q -> %q accepted", in, out)
		}
		for _, r := range out[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("%q -> %q has a non-digit", in, out)
			}
		}
		if again, ok := clients.NormalizePhone(out); !ok || again != out {
			t.Fatalf("%q -> %q -> %q %v", in, out, again, ok)
		}
	})
}

func TestAnEmailWithAPortalLoginButNoClientIsAlreadyRegistered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r := registration()
	if _, err := b.ids.CreatePortalUser(ctx, b.ten, r.Email, "Another-Strong-Pass-2026", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Register(ctx, b.ten, r); !slices.Equal(fieldsOf(err), []string{"email"}) {
		t.Errorf("registration over a bare portal login: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM clients WHERE email = $1`, r.Email); n != 0 {
		t.Errorf("%d clients written", n)
	}
}
