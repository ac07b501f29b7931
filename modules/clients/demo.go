package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// demoStep is one status change in a demo client's past.
type demoStep struct {
	to     Status
	reason string
}

// The paths to each status, with the reasons a compliance team would write.
var (
	toVerified  = []demoStep{{StatusEmailVerified, "email address verified through the emailed link"}}
	toSubmitted = append(toVerified, demoStep{StatusKYCSubmitted, "passport and proof of address uploaded"})
	toApproved  = append(toSubmitted, demoStep{StatusKYCApproved, "all required documents approved"})
)

func then(base []demoStep, more ...demoStep) []demoStep {
	return append(append([]demoStep(nil), base...), more...)
}

// demoClients are the demo brokerage's traders: at least one in every status, from several countries, with the
// history that led there, a tier, a manager and, for two, a referral.
var demoClients = []struct {
	first, last, country, experience, tier, referral, source string
	manager                                                  staff.Role // "" for nobody (not verified yet)
	steps                                                    []demoStep
}{
	{"Liam", "Walsh", "IE", "none", "", "", "", "", nil},
	{"Sofia", "Rossi", "IT", "some", "standard", "IB-ATLAS", ReferralLink, staff.RoleSales, toVerified},
	{"Kenji", "Tanaka", "JP", "experienced", "pro", "", "", staff.RoleSales, toSubmitted},
	{"Amara", "Okafor", "NG", "some", "standard", "PARTNER7", ReferralTyped, staff.RoleSales, toSubmitted},
	{"Lucas", "Martin", "FR", "none", "standard", "", "", staff.RoleSales, then(toSubmitted,
		demoStep{StatusKYCMoreInfo, "proof of address is older than three months: a recent utility bill or bank statement is needed"})},
	{"Olga", "Ivanova", "CY", "some", "standard", "", "", staff.RoleRetention, then(toSubmitted,
		demoStep{StatusKYCRejected, "the passport photo does not match the selfie"})},
	{"Hannah", "Schmidt", "DE", "experienced", "pro", "IB-ATLAS", ReferralLink, staff.RoleSales, toApproved},
	{"Diego", "Fernandez", "ES", "some", "standard", "", "", staff.RoleRetention, toApproved},
	{"Priya", "Sharma", "AE", "experienced", "vip", "", "", staff.RoleSales, toApproved},
	{"Tom", "Baker", "GB", "some", "standard", "", "", staff.RoleRetention, then(toApproved,
		demoStep{StatusRestricted, "source-of-funds check pending after a large deposit: withdrawals only"})},
	{"Eva", "Novak", "CZ", "none", "standard", "", "", staff.RoleSales, then(toApproved,
		demoStep{StatusSuspended, "card chargeback under investigation"})},
	{"Mark", "Jensen", "DK", "some", "standard", "", "", staff.RoleRetention, then(toApproved,
		demoStep{StatusClosed, "the client asked to close the account"})},
}

// DemoSettings are the demo brokerage's onboarding settings: three tiers, experienced traders as pro, a VIP tier
// that may deposit before KYC approval.
func DemoSettings() Settings {
	st := DefaultSettings()
	st.Tiers = []Tier{{Name: "standard", Label: "Standard"}, {Name: "pro", Label: "Professional"},
		{Name: "vip", Label: "VIP", DepositsBeforeKYC: true}}
	st.TierRules = []TierRule{{Tier: "pro", Experience: []string{"experienced"}}}
	st.BlockedCountries = []string{"IR", "KP"}
	return st
}

// DemoSeeder adds the demo traders to a tenant with their status history (and its audit entries), tiers, managers
// (the demo sales and retention staff, when seeded) and referrals, the demo onboarding settings, and a client for
// identity's demo trader login (status email_verified, so KYC can be tried from the portal). It implements
// tenants.Seeder (idempotent: clients that exist are left alone).
type DemoSeeder struct {
	// ThroughReview is the demo brokerage of `make run`: a client whose story passes KYC is written only up to
	// email verification, and the kyc module's demo (kyc.SeedDemo, after provisioning) plays the rest of
	// DemoStories through the real upload, review and status change, so the client's documents, status history
	// and timeline tell one story. Without it (the tests' quick fixture, one transaction and no blob store) every
	// status is written directly, with its history and audit entry, and no documents exist.
	ThroughReview bool
}

// DemoStory is what happens to a demo client after email verification, in order: the statuses the KYC review
// and compliance move them through, each with the reason the history keeps (for a review's decision, the officer's
// note to the client).
type DemoStory struct {
	Email string
	Steps []DemoStep
}

// DemoStep is one status change of a DemoStory.
type DemoStep struct {
	To     Status
	Reason string
}

// DemoStories are the stories kyc.SeedDemo plays for the clients a DemoSeeder{ThroughReview: true} left at email
// verification.
func DemoStories() []DemoStory {
	var out []DemoStory
	for _, c := range demoClients {
		if _, rest := splitAtVerification(c.steps); len(rest) > 0 {
			story := DemoStory{Email: DemoEmail(c.first, c.last)}
			for _, st := range rest {
				story.Steps = append(story.Steps, DemoStep{To: st.to, Reason: st.reason})
			}
			out = append(out, story)
		}
	}
	return out
}

// splitAtVerification cuts a demo client's steps after email verification.
func splitAtVerification(steps []demoStep) (upTo, rest []demoStep) {
	for i, st := range steps {
		if st.to == StatusEmailVerified {
			return steps[:i+1], steps[i+1:]
		}
	}
	return steps, nil
}

// DemoEmail is a demo trader's email address (the trading desk links the simulator's accounts to them by it).
func DemoEmail(first, last string) string {
	return fmt.Sprintf("%s.%s@traders.demo", strings.ToLower(first), strings.ToLower(last))
}

// Seed inserts what is missing.
func (d DemoSeeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	raw, err := json.Marshal(DemoSettings())
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, settingsKey, raw); err != nil {
		return err
	}
	managers := map[staff.Role]*uuid.UUID{}
	for _, m := range staff.DemoStaff(t) {
		u, err := staff.ByEmail(ctx, tx, m.Email)
		if errors.Is(err, staff.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		id := u.ID
		managers[m.Roles[0]] = &id
	}
	trail := audit.NewService(nil) // Record writes through tx only
	// The fixture spreads the clients over the last 60 days, each step 5 hours after the last. The story happens
	// now, as its audit rows (timed by the database when written) and the review it continues with do: the history
	// and the timeline then give the same times.
	now := time.Now().UTC().Truncate(time.Second)
	start, apart, step, trader := now.Add(-60*24*time.Hour).Truncate(time.Minute), 36*time.Hour, 5*time.Hour, now.Add(-2*time.Hour).Truncate(time.Minute)
	if d.ThroughReview {
		start, apart, step, trader = now.Add(-time.Duration(len(demoClients)+1)*time.Second), time.Second, 0, now
	}
	for i, c := range demoClients {
		at := start.Add(time.Duration(i) * apart)
		steps := c.steps
		if d.ThroughReview {
			steps, _ = splitAtVerification(steps) // the rest is played through the review (DemoStories)
		}
		if err := seedClient(ctx, tx, trail, DemoEmail(c.first, c.last), c.first, c.last, c.country, c.experience, c.tier, managers[c.manager],
			c.referral, c.source, at, step, steps); err != nil {
			return err
		}
	}
	// Identity's demo trader gets a client of its own, verified and ready to upload documents.
	email := identity.DemoTraderEmail(t)
	if err := seedClient(ctx, tx, trail, email, "Dana", "Demo", "GB", "some", "standard", managers[staff.RoleSales],
		"", "", trader, step, toVerified); err != nil {
		return err
	}
	var id uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, email).Scan(&id); err != nil {
		return err
	}
	if _, err := identity.LinkPortalClientTx(ctx, tx, email, id); err != nil {
		return err
	}
	// The demo introducing broker's client (partners makes it the demo's top partner, IB-ATLAS).
	ib := identity.DemoIBEmail(t)
	if err := seedClient(ctx, tx, trail, ib, "Alex", "Atlas", "CY", "some", "standard", managers[staff.RoleSales],
		"", "", trader, step, toVerified); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, ib).Scan(&id); err != nil {
		return err
	}
	_, err = identity.LinkPortalClientTx(ctx, tx, ib, id)
	return err
}

// seedClient inserts one demo client registered at at with its history (a step every apart), unless a client
// with that email exists.
func seedClient(ctx context.Context, tx pgx.Tx, trail *audit.Service, email, first, last, country, experience, tier string,
	manager *uuid.UUID, referral, source string, at time.Time, apart time.Duration, steps []demoStep) error {
	id := uuid.New()
	status := StatusRegistered
	if len(steps) > 0 {
		status = steps[len(steps)-1].to
	}
	var approved *time.Time
	for i, s := range steps {
		if s.to == StatusKYCApproved {
			a := at.Add(time.Duration(i+1) * apart)
			approved = &a
		}
	}
	var verified *time.Time
	if len(steps) > 0 {
		v := at.Add(apart)
		verified = &v
	}
	if len(steps) == 0 {
		manager = nil
	}
	changed := at.Add(time.Duration(len(steps)) * apart)
	tag, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, marketing_consent,
		experience, status, tier, manager_id, email_verified_at, kyc_approved_at, status_changed_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (email) DO NOTHING`,
		id, email, first, last, country, demoPhone(country, len(first)+len(last)), time.Date(1975+len(first+last)%25, time.Month(1+len(last)%12), 1+len(first)%28, 0, 0, 0, 0, time.UTC),
		len(first)%2 == 0, experience, string(status), tier, manager, verified, approved, changed, at)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if referral != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO client_referrals (client_id, code, source, captured_at, recorded_at) VALUES ($1, $2, $3, $4, $5)`,
			id, referral, source, at.Add(-20*time.Minute), at); err != nil {
			return err
		}
	}
	self := audit.Actor{Kind: audit.ActorClient, ID: id.String()}
	if err := historyAt(ctx, tx, id, "", StatusRegistered, "registered on the portal", self, at); err != nil {
		return err
	}
	if err := trail.Record(ctx, tx, audit.Entry{Actor: self, Action: ActionRegistered, Target: target(id),
		After: map[string]any{"email": email, "first_name": first, "last_name": last, "country": country, "status": StatusRegistered}}); err != nil {
		return err
	}
	from := StatusRegistered
	for i, s := range steps {
		actor := audit.System("kyc")
		switch {
		case s.to == StatusEmailVerified:
			actor = self
		case manager != nil && (s.to == StatusRestricted || s.to == StatusSuspended || s.to == StatusClosed):
			actor = audit.System("compliance")
		}
		if err := historyAt(ctx, tx, id, from, s.to, s.reason, actor, at.Add(time.Duration(i+1)*apart)); err != nil {
			return err
		}
		if err := trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionStatusChanged, Target: target(id),
			Before: map[string]any{"status": from}, After: map[string]any{"status": s.to, "reason": s.reason}}); err != nil {
			return err
		}
		from = s.to
	}
	return nil
}

func historyAt(ctx context.Context, tx pgx.Tx, id uuid.UUID, from, to Status, reason string, actor audit.Actor, at time.Time) error {
	var fromArg *string
	if from != "" {
		f := string(from)
		fromArg = &f
	}
	_, err := tx.Exec(ctx, `INSERT INTO client_status_history (client_id, from_status, to_status, reason, actor_kind, actor_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, fromArg, string(to), reason, string(actor.Kind), actor.ID, at)
	return err
}

// demoPhone is a plausible E.164 number in a range reserved for fiction or documentation where there is one.
func demoPhone(country string, n int) string {
	prefix := map[string]string{"IE": "+35320", "IT": "+39060", "JP": "+81300", "NG": "+23410", "FR": "+33170", "CY": "+35722",
		"DE": "+49301", "ES": "+34910", "AE": "+97140", "GB": "+44207946", "CZ": "+42022", "DK": "+4532"}[country]
	if prefix == "" {
		prefix = "+4420"
	}
	return fmt.Sprintf("%s%07d", prefix, 100000+n*7919%900000)
}
