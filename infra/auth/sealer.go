package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrSealed is returned by Sealer.Open for a value that is not one of ours: malformed, sealed under a key id the
// ring does not hold, sealed for another purpose, or altered.
var ErrSealed = errors.New("auth: sealed value cannot be opened")

// Sealer encrypts small secrets kept in the database (TOTP seeds) with AES-256-GCM under the BD_DATA_KEYS keys.
// The first key seals; every key opens, so keys rotate by putting a new key first and re-sealing at leisure.
//
// A sealed value is "kid:base64(nonce||ciphertext)", bound by the AEAD's additional data to a purpose (e.g.
// "totp:staff:<user id>"), so a value copied to another row or column does not open. Sealer prints as its key ids
// only.
type Sealer struct {
	ids   []string
	aeads map[string]cipher.AEAD
	// first is the first key's material, kept only to derive per-purpose keys (DeriveKey).
	first []byte
}

// ParseSealer reads the BD_DATA_KEYS syntax: comma-separated kid:key pairs, the key standard base64 of 32 random
// bytes. Errors name key ids and positions, never key material.
func ParseSealer(spec string) (*Sealer, error) {
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		id = strings.TrimSpace(id)
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: want kid:base64-key", ErrKeySpec, i+1)
		}
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if _, dup := s.aeads[id]; dup {
			return nil, fmt.Errorf("%w: key id %q appears twice", ErrKeySpec, id)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%w: key %q: want standard base64 of 32 bytes", ErrKeySpec, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if len(s.ids) == 0 {
			s.first = key
		}
		s.ids = append(s.ids, id)
		s.aeads[id] = aead
	}
	if len(s.ids) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKeySpec)
	}
	return s, nil
}

// Seal encrypts plaintext for purpose under the first key.
func (s *Sealer) Seal(purpose string, plaintext []byte) (string, error) {
	id := s.ids[0]
	aead := s.aeads[id]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("auth: seal: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(purpose))
	return id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal made for the same purpose, under whichever of the ring's keys sealed it.
func (s *Sealer) Open(purpose, sealed string) ([]byte, error) {
	id, b64, ok := strings.Cut(sealed, ":")
	aead := s.aeads[id]
	if !ok || aead == nil {
		return nil, ErrSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrSealed
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// DeriveKey returns a 32-byte key for one purpose (e.g. "blob-links"), derived with HKDF-SHA256 from the first
// data key, so a component that needs a MAC key of its own (the disk blob store's signed links) gets one without a
// new secret to configure, and the AES keys themselves are never used for anything but sealing. Another purpose
// gives an unrelated key; rotating BD_DATA_KEYS (a new first key) changes every derived key, which for signed links
// only means that links minted before the rotation stop working (they live minutes).
func (s *Sealer) DeriveKey(purpose string) []byte {
	key, err := hkdf.Key(sha256.New, s.first, []byte("brokerdesk/data-keys/"+s.ids[0]), purpose, 32)
	if err != nil { // only for a length above 255*32 bytes
		panic("auth: DeriveKey: " + err.Error())
	}
	return key
}

// OpenMigrating is Open for a column that held plaintext before it was sealed: a stored value without a key id
// (sealed values are "kid:base64"; a plaintext value of such a column, e.g. a base32 TOTP secret, has no colon) is
// returned as it is. reseal reports whether the value should be stored sealed again: plaintext, or sealed under a
// key that is no longer the first.
func (s *Sealer) OpenMigrating(purpose, stored string) (plain string, reseal bool, err error) {
	if !strings.Contains(stored, ":") {
		return stored, true, nil
	}
	b, err := s.Open(purpose, stored)
	if err != nil {
		return "", false, err
	}
	return string(b), s.NeedsReseal(stored), nil
}

// NeedsReseal reports whether sealed was made under a key other than the current first one (a rotation leftover).
func (s *Sealer) NeedsReseal(sealed string) bool {
	id, _, _ := strings.Cut(sealed, ":")
	return id != s.ids[0]
}

// String names the keys without revealing them.
func (s *Sealer) String() string {
	if s == nil {
		return "data-keys()"
	}
	return "data-keys(" + strings.Join(s.ids, ",") + ")"
}

// GoString keeps %#v from dumping keys.
func (s *Sealer) GoString() string { return s.String() }
