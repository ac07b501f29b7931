package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDiskDocumentLinksWorkOnlyOnTheirTenantsHost(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ctx := context.Background()
	own, other := provisionForTest(t, a), provisionForTest(t, a)
	key := own.ID.String() + "/clients/c1/passport.pdf"
	if _, err := a.blobs.Put(ctx, key, strings.NewReader("%PDF-1.7 passport"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	link, err := a.blobs.SignedURL(ctx, key, time.Minute, "passport.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "/blobs/") {
		t.Fatalf("disk link %q is not root-relative on the tenant host", link)
	}
	r := get(t, base, own.Slug+".brokerdesk.test:8080", link, "")
	if r.status != http.StatusOK || r.body != "%PDF-1.7 passport" || r.ctype != "application/pdf" {
		t.Fatalf("link on its tenant's host: %d %s %q", r.status, r.ctype, r.body)
	}
	for _, host := range []string{other.Slug + ".brokerdesk.test:8080", "console.brokerdesk.test:8080", "nobody.brokerdesk.test"} {
		if r := get(t, base, host, link, ""); r.status != http.StatusNotFound || strings.Contains(r.body, "%PDF") {
			t.Errorf("link on %s: %d %q, want 404", host, r.status, r.body)
		}
	}
	// A key of another tenant, validly signed, on this tenant's host: refused before the signature is looked at.
	foreign := other.ID.String() + "/clients/c1/passport.pdf"
	if _, err := a.blobs.Put(ctx, foreign, strings.NewReader("%PDF-1.7 theirs"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	flink, err := a.blobs.SignedURL(ctx, foreign, time.Minute, "p.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if r := get(t, base, own.Slug+".brokerdesk.test:8080", flink, ""); r.status != http.StatusNotFound || strings.Contains(r.body, "%PDF") {
		t.Fatalf("another tenant's link on this host: %d %q", r.status, r.body)
	}
}
