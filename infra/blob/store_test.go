package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
)

// The stores' shared contract, one table run against each store.
var stores = []struct {
	name string
	open func(t *testing.T) blob.Store
}{
	{"s3", func(t *testing.T) blob.Store { return blobtest.S3(t) }},
	{"disk", func(t *testing.T) blob.Store { return blobtest.Disk(t) }},
}

var contract = []struct {
	name string
	run  func(t *testing.T, s blob.Store)
}{
	{"PutThenOpenRoundTripsAMultiMegabyteStream", testRoundTrip},
	{"KeysBreakingTheRulesAreRefusedByEveryMethod", testRefusedKeys},
	{"OpenAndStatOfAMissingKeyAreErrNotFound", testMissing},
	{"DeleteIsIdempotent", testDeleteIdempotent},
	{"DeletePrefixRemovesExactlyThePrefix", testDeletePrefix},
	{"SignedURLServesInlineNoStoreUntilItExpires", testSignedURL},
	{"SignedURLRefusesAFlippedSignatureAnotherKeyAndLongLifetimes", testSignedURLRefusals},
	{"AnObjectIsInvisibleUntilPutSucceedsAndAFailedPutLeavesNothing", testFailedPut},
}

func TestStoresKeepTheContract(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, st.open(t))
				})
			}
		})
	}
}

// stream is a non-seekable reader of n deterministic pseudo-random bytes: the stores must not rely on seeking or
// on knowing the length.
type stream struct {
	rng *rand.ChaCha8
	n   int64
}

func newStream(seed byte, n int64) *stream {
	var s [32]byte
	s[0] = seed
	return &stream{rng: rand.NewChaCha8(s), n: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	n, _ := s.rng.Read(p)
	s.n -= int64(n)
	return n, nil
}

func digest(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil)), n
}

func put(t *testing.T, s blob.Store, key, body string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, strings.NewReader(body), "text/plain"); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, s blob.Store, key string) (string, error) {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func testRoundTrip(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const size = 6<<20 + 12345 // several MiB and not a multiple of any buffer
	key := "tenant-a/client-1/passport.pdf"
	n, err := s.Put(ctx, key, newStream(1, size), "application/pdf")
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v; want %d", n, err, size)
	}
	want, _ := digest(t, newStream(1, size))
	rc, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, gotN := digest(t, rc)
	rc.Close()
	if got != want || gotN != size {
		t.Fatalf("read back %d bytes with another digest; want %d bytes as written", gotN, size)
	}
	obj, err := s.Stat(ctx, key)
	if err != nil || obj != (blob.Object{Key: key, ContentType: "application/pdf", Size: size}) {
		t.Fatalf("Stat = %+v, %v", obj, err)
	}
	// A second Put replaces the object whole.
	put(t, s, key, "second")
	if body, err := read(t, s, key); err != nil || body != "second" {
		t.Fatalf("after overwrite: %q, %v", body, err)
	}
}

func testRefusedKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/t/a", "t//a", "t/a/", "t/../a", "..", "t/..", "t/a..b", "t/./a", ".",
		"t/a b", "t/a\x00", "t/a\nb", "t/a\\b", "t/é", "t/a?b", "t/a#b", "t/a%2e", strings.Repeat("a", 1025)} {
		if _, err := s.Put(ctx, key, strings.NewReader("x"), "text/plain"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.SignedURL(ctx, key, time.Minute, "a.pdf"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("SignedURL(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"", "/", "t", "t/c1", "/t/", "t//", "../", "t/../", "t/ /"} {
		if err := s.DeletePrefix(ctx, prefix); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("DeletePrefix(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	// A key of every allowed character works.
	put(t, s, "t-1/A_z.0~9!*'()=+@,:", "ok")
}

func testMissing(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "t/a", "x")
	for _, key := range []string{"t/missing", "t/a/b", "other/a"} {
		if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func testDeleteIdempotent(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "t/c/doc", "x")
	for i := range 2 {
		if err := s.Delete(ctx, "t/c/doc"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := s.Delete(ctx, "t/never/was"); err != nil {
		t.Fatalf("Delete of a key never written: %v", err)
	}
	if _, err := s.Open(ctx, "t/c/doc"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
	}
}

func testDeletePrefix(t *testing.T, s blob.Store) {
	ctx := context.Background()
	gone := []string{"t1/c1/a", "t1/c1/b/x", "t1/c1/b/y"}
	kept := []string{"t1/c10/a", "t1/c1", "t2/c1/a", "t1/c2/a"}
	for _, k := range append(append([]string{}, gone...), kept...) {
		if k == "t1/c1" {
			continue // a key that is also a prefix: only where the store's layout allows it (below)
		}
		put(t, s, k, k)
	}
	if err := s.DeletePrefix(ctx, "t1/c1/"); err != nil {
		t.Fatal(err)
	}
	for _, k := range gone {
		if _, err := s.Open(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s survived DeletePrefix(t1/c1/): %v", k, err)
		}
	}
	for _, k := range kept {
		if k == "t1/c1" {
			continue
		}
		if body, err := read(t, s, k); err != nil || body != k {
			t.Errorf("%s outside the prefix: %q, %v", k, body, err)
		}
	}
	if err := s.DeletePrefix(ctx, "t1/c1/"); err != nil {
		t.Fatalf("second DeletePrefix: %v", err)
	}
	if err := s.DeletePrefix(ctx, "t9/none/"); err != nil {
		t.Fatalf("DeletePrefix of an empty prefix: %v", err)
	}
}

func fetch(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func testSignedURL(t *testing.T, s blob.Store) {
	ctx := context.Background()
	key := "t/c/id-card.png"
	if _, err := s.Put(ctx, key, strings.NewReader("\x89PNG fake"), "image/png"); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(ctx, key, time.Second, "My ID card.png")
	if err != nil {
		t.Fatal(err)
	}
	res, body := fetch(t, u)
	if res.StatusCode != http.StatusOK || body != "\x89PNG fake" {
		t.Fatalf("fresh link: %s %q", res.Status, body)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") || !strings.Contains(cd, `filename="My ID card.png"`) {
		t.Errorf("Content-Disposition = %q, want inline with the filename", cd)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if ct := res.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("Content-Type = %q, want the stored image/png", ct)
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s lifetime, at whole-second granularity
	if res, body := fetch(t, u); res.StatusCode == http.StatusOK || strings.Contains(body, "PNG fake") {
		t.Fatalf("expired link still served: %s", res.Status)
	}
}

func testSignedURLRefusals(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "t/c/aaaa", "content of aaaa")
	put(t, s, "t/c/bbbb", "content of bbbb")
	u, err := s.SignedURL(ctx, "t/c/aaaa", time.Minute, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if res, body := fetch(t, u); res.StatusCode != http.StatusOK || body != "content of aaaa" {
		t.Fatalf("valid link: %s %q", res.Status, body)
	}
	flipped := flipSignature(t, u)
	if res, body := fetch(t, flipped); res.StatusCode == http.StatusOK || strings.Contains(body, "content of") {
		t.Errorf("link with a flipped signature served: %s", res.Status)
	}
	other := strings.Replace(u, "/t/c/aaaa", "/t/c/bbbb", 1)
	if other == u {
		t.Fatalf("key not found in the link's path: %s", u)
	}
	if res, body := fetch(t, other); res.StatusCode == http.StatusOK || strings.Contains(body, "content of") {
		t.Errorf("link for one key served another: %s", res.Status)
	}
	for _, ttl := range []time.Duration{0, -time.Second, blob.MaxLinkTTL + time.Second, time.Hour} {
		if _, err := s.SignedURL(ctx, "t/c/aaaa", ttl, "a.txt"); !errors.Is(err, blob.ErrTTL) {
			t.Errorf("SignedURL with ttl %v = %v, want ErrTTL", ttl, err)
		}
	}
	if _, err := s.SignedURL(ctx, "t/c/aaaa", blob.MaxLinkTTL, "a.txt"); err != nil {
		t.Errorf("SignedURL with the longest lifetime: %v", err)
	}
}

// flipSignature changes one character of the link's signature (S3's X-Amz-Signature or the disk store's sig).
func flipSignature(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for _, name := range []string{"X-Amz-Signature", "sig"} {
		if sig := q.Get(name); sig != "" {
			last := sig[len(sig)-1]
			repl := byte('a')
			if last == 'a' {
				repl = 'b'
			}
			q.Set(name, sig[:len(sig)-1]+string(repl))
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	t.Fatalf("no signature in %s", raw)
	return ""
}

// stallingReader sends n bytes, says so on reached, then waits for release and fails.
type stallingReader struct {
	r       io.Reader
	reached chan struct{}
	release chan struct{}
}

var errClientGone = errors.New("client went away")

func (s *stallingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		close(s.reached)
		<-s.release
		return 0, errClientGone
	}
	return n, err
}

func testFailedPut(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, existing := range []bool{false, true} {
		key := "t/c/new"
		if existing {
			key = "t/c/existing"
			put(t, s, key, "the old version")
		}
		sr := &stallingReader{r: newStream(2, 3<<20), reached: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, key, sr, "application/pdf")
			done <- err
		}()
		<-sr.reached // 3 MiB are in the store's hands
		body, err := read(t, s, key)
		if existing && (err != nil || body != "the old version") {
			t.Errorf("mid-Put, the existing object reads %q, %v; want the old version", body, err)
		}
		if !existing && !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("mid-Put, Open = %v; want ErrNotFound", err)
		}
		close(sr.release)
		if err := <-done; !errors.Is(err, errClientGone) {
			t.Fatalf("Put of a failing reader = %v, want its error", err)
		}
		body, err = read(t, s, key)
		if existing && (err != nil || body != "the old version") {
			t.Errorf("after a failed Put, the existing object reads %q, %v; want the old version", body, err)
		}
		if !existing && !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after a failed Put, Open = %v; want ErrNotFound", err)
		}
	}
	var empty bytes.Buffer
	if n, err := s.Put(ctx, "t/c/empty", &empty, ""); err != nil || n != 0 {
		t.Fatalf("Put of an empty body = %d, %v", n, err)
	}
}
