package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. They are a value, stored inside every hash, so they can be raised at any
// time: old hashes still verify with the parameters they were made with, and Verify says when one should be
// re-hashed with the current ones (do it right after a successful login, while the plain password is at hand).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes; also the goroutines one hash uses
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are the parameters new hashes get: 64 MiB, 4 passes, 2 lanes, 16-byte salt, 32-byte key. On the
// 2-core reference machine one hash takes 85-100 ms (BenchmarkPasswordHash; docs/security.md has the figures and
// the alternatives measured), inside the 50-150 ms we aim for: an offline guesser gets about a dozen guesses per
// second per two cores and pays 64 MiB for each one in flight, while a login is not noticeably slow. Memory is what
// makes GPUs and ASICs expensive, so memory is the first knob to raise when hardware allows.
func DefaultParams() Params {
	return Params{Memory: 64 << 10, Time: 4, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Bounds for parameters, both our own and those read back from stored hashes: a stored hash is data, and one
// claiming m=4 TiB must not take the server down when someone tries to log in with it.
const (
	minMemory, maxMemory   = 8 << 10, 1 << 20 // 8 MiB .. 1 GiB
	minTime, maxTime       = 1, 16
	minThreads, maxThreads = 1, 16
	minSalt, maxSalt       = 8, 64
	minKey, maxKey         = 16, 64
	// MaxPasswordBytes bounds what is hashed at all. The policy allows 128 characters (up to 512 bytes of UTF-8);
	// the rest is headroom, the bound is only there so a megabyte "password" is refused before any work.
	MaxPasswordBytes = 1024
)

func (p Params) check() error {
	switch {
	case p.Memory < minMemory || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB outside [%d, %d]", p.Memory, minMemory, maxMemory)
	case p.Time < minTime || p.Time > maxTime:
		return fmt.Errorf("time %d outside [%d, %d]", p.Time, minTime, maxTime)
	case p.Threads < minThreads || p.Threads > maxThreads:
		return fmt.Errorf("threads %d outside [%d, %d]", p.Threads, minThreads, maxThreads)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB below 8 KiB per lane", p.Memory)
	case p.SaltLen < minSalt || p.SaltLen > maxSalt:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSalt, maxSalt)
	case p.KeyLen < minKey || p.KeyLen > maxKey:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKey, maxKey)
	}
	return nil
}

// Errors of password hashing.
var (
	ErrMalformedHash   = errors.New("auth: malformed password hash")
	ErrPasswordTooLong = errors.New("auth: password too long")
)

// Hasher hashes and verifies passwords with argon2id. It admits at most a fixed number of hashes at once: each one
// holds Params.Memory for its whole run, so without a bound a burst of logins (or an attacker) could take the
// process' memory. Waiting callers queue for at most MaxHashWait (or until their context ends); past it they get
// a *BusyError, which the web layer answers with 503 and Retry-After instead of multiplying memory.
type Hasher struct {
	params  Params
	slots   chan struct{}
	wait    time.Duration
	waiting *atomic.Int32 // checks waiting for a slot (shared by WithMaxWait's copies, like slots)
}

// MaxHashWait is how long a password check waits for its turn before it is refused as busy. A queue longer than
// this is a flood: a login that waited longer would time out in the user's browser anyway.
const MaxHashWait = 3 * time.Second

// BusyError is a password check refused because every hashing slot stayed taken for MaxHashWait: the server is at
// capacity, the client should retry shortly. Nothing was counted against the account.
type BusyError struct{ Waited time.Duration }

func (e *BusyError) Error() string {
	return fmt.Sprintf("auth: every password hashing slot stayed busy for %s", e.Waited)
}

// Overloaded marks the error as a capacity problem (503 with Retry-After, see infra/web).
func (e *BusyError) Overloaded() bool { return true }

// MachineConcurrency is how many hashes of p the machine can usefully run at once: GOMAXPROCS / p.Threads, at
// least 1. Beyond it hashes only take turns on the CPUs while each holds p.Memory, so more in flight buys no
// throughput, only memory (2 cores and 2 lanes: one hash, 64 MiB, at a time).
func MachineConcurrency(p Params) int {
	return max(1, runtime.GOMAXPROCS(0)/max(1, int(p.Threads)))
}

// NewHasher makes a Hasher producing params-hashes, with at most concurrent hashes running at once, and never more
// than MachineConcurrency(params): peak hashing memory is min(concurrent, MachineConcurrency) x params.Memory.
func NewHasher(params Params, concurrent int) (*Hasher, error) {
	if err := params.check(); err != nil {
		return nil, fmt.Errorf("auth: password parameters: %w", err)
	}
	if concurrent < 1 {
		return nil, fmt.Errorf("auth: password hasher: concurrency %d, want at least 1", concurrent)
	}
	n := min(concurrent, MachineConcurrency(params))
	return &Hasher{params: params, slots: make(chan struct{}, n), wait: MaxHashWait, waiting: new(atomic.Int32)}, nil
}

// Params are the parameters new hashes get.
func (h *Hasher) Params() Params { return h.params }

// Concurrency is how many hashes run at once at most.
func (h *Hasher) Concurrency() int { return cap(h.slots) }

// WithMaxWait returns a copy of h sharing its slots whose callers wait at most d for a turn (tests, and callers that
// must answer sooner).
func (h *Hasher) WithMaxWait(d time.Duration) *Hasher {
	c := *h
	c.wait = d
	return &c
}

// Hash returns the PHC string of password with a fresh salt: $argon2id$v=19$m=65536,t=4,p=2$<salt>$<key>.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: password salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return PHC{Params: h.params, Salt: salt, Key: key}.String(), nil
}

// Verify reports whether password matches the stored PHC hash, comparing in constant time, and whether the hash
// should be replaced by a fresh Hash(password) because it was made with parameters other than the current ones.
// needsRehash is meaningful only when ok is true. err is for a malformed stored hash or a cancelled context, never
// for a wrong password.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := ParsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if len(password) > MaxPasswordBytes {
		return false, false, nil
	}
	key, err := h.derive(ctx, password, stored.Salt, stored.Params)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(key, stored.Key) != 1 {
		return false, false, nil
	}
	return true, stored.Params != h.params, nil
}

// VerifyAbsent spends what a Verify with the current parameters spends and always fails. Call it when the login
// names no existing user, so that response time does not tell an attacker which emails have accounts.
func (h *Hasher) VerifyAbsent(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		return nil
	}
	salt := make([]byte, h.params.SaltLen)
	_, err := h.derive(ctx, password, salt, h.params)
	return err
}

// turnKey is the context key of a turn taken with Turn on a hasher's slots.
type turnKey struct{ slots chan struct{} }

// turn is a slot held by Turn's caller until release.
type turn struct{ released atomic.Bool }

// Turn waits for one of h's slots as a hash does (MaxHashWait, then a *BusyError; or until ctx ends) and holds it
// until release is called. The hashes run with the returned context use that slot instead of waiting for another:
// a caller that checks a password inside a database transaction takes its turn first, so logins waiting for the
// hasher hold no database connection. Run the turn's hashes one after another, never at once.
func (h *Hasher) Turn(ctx context.Context) (context.Context, func(), error) {
	if err := h.acquire(ctx); err != nil {
		return ctx, func() {}, err
	}
	t := &turn{}
	release := func() {
		if t.released.CompareAndSwap(false, true) {
			<-h.slots
		}
	}
	return context.WithValue(ctx, turnKey{h.slots}, t), release, nil
}

// acquire takes one of h's slots, waiting up to h.wait.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return &BusyError{Waited: h.wait}
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to hash a password: %w", ctx.Err())
	}
}

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("auth: hashing a password: %w", err)
	}
	if t, ok := ctx.Value(turnKey{h.slots}).(*turn); ok && !t.released.Load() {
		return h.hash(password, salt, p), nil // the caller's turn holds the slot
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.slots }()
	return h.hash(password, salt, p), nil
}

// hash runs argon2id; the caller holds a slot.
func (h *Hasher) hash(password string, salt []byte, p Params) []byte {
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if p.Memory >= collectAfter {
		// argon2 allocates its whole memory for every hash and drops it after. Go's collector would only notice
		// once the heap doubled (GOGC=100; five times over with the API task's GOGC=400), so a burst of logins
		// would pile several dead 64 MiB blocks up before one is reused: the bound on hashes at once would not
		// bound memory. Collecting here, while the slot is still held, frees the block before the next hash
		// allocates its own (a few milliseconds). A freed block still stays resident until the runtime's
		// scavenger returns it, and small allocations made meanwhile can split it, so the next hash's block lands
		// elsewhere: when no other check is running or waiting, the block is also returned to the system at once
		// (debug.FreeOSMemory). Not after every hash: the next one would fault all 64 MiB back in, which in a
		// burst roughly doubled a check's time. BenchmarkFloodRSS: 200 concurrent logins with bodies flooding in
		// peak at 160-200 MiB RSS this way; without collecting, logins alone reached 240 MiB.
		if len(h.slots) == 1 && h.waiting.Load() == 0 {
			debug.FreeOSMemory()
		} else {
			runtime.GC()
		}
	}
	return key
}

// collectAfter is the hash memory (KiB) from which a hash is followed by a collection that returns its block to the
// system (see derive); cheaper hashes (tests) skip it.
const collectAfter = 16 << 10

// PHC is a parsed argon2id hash string.
type PHC struct {
	Params Params
	Salt   []byte
	Key    []byte
}

// phcB64 is the PHC string format's base64: standard alphabet, no padding. Strict, so every hash has exactly one
// spelling.
var phcB64 = base64.RawStdEncoding.Strict()

// decodePHCB64 decodes and insists the input was the canonical encoding: the standard decoder skips CR and LF even in
// strict mode, and a stored hash should have exactly one spelling.
func decodePHCB64(s string) ([]byte, error) {
	b, err := phcB64.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if phcB64.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

// String is the PHC form: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>.
func (p PHC) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Params.Memory, p.Params.Time, p.Params.Threads, phcB64.EncodeToString(p.Salt), phcB64.EncodeToString(p.Key))
}

// ParsePHC reads an argon2id PHC string. It accepts only what String writes (argon2id, version 19, m, t and p in
// that order, plain decimal numbers) within the parameter bounds, so a tampered or foreign hash fails here instead
// of costing a gigabyte later.
func ParsePHC(s string) (PHC, error) {
	fields := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return PHC{}, fmt.Errorf("%w: want $argon2id$v=19$m=..,t=..,p=..$salt$hash", ErrMalformedHash)
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return PHC{}, fmt.Errorf("%w: unsupported argon2 version", ErrMalformedHash)
	}
	ps := strings.Split(fields[3], ",")
	if len(ps) != 3 {
		return PHC{}, fmt.Errorf("%w: want m=..,t=..,p=..", ErrMalformedHash)
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(ps[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || strconv.FormatUint(n, 10) != v {
			return PHC{}, fmt.Errorf("%w: parameter %s", ErrMalformedHash, name)
		}
		vals[i] = uint32(n)
	}
	salt, err := decodePHCB64(fields[4])
	if err != nil {
		return PHC{}, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	key, err := decodePHCB64(fields[5])
	if err != nil {
		return PHC{}, fmt.Errorf("%w: hash: %w", ErrMalformedHash, err)
	}
	if vals[2] > maxThreads {
		return PHC{}, fmt.Errorf("%w: p=%d outside [%d, %d]", ErrMalformedHash, vals[2], minThreads, maxThreads)
	}
	p := PHC{
		Params: Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt:   salt, Key: key,
	}
	if err := p.Params.check(); err != nil {
		return PHC{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, nil
}
