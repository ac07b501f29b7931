package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"
)

// HeaderIdempotencyKey names the request header of a route declared Idempotent.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderIdempotentReplayed marks a response replayed from the store rather than produced by the handler.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// IdempotencyKey is what a stored response is filed under. The store adds the tenant (from the request's
// context): keys are the caller's, so two callers (or tenants) may pick the same one without meeting.
type IdempotencyKey struct {
	Principal string // who is calling: a user or API key id, or a hash of the credential
	Key       string // the client's Idempotency-Key
}

// StoredResponse is what is replayed for a repeat: status, the headers in storedHeaders, body.
type StoredResponse struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Errors an IdempotencyStore's Begin returns instead of a claim.
var (
	// ErrIdempotencyMismatch: the key was used before for a different request (method, path or body).
	ErrIdempotencyMismatch = errors.New("idempotency key reused for a different request")
	// ErrIdempotencyInProgress: the first request with this key is still running.
	ErrIdempotencyInProgress = errors.New("a request with this idempotency key is in progress")
)

// IdempotencyStore keeps the first response of each key (24 h is the platform's promise, see docs/api.md).
type IdempotencyStore interface {
	// Begin claims k for a request with the given fingerprint. A nil response and nil error is a claim: run the
	// handler, then Finish or Release. A stored response is a repeat to replay. Otherwise the error is
	// ErrIdempotencyMismatch, ErrIdempotencyInProgress or a failure of the store.
	Begin(ctx context.Context, k IdempotencyKey, fingerprint []byte) (*StoredResponse, error)
	// Finish stores the response of a claimed key.
	Finish(ctx context.Context, k IdempotencyKey, r StoredResponse) error
	// Release forgets a claimed key whose request failed, so a retry runs it again.
	Release(ctx context.Context, k IdempotencyKey) error
}

// storedHeaders are the response headers worth replaying; the rest (request id, rate limits, dates) describe
// the repeat itself.
var storedHeaders = []string{fiber.HeaderContentType, fiber.HeaderLocation}

// maxIdempotencyKeyLen bounds a client's key (a UUID is 36).
const maxIdempotencyKeyLen = 255

// idempotent is the middleware of a route declared Idempotent: the first request with a key runs and its
// response is stored; a repeat with the same method, path and body gets that response again (with
// Idempotent-Replayed: true) without running the handler; the same key with anything else is refused (422), and
// a repeat that arrives while the first still runs gets 409 and may retry.
//
// Only completed requests are stored: when the handler fails (an error, or a 5xx) the key is released, so a
// retry runs again. Errors do not commit effects here, and storing a transient failure would make it permanent.
func idempotent(store IdempotencyStore, principal func(*fiber.Ctx) string, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		key := c.Get(HeaderIdempotencyKey)
		switch {
		case key == "":
			return NewProblem(fiber.StatusBadRequest, "idempotency-key-required",
				"This request needs an Idempotency-Key header: a unique value (such as a UUID) per operation, sent again unchanged on every retry.")
		case len(key) > maxIdempotencyKeyLen || !printableASCII(key):
			p := NewProblem(fiber.StatusBadRequest, "invalid-header", "The Idempotency-Key header is not valid.")
			p.Errors = []FieldError{{Field: HeaderIdempotencyKey, Message: "must be 1 to 255 printable ASCII characters"}}
			return p
		}
		k := IdempotencyKey{Principal: principal(c), Key: key}
		h := sha256.New()
		h.Write([]byte(c.Method() + "\n" + c.Path() + "\n"))
		h.Write(c.Body())
		stored, err := store.Begin(c.UserContext(), k, h.Sum(nil))
		switch {
		case errors.Is(err, ErrIdempotencyMismatch):
			return NewProblem(fiber.StatusUnprocessableEntity, "idempotency-key-reused",
				"This Idempotency-Key was already used for a different request. Use a new key for a new operation.")
		case errors.Is(err, ErrIdempotencyInProgress):
			c.Set(fiber.HeaderRetryAfter, "1")
			return NewProblem(fiber.StatusConflict, "idempotency-key-in-progress",
				"A request with this Idempotency-Key is still being processed. Retry shortly to get its response.")
		case err != nil:
			return err
		case stored != nil:
			for name, v := range stored.Header {
				c.Set(name, v)
			}
			c.Set(HeaderIdempotentReplayed, "true")
			return c.Status(stored.Status).Send(stored.Body)
		}
		// Claimed: from here the key must be finished or released, even if the client has gone away.
		ctx := context.WithoutCancel(c.UserContext())
		if err := c.Next(); err != nil || c.Response().StatusCode() >= 500 {
			if rerr := store.Release(ctx, k); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		r := StoredResponse{Status: c.Response().StatusCode(), Header: map[string]string{},
			Body: append([]byte(nil), c.Response().Body()...)}
		if b, ok := c.Locals(replayBodyKey{}).([]byte); ok {
			r.Body = b
		}
		for _, name := range storedHeaders {
			if v := c.GetRespHeader(name); v != "" {
				r.Header[name] = v
			}
		}
		if err := store.Finish(ctx, k, r); err != nil {
			// The operation happened: the client gets its response. The key stays claimed, so a retry gets 409
			// until the claim lapses (tenants.IdempotencyLock) and then runs again; the domain's own idempotency
			// (ledger keys) has to catch that rare second run.
			log.ErrorContext(ctx, "idempotent response not stored", "err", err, "path", c.Path())
		}
		return nil
	}
}

type replayBodyKey struct{}

// SetReplayBody makes an Idempotent route's handler store body (JSON) for replays instead of the response it
// sends: for a response that shows a secret once (an API key's), whose stored copy must not hold the secret. A
// replay then answers the same status with the secret left out.
func SetReplayBody(c *fiber.Ctx, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c.Locals(replayBodyKey{}, b)
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// CredentialPrincipal is the default principal of idempotency keys: a hash of the request's credential
// (Authorization or X-API-Key), or "anonymous". Once sign-in exists, SetIdempotency should be given the
// authenticated subject instead, so a key survives the caller's token refresh.
func CredentialPrincipal(c *fiber.Ctx) string {
	if cred := credential(c); cred != "" {
		return "cred:" + cred
	}
	return "anonymous"
}

// idempotencyParam documents the header in the OpenAPI document.
func idempotencyParam() map[string]any {
	return map[string]any{"name": HeaderIdempotencyKey, "in": "header", "required": true,
		"description": "A unique value (such as a UUID) per operation, sent unchanged on every retry. The first " +
			"response is stored for 24 hours and replayed for a repeat with the same body; the same key with a " +
			"different body is refused (422), and a repeat while the first runs gets 409.",
		"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": maxIdempotencyKeyLen}}
}
