package documents_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

// The disk store (make run) behaves as S3 does: a good file is stored byte for byte, and a refused one (truncated,
// oversized) leaves no file, not even a temporary one.
func TestTheDiskStoreKeepsGoodUploadsAndNothingOfRefusedOnes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	disk, err := blob.NewDisk(blob.DiskOptions{Dir: dir, LinkKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := documents.NewService(documents.Options{Gate: b.p.Gate, Audit: b.audit, Clients: b.clients, Store: disk, Events: b.reviews.hall(b.p), MaxBytes: testMax})
	if err != nil {
		t.Fatal(err)
	}
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	actor := audit.Actor{Kind: audit.ActorClient, ID: tr.loginID.String()}
	ctx := context.Background()
	files := func() []string {
		var out []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	jpg := jpegFile(t, 40)
	for name, c := range map[string]struct {
		body []byte
		want error
	}{
		"truncated": {jpg[:len(jpg)-40], documents.ErrIncomplete},
		"oversized": {pdfFile("big", testMax+1), documents.ErrTooLarge},
	} {
		_, err := svc.Upload(ctx, b.ten, tr.clientID, documents.Upload{Type: documents.TypeSelfie, FileName: "x", Body: bytes.NewReader(c.body), Actor: actor})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v", name, err)
		}
		if left := files(); len(left) != 0 {
			t.Errorf("%s left files: %v", name, left)
		}
	}
	d, err := svc.Upload(ctx, b.ten, tr.clientID, documents.Upload{Type: documents.TypeSelfie, FileName: "me.jpg", Body: bytes.NewReader(jpg), Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	r, err := disk.Open(ctx, d.BlobKey)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, jpg) {
		t.Errorf("stored %d bytes, uploaded %d", len(got), len(jpg))
	}
	if link, err := svc.ViewURL(ctx, b.ten, d.ID, actor); err != nil || len(link) < 8 || link[:7] != "/blobs/" {
		t.Errorf("disk link: %q %v", link, err)
	}
}
