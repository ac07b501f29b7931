package clients

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Registration is what a trader fills in on the portal.
type Registration struct {
	Email            string
	Password         string
	FirstName        string
	LastName         string
	Country          string // ISO 3166-1 alpha-2
	Phone            string // E.164, spaces, dashes, dots and parentheses allowed
	DateOfBirth      string // YYYY-MM-DD
	Experience       string // optional: none, some, experienced
	MarketingConsent bool
	Referral         Referral
}

// Referral is the IB/affiliate code a registration came with.
type Referral struct {
	Code       string
	Source     string    // ReferralLink (the ?ref= cookie) or ReferralTyped
	CapturedAt time.Time // when the link was followed, or the form sent
}

// Referral sources.
const (
	ReferralLink  = "link"
	ReferralTyped = "typed"
)

// Field limits.
const (
	maxNameLen  = 100
	maxEmailLen = 254
)

var (
	referralCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	phoneNoise   = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "\u00a0", "")
)

// ValidReferralCode reports whether code may be a referral code (what ?ref= accepts too).
func ValidReferralCode(code string) bool { return referralCode.MatchString(code) }

// NormalizePhone returns the E.164 form of what a trader typed ("+44 20 7946-0958" -> "+442079460958"); a leading
// "00" counts as "+". ok is false when it is not a phone number in international form.
func NormalizePhone(s string) (string, bool) {
	p := phoneNoise.Replace(strings.TrimSpace(s))
	if strings.HasPrefix(p, "00") {
		p = "+" + p[2:]
	}
	return p, e164.MatchString(p)
}

// ageOn is the age in whole years of someone born on dob, on day now.
func ageOn(dob, now time.Time) int {
	y := now.Year() - dob.Year()
	if now.Month() < dob.Month() || (now.Month() == dob.Month() && now.Day() < dob.Day()) {
		y--
	}
	return y
}

func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > maxNameLen {
		return false
	}
	letter := false
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune("<>\"@;:/\\{}[]|=+*#$%^&_~`", r) {
			return false
		}
		letter = letter || unicode.IsLetter(r)
	}
	return letter
}

// checked is a registration after validation.
type checked struct {
	Registration
	dob time.Time
}

// validate checks every field against the rules and the tenant's settings, and reports every refused field at once.
func (r Registration) validate(st Settings, now time.Time) (checked, error) {
	var f validation.Fields
	c := checked{Registration: r}
	c.Email = strings.ToLower(strings.TrimSpace(r.Email))
	c.FirstName, c.LastName = strings.Join(strings.Fields(r.FirstName), " "), strings.Join(strings.Fields(r.LastName), " ")
	c.Country = strings.ToUpper(strings.TrimSpace(r.Country))
	c.Experience = strings.ToLower(strings.TrimSpace(r.Experience))
	c.Referral.Code = strings.TrimSpace(r.Referral.Code)

	if c.Email == "" {
		f.Add("email", "is required")
	} else if p := validation.Email(c.Email); p != "" {
		f.Add("email", p) // one line, no invisible characters (a U+202E in an address would show it reversed)
	} else if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || len(c.Email) > maxEmailLen ||
		!strings.Contains(c.Email[strings.LastIndexByte(c.Email, '@')+1:], ".") {
		f.Add("email", "is not an email address")
	} else if disposable(c.Email[strings.LastIndexByte(c.Email, '@')+1:], st.ExtraDisposableDomains) {
		f.Add("email", "is at a disposable email provider: use an address you will keep")
	}
	var pe *auth.PasswordError
	if r.Password == "" {
		f.Add("password", "is required")
	} else if err := auth.CheckPassword(r.Password); errors.As(err, &pe) {
		for _, p := range pe.Problems {
			f.Add("password", p.Message)
		}
	} else if err != nil {
		f.Add("password", "is not allowed")
	}
	for _, n := range []struct{ field, v, raw string }{{"first_name", c.FirstName, r.FirstName}, {"last_name", c.LastName, r.LastName}} {
		switch {
		case n.v == "":
			f.Add(n.field, "is required")
		case validation.Name(n.raw) != "": // as typed: a line break or a bidi override is refused, not folded away
			f.Add(n.field, validation.Name(n.raw))
		case !validName(n.v):
			f.Add(n.field, fmt.Sprintf("must be a name of at most %d characters, without symbols", maxNameLen))
		}
	}
	switch {
	case c.Country == "":
		f.Add("country", "is required")
	case !ValidCountry(c.Country):
		f.Add("country", "is not an ISO 3166 country code")
	case slices.Contains(st.BlockedCountries, c.Country):
		f.Add("country", "is a country we cannot accept clients from")
	}
	if strings.TrimSpace(r.Phone) == "" {
		f.Add("phone", "is required")
	} else if p, ok := NormalizePhone(r.Phone); !ok {
		f.Add("phone", "must be an international number with its country code, like +44 20 7946 0958")
	} else {
		c.Phone = p
	}
	if strings.TrimSpace(r.DateOfBirth) == "" {
		f.Add("date_of_birth", "is required")
	} else if dob, err := time.Parse(time.DateOnly, strings.TrimSpace(r.DateOfBirth)); err != nil || dob.Year() < 1900 || dob.After(now) {
		f.Add("date_of_birth", "must be a date like 1990-04-25")
	} else if ageOn(dob, now) < st.MinimumAge {
		f.Add("date_of_birth", fmt.Sprintf("shows you are under %d: you must be at least %d to open an account", st.MinimumAge, st.MinimumAge))
	} else {
		c.dob = dob
	}
	if c.Experience != "" && !slices.Contains(Experiences, c.Experience) {
		f.Add("experience", "must be none, some or experienced")
	}
	if c.Referral.Code != "" {
		if !ValidReferralCode(c.Referral.Code) {
			f.Add("referral_code", "must be 1 to 32 letters, digits, '-' or '_'")
		}
		if c.Referral.Source != ReferralLink {
			c.Referral.Source = ReferralTyped
		}
		if c.Referral.CapturedAt.IsZero() || c.Referral.CapturedAt.After(now) {
			c.Referral.CapturedAt = now
		}
	}
	return c, f.Err()
}

// errEmailRegistered is the registration's answer for an email that already has a client or a portal login: the
// field error says only "already registered".
func errEmailRegistered() error {
	return validation.New("email", "is already registered: sign in, or reset your password")
}

// TaskSendVerification is the outbox task that mints a verification token and emails the link.
const TaskSendVerification = "clients:send-verification"

type verificationTask struct {
	ClientID uuid.UUID `json:"client_id"`
}

// Register creates a client (status registered) with a portal login, the referral attribution, the first status
// history row, the audit entries and the task that emails the verification link, in one transaction. Every
// refused field is in a *validation.Error (an email that is already registered, also when two registrations race
// for it, is one of them); nothing is written then.
func (s *Service) Register(ctx context.Context, t tenants.Tenant, r Registration) (Client, error) {
	if s.portal == nil {
		return Client{}, errors.New("clients: registration needs the portal users (Options.Portal)")
	}
	st, err := s.Settings(ctx, t)
	if err != nil {
		return Client{}, err
	}
	now := s.now()
	c, err := r.validate(st, now)
	if err != nil {
		return Client{}, err
	}
	id := uuid.New()
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE email = $1)`, c.Email).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return errEmailRegistered()
		}
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth,
			marketing_consent, experience, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'registered')`,
			id, c.Email, c.FirstName, c.LastName, c.Country, c.Phone, c.dob, c.MarketingConsent, c.Experience)
		if database.IsUniqueViolation(err) {
			return errEmailRegistered() // a registration that raced this one won
		}
		if err != nil {
			return fmt.Errorf("insert client: %w", err)
		}
		if _, err := s.portal.CreatePortalUserTx(ctx, tx, c.Email, c.Password, id); err != nil {
			var pe *auth.PasswordError
			if errors.As(err, &pe) {
				return validation.New("password", "does not meet the policy")
			}
			if errors.Is(err, identity.ErrEmailTaken) {
				return errEmailRegistered()
			}
			return err
		}
		if c.Referral.Code != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO client_referrals (client_id, code, source, captured_at) VALUES ($1, $2, $3, $4)`,
				id, c.Referral.Code, c.Referral.Source, c.Referral.CapturedAt); err != nil {
				return fmt.Errorf("referral: %w", err)
			}
		}
		actor := audit.Actor{Kind: audit.ActorClient, ID: id.String()}
		if err := addHistory(ctx, tx, id, "", StatusRegistered, "registered on the portal", actor); err != nil {
			return err
		}
		if _, err := s.outbox.Add(ctx, tx, TaskSendVerification, "verify:"+id.String()+":0", verificationTask{ClientID: id},
			jobs.WithMaxRetry(12), jobs.WithTimeout(time.Minute)); err != nil {
			return err
		}
		if err := s.events.Publish(ctx, tx, t, Registered{ClientID: id, Country: c.Country, ReferralCode: c.Referral.Code,
			ReferralSource: c.Referral.Source}); err != nil {
			return err
		}
		after := map[string]any{"email": c.Email, "first_name": c.FirstName, "last_name": c.LastName, "country": c.Country,
			"status": StatusRegistered, "marketing_consent": c.MarketingConsent}
		if c.Referral.Code != "" {
			after["referral"] = map[string]any{"code": c.Referral.Code, "source": c.Referral.Source}
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionRegistered, Target: target(id), After: after})
	})
	if err != nil {
		return Client{}, err
	}
	return s.Get(ctx, t, id)
}
