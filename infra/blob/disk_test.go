package blob_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
)

func newDisk(t *testing.T) (*blob.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := blob.NewDisk(blob.DiskOptions{Dir: dir, LinkKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestDiskFilesArePrivateAndFailedPutsLeaveNoTemporaryFile(t *testing.T) {
	t.Parallel()
	s, dir := newDisk(t)
	ctx := context.Background()
	put(t, s, "t/c/doc.pdf", "%PDF-1.7")
	sr := &stallingReader{r: newStream(4, 1<<20), reached: make(chan struct{}), release: make(chan struct{})}
	close(sr.release)
	if _, err := s.Put(ctx, "t/c/failed.pdf", sr, "application/pdf"); !errors.Is(err, errClientGone) {
		t.Fatalf("failing Put = %v", err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if d.IsDir() && fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s has mode %v, want 0700", p, fi.Mode().Perm())
		}
		if !d.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("file %s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		if !d.IsDir() && strings.Contains(p, "failed") {
			t.Errorf("a failed Put left %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("tmp/ holds %d files after the Puts ended", len(left))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "meta", "t", "c", "doc.pdf")); err != nil || string(b) != "text/plain\n" {
		t.Fatalf("content type sidecar = %q, %v", b, err)
	}
}

func TestDiskLinkServesTheStoredTypeWithSafeHeadersAndRefusesTampering(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Unix())
	s := blobtest.DiskWithClock(t, func() time.Time { return time.Unix(now.Load(), 0) })
	ctx := context.Background()
	if _, err := s.Put(ctx, "t/c/proof.pdf", strings.NewReader("%PDF-1.7 proof"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	link, err := s.SignedURL(ctx, "t/c/proof.pdf", 5*time.Minute, "../../etc/Facture \"mars\"\r\n.pdf")
	if err != nil {
		t.Fatal(err)
	}
	res, body := fetch(t, link)
	if res.StatusCode != http.StatusOK || body != "%PDF-1.7 proof" {
		t.Fatalf("link: %s %q", res.Status, body)
	}
	for h, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"Content-Disposition":    `inline; filename="Facture mars.pdf"`,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("name", "other.html")
	u.RawQuery = q.Encode()
	if res, _ := fetch(t, u.String()); res.StatusCode != http.StatusNotFound {
		t.Errorf("link with another filename: %s, want 404", res.Status)
	}
	q = u.Query()
	q.Set("name", "Facture mars.pdf")
	q.Set("exp", "9999999999")
	u.RawQuery = q.Encode()
	if res, _ := fetch(t, u.String()); res.StatusCode != http.StatusNotFound {
		t.Errorf("link with a later expiry: %s, want 404", res.Status)
	}
	now.Add(300) // the last second of its life
	if res, _ := fetch(t, link); res.StatusCode != http.StatusOK {
		t.Errorf("link at its expiry second: %s, want 200", res.Status)
	}
	now.Add(1)
	if res, _ := fetch(t, link); res.StatusCode != http.StatusNotFound {
		t.Errorf("expired link: %s, want 404", res.Status)
	}
	missing, err := s.SignedURL(ctx, "t/c/never.pdf", time.Minute, "x.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := fetch(t, missing); res.StatusCode != http.StatusNotFound {
		t.Errorf("link to a missing object: %s, want 404", res.Status)
	}
}

func TestDiskLinksAreRootRelativeWithoutAURLBase(t *testing.T) {
	t.Parallel()
	s, _ := newDisk(t)
	link, err := s.SignedURL(context.Background(), "t/c/a.pdf", time.Minute, "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "/blobs/t/c/a.pdf?") {
		t.Fatalf("link %q is not a root-relative /blobs/ link", link)
	}
}

func TestDiskLinksOfAnotherLinkKeyAreRefused(t *testing.T) {
	t.Parallel()
	a, b := blobtest.Disk(t), blobtest.Disk(t)
	put(t, a, "t/c/a", "from a")
	put(t, b, "t/c/a", "from b")
	link, err := a.SignedURL(context.Background(), "t/c/a", time.Minute, "a")
	if err != nil {
		t.Fatal(err)
	}
	la, _ := url.Parse(link)
	lb, _ := b.SignedURL(context.Background(), "t/c/a", time.Minute, "a")
	ub, _ := url.Parse(lb)
	la.Host = ub.Host // a's signature presented to b
	if res, body := fetch(t, la.String()); res.StatusCode != http.StatusNotFound || strings.Contains(body, "from") {
		t.Fatalf("a link signed with another key: %s %q", res.Status, body)
	}
}
