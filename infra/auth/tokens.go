package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience says which front door a token opens. A token has exactly one; Verify compares it with the door the
// request came through, so a portal token is useless in the back office and an operator token useless on a tenant.
type Audience string

// The audiences. Console tokens belong to platform operators and carry no tenant; every other audience is tenant
// staff (backoffice), traders and IBs (portal), or a tenant's integration (api) and carries its tenant.
const (
	AudienceBackoffice Audience = "backoffice"
	AudiencePortal     Audience = "portal"
	AudienceConsole    Audience = "console"
	AudienceAPI        Audience = "api"
)

// Valid reports whether a is one of the four audiences.
func (a Audience) Valid() bool {
	switch a {
	case AudienceBackoffice, AudiencePortal, AudienceConsole, AudienceAPI:
		return true
	}
	return false
}

// TypeAccess is the typ claim of an access token. Verify insists on it so that any other JWT we might sign one day
// with the same keys (an email link, a download grant) can never be replayed as a login.
const TypeAccess = "access"

// Lifetimes of access tokens. They are short because an access token cannot be revoked: logging out, suspending a
// user or a tenant takes effect at the latest when the token expires (the refresh token is revoked at once).
const (
	DefaultAccessTTL = 10 * time.Minute
	// MaxAccessTTL bounds every access token, including API tokens; Verify rejects a longer-lived one even when
	// correctly signed. It is also the wait before a rotated-out key may be removed.
	MaxAccessTTL = time.Hour
	// Leeway absorbs clock skew between the instances that issue and verify.
	Leeway = 30 * time.Second
)

// maxTokenLen refuses absurd inputs before any parsing; our tokens are a few hundred bytes.
const maxTokenLen = 8 << 10

// Errors of Verify. Every failure wraps ErrInvalidToken (answer 401, say nothing more to the client) and, where
// there is one, a more specific reason for logs and tests; jwt's own sentinels (jwt.ErrTokenExpired, ...) are
// wrapped too.
var (
	ErrInvalidToken  = errors.New("auth: invalid access token")
	ErrUnknownKey    = errors.New("auth: token names no key of ours")
	ErrWrongIssuer   = errors.New("auth: token issued by someone else")
	ErrWrongAudience = errors.New("auth: token is for another audience")
	ErrWrongTenant   = errors.New("auth: token is for another tenant")
	ErrWrongType     = errors.New("auth: token is not an access token")
	ErrBadClaims     = errors.New("auth: token claims are incomplete or inconsistent")
	// ErrBadExpectation means the caller asked a question with no safe answer (no issuer, a tenant audience
	// without a tenant, a console audience with one); it is a bug, and Verify fails closed.
	ErrBadExpectation = errors.New("auth: invalid verification expectation")
)

// Claims is what an access token says. Roles are for people (backoffice, portal, console); Scope is for API keys.
type Claims struct {
	Issuer    string
	Audience  Audience
	Subject   string // the user, operator or API key id
	TenantID  string // empty exactly when Audience is console
	Roles     []string
	Scope     []string
	Type      string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
	ID        string // jti: unique per token, for logs and an optional deny list
}

// Expectation is what the request's context requires of a token: the host decides Audience and TenantID (a tenant
// host: its tenant; the console host: none), configuration decides Issuer.
type Expectation struct {
	Audience Audience
	Issuer   string
	TenantID string
}

// wireClaims is the JSON form. tid is always written, empty for operators, so a reader never has to guess whether
// an absent tid means "no tenant" or "forgot".
type wireClaims struct {
	jwt.RegisteredClaims
	TenantID *string  `json:"tid"`
	Roles    []string `json:"roles,omitempty"`
	Scope    string   `json:"scope,omitempty"` // space-separated, as in RFC 8693 and RFC 9068
	Type     string   `json:"typ"`
}

// TypeLoginTicket is the typ of a sign-in ticket: short-lived proof that a user's password was right and only the
// second factor is missing, which a sign-in page's second step carries instead of the password. Verify never
// accepts a ticket as an access token, and VerifyTicket accepts nothing but a ticket.
const TypeLoginTicket = "login_2fa"

// Issue signs an access token for c, valid from now for ttl (0 means DefaultAccessTTL). Issue sets Type, IssuedAt,
// NotBefore, ExpiresAt and ID itself, ignoring what c holds there, and returns the claims as signed.
func (r *KeyRing) Issue(c Claims, ttl time.Duration) (string, Claims, error) {
	return r.issue(c, ttl, TypeAccess)
}

// IssueTicket signs a sign-in ticket (TypeLoginTicket) for c, as Issue does an access token.
func (r *KeyRing) IssueTicket(c Claims, ttl time.Duration) (string, Claims, error) {
	return r.issue(c, ttl, TypeLoginTicket)
}

func (r *KeyRing) issue(c Claims, ttl time.Duration, typ string) (string, Claims, error) {
	if ttl == 0 {
		ttl = DefaultAccessTTL
	}
	if ttl < 0 || ttl > MaxAccessTTL {
		return "", Claims{}, fmt.Errorf("auth: issuing token: ttl %v outside (0, %v]", ttl, MaxAccessTTL)
	}
	// Whole seconds: the wire format has no more, and Verify must see what we return.
	now := r.clock().Truncate(time.Second)
	jti, err := randomID()
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: issuing token: %w", err)
	}
	c.Type, c.IssuedAt, c.NotBefore, c.ExpiresAt, c.ID = typ, now, now, now.Add(ttl), jti
	c.Roles, c.Scope = slices.Clone(c.Roles), slices.Clone(c.Scope)
	if err := c.check(); err != nil {
		return "", Claims{}, fmt.Errorf("auth: issuing token: %w", err)
	}
	tid := c.TenantID
	w := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.ClaimStrings{string(c.Audience)},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID: jti,
		},
		TenantID: &tid, Roles: c.Roles, Scope: strings.Join(c.Scope, " "), Type: typ,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, w)
	t.Header["kid"] = r.signer.id
	s, err := t.SignedString(r.signer.priv)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: signing token with key %q: %w", r.signer.id, err)
	}
	return s, c, nil
}

// Verify checks token against want and returns its claims. It accepts only: alg EdDSA; a kid this ring knows; a
// valid signature by that key; exp, nbf and iat present and valid at the ring's clock (with Leeway); a lifetime of at
// most MaxAccessTTL; typ access; iss equal to want.Issuer; exactly one aud equal to want.Audience; tid equal to
// want.TenantID (empty for the console, the host's tenant otherwise). Anything else is an error wrapping
// ErrInvalidToken.
func (r *KeyRing) Verify(token string, want Expectation) (Claims, error) {
	return r.verifyTyped(token, want, TypeAccess)
}

// VerifyTicket checks a sign-in ticket as Verify checks an access token, but insists on typ TypeLoginTicket.
func (r *KeyRing) VerifyTicket(token string, want Expectation) (Claims, error) {
	return r.verifyTyped(token, want, TypeLoginTicket)
}

func (r *KeyRing) verifyTyped(token string, want Expectation, typ string) (Claims, error) {
	if err := want.check(); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: %w: %d bytes", ErrInvalidToken, jwt.ErrTokenMalformed, len(token))
	}
	var w wireClaims
	if _, err := r.parser.ParseWithClaims(token, &w, r.key); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// From here on the claims are authentic; what remains is whether they are meant for this request.
	c, err := w.claims()
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case c.Type != typ:
		return Claims{}, fmt.Errorf("%w: %w: typ %q", ErrInvalidToken, ErrWrongType, c.Type)
	case c.Issuer != want.Issuer:
		return Claims{}, fmt.Errorf("%w: %w: iss %q", ErrInvalidToken, ErrWrongIssuer, c.Issuer)
	case c.Audience != want.Audience:
		return Claims{}, fmt.Errorf("%w: %w: aud %q, want %q", ErrInvalidToken, ErrWrongAudience, c.Audience, want.Audience)
	case c.TenantID != want.TenantID:
		return Claims{}, fmt.Errorf("%w: %w: tid %q, want %q", ErrInvalidToken, ErrWrongTenant, c.TenantID, want.TenantID)
	}
	if err := c.check(); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c, nil
}

// newParser is the one way tokens are parsed. The method list is checked before the key function runs, so "none",
// HS256 (the classic public-key-as-HMAC-secret confusion), RS* and ES* never reach a key at all. A jwt.Parser is
// read-only once built, so one per ring serves every request.
func newParser(clock func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithLeeway(Leeway), jwt.WithTimeFunc(clock),
		jwt.WithExpirationRequired(), jwt.WithNotBeforeRequired(), jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
}

// key is the parser's key function: the kid must be a non-empty string naming one of the ring's keys. The method is
// checked again here so that a future change to the parser options cannot hand an Ed25519 public key to another
// algorithm.
func (r *KeyRing) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
		return nil, fmt.Errorf("alg %q: %w", t.Method.Alg(), jwt.ErrTokenSignatureInvalid)
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	pub, ok := r.verify[kid]
	if !ok {
		if len(kid) > maxKeyIDLen {
			kid = kid[:maxKeyIDLen] + "..."
		}
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	return ed25519.PublicKey(pub), nil
}

// claims converts the authenticated wire form, refusing shapes Issue never produces.
func (w *wireClaims) claims() (Claims, error) {
	if len(w.Audience) != 1 {
		return Claims{}, fmt.Errorf("%w: want exactly one aud, got %d", ErrWrongAudience, len(w.Audience))
	}
	if w.TenantID == nil {
		return Claims{}, fmt.Errorf("%w: no tid", ErrBadClaims)
	}
	if w.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: no iat", ErrBadClaims)
	}
	c := Claims{
		Issuer: w.Issuer, Audience: Audience(w.Audience[0]), Subject: w.Subject, TenantID: *w.TenantID,
		Roles: w.Roles, Type: w.Type, ID: w.ID,
		IssuedAt: w.IssuedAt.Time, NotBefore: w.NotBefore.Time, ExpiresAt: w.ExpiresAt.Time,
	}
	if w.Scope != "" {
		c.Scope = strings.Split(w.Scope, " ")
	}
	return c, nil
}

// check is the shape every access token must have, applied both when issuing (catching caller bugs before they
// become tokens) and when verifying (so a token from a buggy or older issuer is not trusted beyond what it says).
func (c Claims) check() error {
	switch {
	case !c.Audience.Valid():
		return fmt.Errorf("%w: unknown aud %q", ErrBadClaims, c.Audience)
	case c.Issuer == "" || c.Subject == "" || c.ID == "":
		return fmt.Errorf("%w: iss, sub and jti are required", ErrBadClaims)
	case c.Audience == AudienceConsole && c.TenantID != "":
		return fmt.Errorf("%w: a console token carries no tenant", ErrBadClaims)
	case c.Audience != AudienceConsole && c.TenantID == "":
		return fmt.Errorf("%w: a %s token must carry its tenant", ErrBadClaims, c.Audience)
	case c.Audience == AudienceAPI && len(c.Roles) > 0:
		return fmt.Errorf("%w: API tokens carry a scope, not roles", ErrBadClaims)
	case c.Audience != AudienceAPI && len(c.Scope) > 0:
		return fmt.Errorf("%w: only API tokens carry a scope", ErrBadClaims)
	case c.ExpiresAt.Sub(c.IssuedAt) > MaxAccessTTL || c.NotBefore.Before(c.IssuedAt):
		return fmt.Errorf("%w: lifetime outside the allowed bounds", ErrBadClaims)
	}
	for _, s := range c.Scope {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("%w: scope %q", ErrBadClaims, s)
		}
	}
	return nil
}

// check refuses expectations that cannot be right, so a caller's mistake never turns into an open door.
func (e Expectation) check() error {
	switch {
	case !e.Audience.Valid():
		return fmt.Errorf("%w: unknown audience %q", ErrBadExpectation, e.Audience)
	case e.Issuer == "":
		return fmt.Errorf("%w: no issuer", ErrBadExpectation)
	case e.Audience == AudienceConsole && e.TenantID != "":
		return fmt.Errorf("%w: the console has no tenant", ErrBadExpectation)
	case e.Audience != AudienceConsole && e.TenantID == "":
		return fmt.Errorf("%w: a %s host must name its tenant", ErrBadExpectation, e.Audience)
	}
	return nil
}

// randomID is 128 random bits, base64url: jti values and refresh-token family ids.
func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
