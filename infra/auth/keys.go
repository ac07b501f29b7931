package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrKeySpec is returned for a malformed key list (BD_JWT_KEYS). Its messages name the offending key id or position,
// never the key material, because configuration errors are printed at start-up.
var ErrKeySpec = errors.New("auth: invalid signing keys")

// maxKeyIDLen bounds the kid header; anything longer is not one of ours.
const maxKeyIDLen = 64

// Key is one Ed25519 signing key and the id (kid) tokens name it by. The zero Key is unusable.
//
// Key prints as its id only: it ends up inside configuration structs that get printed with %+v.
type Key struct {
	id   string
	priv ed25519.PrivateKey
}

// GenerateKey makes a fresh random key named id.
func GenerateKey(id string) (Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return Key{}, fmt.Errorf("auth: generating key %q: %w", id, err)
	}
	return NewKey(id, seed)
}

// NewKey builds the key named id from a 32-byte Ed25519 seed.
func NewKey(id string, seed []byte) (Key, error) {
	if err := checkKeyID(id); err != nil {
		return Key{}, err
	}
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("%w: key %q: want a %d-byte Ed25519 seed, got %d bytes", ErrKeySpec, id, ed25519.SeedSize, len(seed))
	}
	return Key{id: id, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// checkKeyID keeps kids to a conservative alphabet, because the id travels in the token header and in the
// comma/colon-separated BD_JWT_KEYS syntax.
func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("%w: a key id must be 1 to %d characters", ErrKeySpec, maxKeyIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: key id %q: use letters, digits, '-', '_' and '.'", ErrKeySpec, id)
		}
	}
	return nil
}

// ID is the key's kid.
func (k Key) ID() string { return k.id }

// Public is the key's public half, the only part a verifier needs.
func (k Key) Public() ed25519.PublicKey {
	if k.priv == nil {
		return nil
	}
	return k.priv.Public().(ed25519.PublicKey)
}

// String names the key without revealing it.
func (k Key) String() string { return "jwt-key(" + k.id + ")" }

// GoString keeps %#v from dumping the private key.
func (k Key) GoString() string { return k.String() }

// ParseKeys reads the BD_JWT_KEYS syntax: comma-separated kid:seed pairs, the seed standard base64 (with padding)
// of the 32-byte Ed25519 seed. Order matters: the first key signs, all verify. Blanks around entries are ignored.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: want kid:base64-seed", ErrKeySpec, i+1)
		}
		seed, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(b64))
		if err != nil {
			// The decoder's error quotes an offset, not the input, but say nothing about the value to be safe.
			return nil, fmt.Errorf("%w: key %q: the seed is not standard base64", ErrKeySpec, strings.TrimSpace(id))
		}
		k, err := NewKey(strings.TrimSpace(id), seed)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKeySpec)
	}
	return keys, nil
}

// FormatKeys writes keys in the BD_JWT_KEYS syntax. The result is secret: it is how `brokerdesk dev` stores its key
// and how an operator prepares a rotation, and it must go only to a secret store.
func FormatKeys(keys ...Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.id + ":" + base64.StdEncoding.EncodeToString(k.priv.Seed())
	}
	return strings.Join(parts, ",")
}

// KeyRing is the set of keys access tokens are signed and verified with: the first key signs, every key verifies.
// That split is what lets keys rotate without logging anyone out (docs/security.md, "Key rotation"):
//
//  1. append the new key (it verifies, it does not sign yet) and deploy everywhere;
//  2. move it to the front (it now signs; the old one still verifies) and deploy;
//  3. after the longest access-token lifetime (MaxAccessTTL) plus leeway has passed, remove the old key and deploy.
//
// Step 1 must reach every instance before step 2 starts, or an instance that does not know the new key yet would
// reject tokens other instances already sign with it. A KeyRing is immutable and safe for concurrent use.
type KeyRing struct {
	signer Key
	verify map[string]ed25519.PublicKey
	ids    []string
	clock  func() time.Time
	parser *jwt.Parser // bound to clock
}

// NewKeyRing makes a ring from keys; keys[0] signs. Key ids and keys must be unique: a repeated kid would make
// "which key verifies" ambiguous, and the same key under two kids defeats removing one of them.
func NewKeyRing(keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKeySpec)
	}
	r := &KeyRing{signer: keys[0], verify: make(map[string]ed25519.PublicKey, len(keys)), clock: time.Now, parser: newParser(time.Now)}
	for _, k := range keys {
		if k.priv == nil {
			return nil, fmt.Errorf("%w: key %q is empty", ErrKeySpec, k.id)
		}
		if _, dup := r.verify[k.id]; dup {
			return nil, fmt.Errorf("%w: key id %q appears twice", ErrKeySpec, k.id)
		}
		pub := k.Public()
		for id, other := range r.verify {
			if bytes.Equal(pub, other) {
				return nil, fmt.Errorf("%w: keys %q and %q are the same key", ErrKeySpec, id, k.id)
			}
		}
		r.verify[k.id] = pub
		r.ids = append(r.ids, k.id)
	}
	return r, nil
}

// ParseKeyRing is ParseKeys followed by NewKeyRing: what configuration loading calls.
func ParseKeyRing(spec string) (*KeyRing, error) {
	keys, err := ParseKeys(spec)
	if err != nil {
		return nil, err
	}
	return NewKeyRing(keys...)
}

// WithClock returns a copy of the ring that reads time from now; tests and benchmarks use it, production does not.
func (r *KeyRing) WithClock(now func() time.Time) *KeyRing {
	c := *r
	c.clock, c.parser = now, newParser(now)
	return &c
}

// SignerID is the kid new tokens are signed with.
func (r *KeyRing) SignerID() string { return r.signer.id }

// KeyIDs lists every kid the ring verifies, signer first.
func (r *KeyRing) KeyIDs() []string { return append([]string(nil), r.ids...) }

// String names the keys without revealing them.
func (r *KeyRing) String() string {
	if r == nil {
		return "jwt-keys()"
	}
	return "jwt-keys(" + strings.Join(r.ids, ",") + ")"
}

// GoString keeps %#v from dumping private keys.
func (r *KeyRing) GoString() string { return r.String() }
