package clients_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

func TestVerificationLinkFromTheEmailWorksOnceAndAssignsTierAndManager(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sales := b.addStaff(t, "active", "sales")
	r := registration()
	c, err := b.svc.Register(ctx, b.ten, r)
	if err != nil {
		t.Fatal(err)
	}
	envs := b.sendVerifications(t)
	tokens := tokensFor(t, r.Email, 1)
	// The task delivered again (at least once): no second email, the first link still the only one.
	if len(envs) != 1 {
		t.Fatalf("%d verification tasks", len(envs))
	}
	if err := b.svc.HandleSendVerification(ctx, b.ten, envs[0]); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM client_email_verifications WHERE client_id = $1 AND sent_at IS NOT NULL`, c.ID); n != 1 {
		t.Fatalf("stored links: %d", n)
	}
	if n := b.count(t, `SELECT count(*) FROM client_email_verifications WHERE token_hash = convert_to($1, 'UTF8')`, tokens[0]); n != 0 {
		t.Error("the token is stored as it is, not hashed")
	}
	// Looking at the link (what a GET of it does, as a mail scanner's fetch) spends nothing, however often.
	for range 2 {
		if err := b.svc.CheckLink(ctx, b.ten, tokens[0]); err != nil {
			t.Fatalf("checking an unused link: %v", err)
		}
	}
	if got, _ := b.svc.Get(ctx, b.ten, c.ID); got.Status != clients.StatusRegistered {
		t.Fatalf("checking the link moved the client to %s", got.Status)
	}
	if n := b.count(t, `SELECT count(*) FROM client_email_verifications WHERE client_id = $1 AND used_at IS NOT NULL`, c.ID); n != 0 {
		t.Fatalf("checking the link spent %d links", n)
	}
	v, err := b.svc.Verify(ctx, b.ten, tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	if v.Already || v.Client.Status != clients.StatusEmailVerified || v.Client.Tier != "standard" || v.Client.ManagerID == nil || *v.Client.ManagerID != sales {
		t.Errorf("verified: %+v", v)
	}
	got, _ := b.svc.Get(ctx, b.ten, c.ID)
	if got.Status != clients.StatusEmailVerified || got.EmailVerifiedAt == nil || got.Tier != "standard" || got.ManagerID == nil {
		t.Errorf("stored client: %+v", got)
	}
	if _, err := b.svc.Verify(ctx, b.ten, tokens[0]); !errors.Is(err, clients.ErrLinkUsed) {
		t.Errorf("second use: %v, want ErrLinkUsed", err)
	}
	if _, err := b.svc.Verify(ctx, b.ten, "not-a-token"); !errors.Is(err, clients.ErrLinkUnknown) {
		t.Errorf("unknown token: %v, want ErrLinkUnknown", err)
	}
	if err := b.svc.CheckLink(ctx, b.ten, tokens[0]); !errors.Is(err, clients.ErrLinkUsed) {
		t.Errorf("checking a used link: %v, want ErrLinkUsed", err)
	}
	if err := b.svc.CheckLink(ctx, b.ten, "not-a-token"); !errors.Is(err, clients.ErrLinkUnknown) {
		t.Errorf("checking an unknown link: %v, want ErrLinkUnknown", err)
	}
	page, _ := b.trail.List(ctx, b.ten, audit.Filter{TargetType: "client", TargetID: c.ID.String()}, "", 10)
	var actions []string
	for _, row := range page.Rows {
		actions = append(actions, row.Action)
	}
	if strings.Join(actions, " ") != "client.assigned client.status_changed client.verification_sent client.registered" {
		t.Errorf("audit of the journey (newest first): %v", actions)
	}
	// A resend after verification sends nothing.
	if err := b.svc.ResendVerification(ctx, b.ten, r.Email); err != nil {
		t.Fatal(err)
	}
	b.sendVerifications(t)
	if n := len(tokensFor(t, r.Email, 1)); n != 1 {
		t.Errorf("%d emails after verification, want still 1", n)
	}
}

func TestVerificationLinkExpiresAfter48HoursAndAResentLinkWorks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, c, _, first := b.registeredWithLink(t)
	b.clock.Add(clients.VerificationTTL + time.Second)
	if err := b.svc.CheckLink(ctx, b.ten, first); !errors.Is(err, clients.ErrLinkExpired) {
		t.Errorf("checking after 48 hours: %v, want ErrLinkExpired", err)
	}
	if _, err := b.svc.Verify(ctx, b.ten, first); !errors.Is(err, clients.ErrLinkExpired) {
		t.Fatalf("after 48 hours: %v, want ErrLinkExpired", err)
	}
	// Resending for an unknown address says nothing and queues nothing.
	if err := b.svc.ResendVerification(ctx, b.ten, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice in one window: one email
		if err := b.svc.ResendVerification(ctx, b.ten, " "+strings.ToUpper(r.Email)); err != nil {
			t.Fatal(err)
		}
	}
	b.sendVerifications(t)
	tokens := tokensFor(t, r.Email, 2)
	if len(tokens) != 2 || tokens[0] == first {
		t.Fatalf("after the resend: tokens %d", len(tokens))
	}
	v, err := b.svc.Verify(ctx, b.ten, tokens[0])
	if err != nil || v.Client.ID != c.ID || v.Client.Status != clients.StatusEmailVerified {
		t.Fatalf("the resent link: %+v %v", v, err)
	}
	if _, err := b.svc.Verify(ctx, b.ten, first); !errors.Is(err, clients.ErrLinkUsed) && !errors.Is(err, clients.ErrLinkExpired) {
		t.Errorf("the old link after verification: %v", err)
	}
}

func TestTierRulesAndRoundRobinManagersHoldWhenVerificationsRunAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	salesA, salesB := b.addStaff(t, "active", "sales"), b.addStaff(t, "active", "sales", "retention")
	disabled := b.addStaff(t, "disabled", "sales")
	b.addStaff(t, "active", "retention")
	japan := b.addStaff(t, "active", "retention")
	st := clients.DefaultSettings()
	st.Tiers = []clients.Tier{{Name: "standard", Label: "Standard"}, {Name: "eu", Label: "EU"}, {Name: "pro", Label: "Professional"}}
	st.TierRules = []clients.TierRule{{Tier: "pro", Experience: []string{"experienced"}}, {Tier: "eu", Countries: []string{"DE", "FR"}}}
	st.ManagerRules = []clients.ManagerRule{{Countries: []string{"JP"}, ManagerID: japan}}
	if _, err := b.svc.SaveSettings(ctx, b.ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		country, experience, tier string
	}{
		{"GB", "none", "standard"}, {"GB", "", "standard"}, {"FR", "some", "eu"}, {"DE", "experienced", "pro"},
		{"US", "experienced", "pro"}, {"ES", "", "standard"}, {"JP", "", "standard"}, {"DE", "", "eu"},
	}
	emails := make([]string, len(cases))
	for i, tc := range cases {
		r := registration()
		r.Country, r.Experience = tc.country, tc.experience
		if _, err := b.svc.Register(ctx, b.ten, r); err != nil {
			t.Fatal(err)
		}
		emails[i] = r.Email
	}
	b.sendVerifications(t)
	tokens := make([]string, len(cases))
	for i, e := range emails {
		tokens[i] = tokensFor(t, e, 1)[0]
	}
	results := make([]clients.Verified, len(cases))
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.svc.Verify(ctx, b.ten, tokens[i])
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
	}
	wg.Wait()
	perManager := map[uuid.UUID]int{}
	for i, v := range results {
		if v.Client.Tier != cases[i].tier {
			t.Errorf("%s/%q: tier %q, want %q", cases[i].country, cases[i].experience, v.Client.Tier, cases[i].tier)
		}
		if v.Client.ManagerID == nil {
			t.Errorf("%s: no manager", cases[i].country)
			continue
		}
		if cases[i].country == "JP" && *v.Client.ManagerID != japan {
			t.Errorf("JP: manager %v, want the country rule's", *v.Client.ManagerID)
		}
		perManager[*v.Client.ManagerID]++
	}
	// Seven round-robin clients over two sales staff: 4 and 3, whatever the order they ran in.
	a, bb := perManager[salesA], perManager[salesB]
	if a+bb != 7 || a < 3 || bb < 3 || perManager[disabled] != 0 || perManager[japan] != 1 {
		t.Errorf("assignments: %d to sales A, %d to sales B, %d to the disabled one, %d by the country rule", a, bb, perManager[disabled], perManager[japan])
	}
}

func TestOnboardingSettingsRefuseWhatCannotWork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := clients.DefaultSettings()
	st.MinimumAge = 12
	st.BlockedCountries = []string{"ZZ"}
	st.ExtraDisposableDomains = []string{"not a domain"}
	st.Tiers = append(st.Tiers, clients.Tier{Name: "Bad Name"})
	st.DefaultTier = "gold"
	st.TierRules = []clients.TierRule{{Tier: "gold", Countries: []string{"DE"}}, {Tier: "standard"}}
	st.ManagerAssignment = "lottery"
	st.ManagerRules = []clients.ManagerRule{{Countries: []string{"DE"}, ManagerID: uuid.New()}}
	_, err := b.svc.SaveSettings(ctx, b.ten, audit.System("test"), st)
	var ve *validation.Error
	if !errors.As(err, &ve) {
		t.Fatalf("bad settings: %v", err)
	}
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Field] = true
	}
	for _, f := range []string{"minimum_age", "blocked_countries", "extra_disposable_domains", "tiers", "default_tier", "tier_rules", "manager_assignment"} {
		if !got[f] {
			t.Errorf("no error for %s: %v", f, ve.Fields)
		}
	}
	st = clients.DefaultSettings()
	st.ManagerRules = []clients.ManagerRule{{Countries: []string{"de"}, ManagerID: uuid.New()}}
	if _, err := b.svc.SaveSettings(ctx, b.ten, audit.System("test"), st); !errors.As(err, &ve) || ve.Fields[0].Field != "manager_rules" {
		t.Errorf("a manager who is not staff: %v", err)
	}
	if saved, _ := b.svc.Settings(ctx, b.ten); saved.MinimumAge != 18 {
		t.Errorf("refused settings were stored: %+v", saved)
	}
}

func TestTheLinkOfAClientSuspendedBeforeVerifyingDoesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, c, _, token := b.registeredWithLink(t)
	if err := transition(b.svc, b.p, b.ten, c.ID, clients.StatusSuspended, "duplicate identity under review", audit.System("test")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Verify(ctx, b.ten, token); !errors.Is(err, clients.ErrLinkUnknown) {
		t.Errorf("link of a suspended client: %v, want ErrLinkUnknown", err)
	}
	if got, _ := b.svc.Get(ctx, b.ten, c.ID); got.Status != clients.StatusSuspended || got.EmailVerifiedAt != nil {
		t.Errorf("the client moved: %+v", got)
	}
}

func TestALinkWorksBeforeItsSentMarkAndARetriedSendKeepsTheFirstLinkWorking(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, c, task, first := b.registeredWithLink(t)
	// The worker died between sending and marking the link sent: the reader still follows it, and the task runs again.
	unmark := func() {
		t.Helper()
		if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE client_email_verifications SET sent_at = NULL WHERE client_id = $1`, c.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	unmark()
	if err := b.svc.CheckLink(ctx, b.ten, first); err != nil {
		t.Fatalf("the emailed link before its sent mark: %v, want usable", err)
	}
	if err := b.svc.HandleSendVerification(ctx, b.ten, task); err != nil {
		t.Fatal(err)
	}
	tokens := tokensFor(t, r.Email, 2)
	if tokens[0] == first {
		t.Fatal("the retry sent the same token")
	}
	for _, tok := range []string{first, tokens[0]} {
		if err := b.svc.CheckLink(ctx, b.ten, tok); err != nil {
			t.Fatalf("after the retry a link says %v, want both usable", err)
		}
	}
	// Once an attempt is marked sent, a further run of the task sends nothing.
	if err := b.svc.HandleSendVerification(ctx, b.ten, task); err != nil {
		t.Fatal(err)
	}
	if msgs, err := localsvc.MailpitMessages(ctx, os.Getenv("BD_MAILPIT_URL"), r.Email); err != nil || len(msgs) != 2 {
		t.Fatalf("%d emails after a run of a sent task (%v), want still 2", len(msgs), err)
	}
	// Either link verifies; the other then answers as used, not as a second verification.
	v, err := b.svc.Verify(ctx, b.ten, first)
	if err != nil || v.Client.Status != clients.StatusEmailVerified {
		t.Fatalf("verifying through the first link: %+v %v", v, err)
	}
	if v, err := b.svc.Verify(ctx, b.ten, tokens[0]); err == nil && !v.Already {
		t.Fatalf("the second link after verification: %+v, want already verified or refused", v)
	}
}

// registeredWithLink registers a client, runs its verification task and returns the registration, the client, the
// task (to deliver again) and the emailed link's token.
func (b *bundle) registeredWithLink(t *testing.T) (clients.Registration, clients.Client, jobs.Envelope, string) {
	t.Helper()
	r := registration()
	c, err := b.svc.Register(context.Background(), b.ten, r)
	if err != nil {
		t.Fatal(err)
	}
	envs := b.sendVerifications(t)
	if len(envs) != 1 {
		t.Fatalf("%d verification tasks, want 1", len(envs))
	}
	return r, c, envs[0], tokensFor(t, r.Email, 1)[0]
}
