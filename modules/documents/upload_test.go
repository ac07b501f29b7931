package documents_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
)

func future(b *bundle, days int) string {
	return b.clock.Now().AddDate(0, 0, days).Format("2006-01-02")
}

// Real JPEG, PNG and PDF files go to the blob store byte for byte under the tenant's prefix, typed by their
// content (a JPEG named .pdf is a JPEG), hashed, handed to the review side and audited.
func TestRealJPEGPNGAndPDFUploadsAreStoredTypedByContentHashedReviewedAndAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	cases := []struct {
		typ, expires, name, want string
		file                     []byte
	}{
		{"passport", future(b, 900), "passport.pdf", content.JPEG, jpegFile(t, 1)}, // the name lies
		{"proof_of_address", "", "bill.png", content.PNG, pngFile(t, 2)},
		{"national_id", future(b, 400), "id card.pdf", content.PDF, pdfFile("Identity card", 0)},
	}
	for _, c := range cases {
		r := b.upload(t, tr, c.typ, c.expires, c.name, c.file)
		var got documents.PortalDocument
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 201 {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		if got.ContentType != c.want || got.Size != int64(len(c.file)) || got.Status != "pending_review" || got.FileName != c.name || got.ExpiresOn != c.expires {
			t.Errorf("%s: %+v", c.name, got)
		}
		id := uuid.MustParse(got.ID)
		d, err := b.docs.Get(context.Background(), b.ten, id)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(c.file)
		if d.SHA256 != hex.EncodeToString(sum[:]) || d.BlobKey != b.ten.ID.String()+"/clients/"+tr.clientID.String()+"/documents/"+id.String() {
			t.Errorf("%s: hash %s key %s", c.name, d.SHA256, d.BlobKey)
		}
		obj, err := b.store.Open(context.Background(), d.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(obj)
		obj.Close()
		if !bytes.Equal(stored, c.file) {
			t.Errorf("%s: stored %d bytes differ from the %d uploaded", c.name, len(stored), len(c.file))
		}
		if acts := b.auditActions(t, b.ten, id.String()); !slices.Equal(acts, []string{documents.ActionUploaded}) {
			t.Errorf("%s: audit %v", c.name, acts)
		}
		b.clock.Add(time.Minute)
	}
	if len(b.reviews.opened) != 3 {
		t.Errorf("review opened for %d documents, want 3", len(b.reviews.opened))
	}
	list := b.do(t, "GET", hostOf(b.ten), documents.UploadAPIPath, tr.token, nil, nil)
	var pl documents.PortalList
	if err := json.Unmarshal([]byte(list.body), &pl); err != nil || len(pl.Documents) != 3 || pl.Documents[0].Type != "national_id" {
		t.Errorf("list: %d %s", list.status, list.body)
	}
}

// The bad uploads of the issue (oversized, an executable renamed .pdf, an empty file, a truncated JPEG) and their
// kin each get their 4xx with the field named, and leave nothing in the store or the database.
func TestBadUploadsGetA4xxAndLeaveNothingInTheStoreOrTheDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusKYCMoreInfo)
	jpg, png, pdf := jpegFile(t, 3), pngFile(t, 4), pdfFile("x", 0)
	big := pdfFile("big", testMax+1)
	noEOF := bytes.Replace(pdf, []byte("%%EOF"), []byte("%%EOX"), 1)
	damagedPNG := slices.Clone(png)
	damagedPNG[len(damagedPNG)/2] ^= 0xFF
	cases := []struct {
		name, typ, expires, file string
		body                     []byte
		chunked                  bool
		status                   int
		field                    string
	}{
		{"oversized", "proof_of_address", "", "big.pdf", big, false, 413, "file"},
		{"oversized, sent chunked", "proof_of_address", "", "big.pdf", big, true, 413, "file"},
		{"an executable renamed .pdf", "passport", future(b, 100), "passport.pdf", exeFile(), false, 415, "file"},
		{"an empty file", "passport", future(b, 100), "passport.jpg", nil, false, 422, "file"},
		{"a truncated JPEG", "passport", future(b, 100), "passport.jpg", jpg[:len(jpg)/2], false, 422, "file"},
		{"a JPEG cut just before its end marker", "passport", future(b, 100), "passport.jpg", jpg[:len(jpg)-2], true, 422, "file"},
		{"a truncated PNG", "selfie", "", "me.png", png[:len(png)-12], false, 422, "file"},
		{"a PNG with a damaged chunk", "selfie", "", "me.png", damagedPNG, false, 422, "file"},
		{"a PDF without %%EOF", "proof_of_address", "", "bill.pdf", noEOF, false, 422, "file"},
		{"plain text", "proof_of_address", "", "bill.pdf", []byte("hello, I am a bill"), false, 415, "file"},
		{"an unknown type", "horoscope", "", "x.jpg", jpg, false, 422, "type"},
		{"a passport without its expiry date", "passport", "", "p.jpg", jpg, false, 422, "expires_on"},
		{"an expired passport", "passport", b.clock.Now().AddDate(0, 0, -1).Format("2006-01-02"), "p.jpg", jpg, false, 422, "expires_on"},
		{"an expiry date on a selfie", "selfie", future(b, 10), "me.jpg", jpg, false, 422, "expires_on"},
	}
	for _, c := range cases {
		q := "?type=" + c.typ + "&filename=" + c.file
		if c.expires != "" {
			q += "&expires_on=" + c.expires
		}
		var body io.Reader = bytes.NewReader(c.body)
		if c.chunked {
			body = struct{ io.Reader }{bytes.NewReader(c.body)}
		}
		r := b.do(t, "POST", hostOf(b.ten), documents.UploadAPIPath+q, tr.token, body, nil)
		var p struct {
			Detail string `json:"detail"`
			Errors []struct{ Field, Message string }
		}
		_ = json.Unmarshal([]byte(r.body), &p)
		if r.status != c.status || len(p.Errors) == 0 || p.Errors[0].Field != c.field || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if objs := b.objects(t); len(objs) != 0 {
			t.Errorf("%s: left in the store: %v", c.name, objs)
		}
		if n := b.rows(t, b.ten); n != 0 {
			t.Errorf("%s: left %d rows", c.name, n)
		}
	}
	if r := b.upload(t, tr, "proof_of_address", "", "big.pdf", big); !strings.Contains(r.body, "256 KiB") && !strings.Contains(r.body, "0 MiB") {
		t.Logf("oversized message: %s", r.body)
	}
	if len(b.reviews.opened) != 0 {
		t.Errorf("reviews opened for refused uploads: %d", len(b.reviews.opened))
	}
	// When the review side fails, the transaction rolls back and the stored file is deleted again.
	b.reviews.mu.Lock()
	b.reviews.fail = true
	b.reviews.mu.Unlock()
	if r := b.upload(t, tr, "selfie", "", "me.jpg", jpg); r.status != 500 {
		t.Errorf("upload with a failing review side: %d %s", r.status, r.body)
	}
	if objs, n := b.objects(t), b.rows(t, b.ten); len(objs) != 0 || n != 0 {
		t.Errorf("after a rolled-back upload: objects %v, rows %d", objs, n)
	}
}

// Uploads need a verified client who is not suspended or closed; a client asked for more information, or
// rejected, uploads again.
func TestOnlyVerifiedClientsNotSuspendedOrClosedMayUpload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	jpg := jpegFile(t, 5)
	for _, st := range clients.Statuses {
		tr := b.newTrader(t, b.ten, st)
		r := b.upload(t, tr, "selfie", "", "me.jpg", jpg)
		want := 201
		if st == clients.StatusRegistered || st == clients.StatusSuspended || st == clients.StatusClosed {
			want = 403
		}
		if r.status != want {
			t.Errorf("%s: %d %s, want %d", st, r.status, r.body, want)
		}
	}
	if n := b.rows(t, b.ten); n != len(clients.Statuses)-3 {
		t.Errorf("%d rows", n)
	}
	// A staff token is not a trader's: the portal route refuses it.
	staffTok := b.token(t, b.ten, "backoffice", uuid.New(), []string{"admin"})
	if r := b.do(t, "POST", hostOf(b.ten), documents.UploadAPIPath+"?type=selfie", staffTok, bytes.NewReader(jpg), nil); r.status != 401 {
		t.Errorf("staff token on the portal upload: %d", r.status)
	}
}

// The same file uploaded by a second client of the tenant flags the new document and the first one, each
// naming the other client; the same client uploading it again is no duplicate.
func TestTheSameFileFromAnotherClientIsFlaggedOnBothSides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first, second := b.newTrader(t, b.ten, clients.StatusEmailVerified), b.newTrader(t, b.ten, clients.StatusKYCSubmitted)
	file := pdfFile("utility bill", 0)
	r1 := b.upload(t, first, "proof_of_address", "", "bill.pdf", file)
	r1b := b.upload(t, first, "proof_of_address", "", "bill again.pdf", file)
	r2 := b.upload(t, second, "proof_of_address", "", "my bill.pdf", file)
	ids := make([]uuid.UUID, 3)
	for i, r := range []result{r1, r1b, r2} {
		var d documents.PortalDocument
		if err := json.Unmarshal([]byte(r.body), &d); err != nil || r.status != 201 {
			t.Fatalf("upload %d: %d %s", i, r.status, r.body)
		}
		ids[i] = uuid.MustParse(d.ID)
		if strings.Contains(r.body, "duplicate") || strings.Contains(r.body, first.clientID.String()) {
			t.Errorf("the trader's answer names other clients: %s", r.body)
		}
	}
	ctx := context.Background()
	want := map[uuid.UUID][]uuid.UUID{ids[0]: {second.clientID}, ids[1]: {second.clientID}, ids[2]: {first.clientID}}
	for id, dup := range want {
		d, err := b.docs.Get(ctx, b.ten, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.DuplicateClients, dup) || !d.Flagged() {
			t.Errorf("document %s: duplicates %v, want %v", id, d.DuplicateClients, dup)
		}
	}
	// The first upload was superseded by the same client's second one (same type, undecided).
	if d, _ := b.docs.Get(ctx, b.ten, ids[0]); d.Status != documents.StatusSuperseded {
		t.Errorf("first upload: %s", d.Status)
	}
	rows, err := b.audit.List(ctx, b.ten, audit.Filter{ActionPrefix: documents.ActionSuperseded, TargetType: "document", TargetID: ids[0].String()}, "", 10)
	if err != nil || len(rows.Rows) != 1 || !strings.Contains(string(rows.Rows[0].Diff), `"before":"pending_review"`) ||
		!strings.Contains(string(rows.Rows[0].Diff), ids[1].String()) {
		t.Errorf("the supersession's audit entry: %+v %v, want the old status and the superseding document", rows.Rows, err)
	}
	// The reviewer's view shows the flag.
	staffTok := b.token(t, b.ten, "backoffice", uuid.New(), []string{"compliance"})
	r := b.do(t, "GET", hostOf(b.ten), "/api/v1/documents/"+ids[2].String(), staffTok, nil, nil)
	var dr documents.DocumentResponse
	if err := json.Unmarshal([]byte(r.body), &dr); err != nil || r.status != 200 || !slices.Equal(dr.DuplicateClients, []string{first.clientID.String()}) {
		t.Errorf("reviewer's record: %d %s", r.status, r.body)
	}
	// Another file is no duplicate.
	r3 := b.upload(t, second, "selfie", "", "me.jpg", jpegFile(t, 9))
	var d3 documents.PortalDocument
	_ = json.Unmarshal([]byte(r3.body), &d3)
	if d, _ := b.docs.Get(ctx, b.ten, uuid.MustParse(d3.ID)); d.Flagged() {
		t.Errorf("a unique file is flagged: %v", d.DuplicateClients)
	}
}
