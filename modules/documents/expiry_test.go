package documents_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

var officer = audit.Actor{Kind: audit.ActorStaff, ID: uuid.NewString()}

func (b *bundle) decide(t *testing.T, id uuid.UUID, to documents.Status, code, msg string) error {
	t.Helper()
	return b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.docs.DecideTx(ctx, tx, id, to, code, msg, officer)
	})
}

// Decisions: only documents waiting for one take them; a rejection needs a reason code and a request for more
// information a message; approving supersedes the client's earlier approved document of that type; the trader
// sees the reason's words and the message.
func TestDecisionsAreCheckedAndApprovalSupersedesTheEarlierApprovedDocument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusKYCSubmitted)
	first := uploaded(t, b.upload(t, tr, "passport", future(b, 300), "p1.jpg", jpegFile(t, 20)))
	var v *validation.Error
	if err := b.decide(t, first, documents.StatusRejected, "", ""); !errors.As(err, &v) {
		t.Errorf("rejection without a code: %v", err)
	}
	if err := b.decide(t, first, documents.StatusMoreInfoRequested, "", "  "); !errors.As(err, &v) {
		t.Errorf("more info without a message: %v", err)
	}
	if err := b.decide(t, first, documents.StatusExpired, "", ""); !errors.Is(err, documents.ErrNotDecidable) {
		t.Errorf("expired is no decision: %v", err)
	}
	if err := b.decide(t, first, documents.StatusApproved, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.decide(t, first, documents.StatusRejected, "unreadable", ""); !errors.Is(err, documents.ErrNotDecidable) {
		t.Errorf("deciding twice: %v", err)
	}
	b.clock.Add(time.Minute)
	second := uploaded(t, b.upload(t, tr, "passport", future(b, 900), "p2.jpg", jpegFile(t, 21)))
	if d, _ := b.docs.Get(context.Background(), b.ten, first); d.Status != documents.StatusApproved {
		t.Errorf("an approved document stays approved while its successor waits: %s", d.Status)
	}
	if err := b.decide(t, second, documents.StatusApproved, "", ""); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.docs.Get(context.Background(), b.ten, first); d.Status != documents.StatusSuperseded {
		t.Errorf("first passport after the second's approval: %s", d.Status)
	}
	b.clock.Add(time.Minute)
	bill := uploaded(t, b.upload(t, tr, "proof_of_address", "", "bill.pdf", pdfFile("bill", 0)))
	if err := b.decide(t, bill, documents.StatusRejected, "address_too_old", ""); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(time.Minute)
	selfie := uploaded(t, b.upload(t, tr, "selfie", "", "me.png", pngFile(t, 22)))
	if err := b.decide(t, selfie, documents.StatusMoreInfoRequested, "", "Please show your whole face."); err != nil {
		t.Fatal(err)
	}
	r := b.do(t, "GET", hostOf(b.ten), documents.UploadAPIPath, tr.token, nil, nil)
	var pl documents.PortalList
	if err := json.Unmarshal([]byte(r.body), &pl); err != nil || len(pl.Documents) != 4 {
		t.Fatalf("list: %s", r.body)
	}
	if pl.Documents[0].Message != "Please show your whole face." || pl.Documents[1].Reason == "" || pl.Documents[1].Status != "rejected" {
		t.Errorf("the trader's view of decisions: %+v", pl.Documents[:2])
	}
	if acts := b.auditActions(t, b.ten, first.String()); !slices.Equal(acts, []string{documents.ActionUploaded, documents.ActionApproved, documents.ActionSuperseded}) {
		t.Errorf("first passport's audit: %v", acts)
	}
}

func emailsService(t *testing.T, b *bundle) *emails.Service {
	t.Helper()
	e, err := emails.NewService(emails.Options{Brands: branding.NewService(b.p.Gate), From: "BrokerDesk <no-reply@brokerdesk.test>",
		MailerFor: func(from string) (emails.Mailer, error) {
			return mail.NewSender(os.Getenv("BD_SMTP_ADDR"), from, "", "")
		},
		TenantURL: func(t tenants.Tenant, path string) string { return "https://" + t.Slug + ".brokerdesk.test" + path }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The daily job flags approved documents expiring within the tenant's notice period once each and queues the
// client's document_expiring email in the same transaction; it expires approved documents whose date has passed;
// a second run does nothing more.
func TestTheExpiryJobFlagsOnceEmailsTheClientAndExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc, err := documents.NewService(documents.Options{Gate: b.p.Gate, Audit: b.audit, Clients: b.clients, Store: b.store, Events: b.reviews.hall(b.p),
		Emails: emailsService(t, b), Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.SaveSettings(ctx, b.ten, officer, documents.Settings{ExpiryNoticeDays: 20}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SaveSettings(ctx, b.ten, officer, documents.Settings{ExpiryNoticeDays: 0}); err == nil {
		t.Error("a notice period of 0 days was saved")
	}
	// The same rule through the API: admins only, checked, audited.
	admin := b.token(t, b.ten, auth.AudienceBackoffice, uuid.New(), []string{"admin"})
	put := func(tok, body string) result {
		return b.do(t, "PUT", hostOf(b.ten), "/api/v1/settings/documents", tok, strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	}
	if r := put(admin, `{"expiry_notice_days": 400}`); r.status != 422 || !strings.Contains(r.body, "expiry_notice_days") {
		t.Errorf("400 days: %d %s", r.status, r.body)
	}
	if r := put(b.token(t, b.ten, auth.AudienceBackoffice, uuid.New(), []string{"compliance"}), `{"expiry_notice_days": 10}`); r.status != 403 {
		t.Errorf("compliance changing the rule: %d", r.status)
	}
	if r := put(admin, `{"expiry_notice_days": 20}`); r.status != 200 {
		t.Errorf("20 days: %d %s", r.status, r.body)
	}
	if st, err := svc.Settings(ctx, b.ten); err != nil || st.ExpiryNoticeDays != 20 {
		t.Errorf("settings: %+v %v", st, err)
	}
	tr := b.newTrader(t, b.ten, clients.StatusKYCSubmitted)
	soon := uploaded(t, b.upload(t, tr, "passport", future(b, 10), "p.jpg", jpegFile(t, 30)))
	later := uploaded(t, b.upload(t, tr, "driving_licence", future(b, 200), "d.jpg", jpegFile(t, 31)))
	pending := uploaded(t, b.upload(t, tr, "national_id", future(b, 5), "id.jpg", jpegFile(t, 32))) // not approved: not flagged
	for _, id := range []uuid.UUID{soon, later} {
		if err := b.decide(t, id, documents.StatusApproved, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	res, err := svc.RunExpiry(ctx, b.ten)
	if err != nil || res != (documents.ExpiryResult{Flagged: 1}) {
		t.Fatalf("first run: %+v %v", res, err)
	}
	var payload []byte
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT payload FROM outbox WHERE task_type = $1 AND idem_key = $2`, emails.TaskSend, "document-expiring:"+soon.String()).Scan(&payload)
	})
	var queued emails.Email
	if err != nil || json.Unmarshal(payload, &queued) != nil || queued.Template != emails.TemplateDocumentExpiring || queued.To != tr.email ||
		queued.Data["Document"] != "Passport" || queued.Data["UploadURL"] != documents.UploadPagePath {
		t.Errorf("queued email: %v %s", err, payload)
	}
	if res, err := svc.RunExpiry(ctx, b.ten); err != nil || res != (documents.ExpiryResult{}) {
		t.Errorf("second run: %+v %v", res, err)
	}
	if d, _ := b.docs.Get(ctx, b.ten, soon); d.ExpiringFlaggedAt == nil || d.Status != documents.StatusApproved {
		t.Errorf("flagged document: %+v", d)
	}
	// Eleven days on, the passport's date has passed.
	b.clock.Add(11 * 24 * time.Hour)
	res, err = svc.RunExpiry(ctx, b.ten)
	if err != nil || res.Expired != 1 {
		t.Fatalf("run after the date: %+v %v", res, err)
	}
	if d, _ := b.docs.Get(ctx, b.ten, soon); d.Status != documents.StatusExpired || d.ExpiredAt == nil {
		t.Errorf("expired passport: %s", d.Status)
	}
	if d, _ := b.docs.Get(ctx, b.ten, pending); d.Status != documents.StatusPendingReview {
		t.Errorf("a document waiting for review is left to the reviewer: %s", d.Status)
	}
	if acts := b.auditActions(t, b.ten, soon.String()); !slices.Equal(acts, []string{documents.ActionUploaded, documents.ActionApproved,
		documents.ActionExpiring, documents.ActionExpired}) {
		t.Errorf("audit: %v", acts)
	}
	if d, _ := b.docs.Get(ctx, b.ten, later); d.Status != documents.StatusApproved || d.ExpiringFlaggedAt != nil {
		t.Errorf("the licence far from expiry: %+v", d)
	}
}

// Export writes every file and the records; erasure anonymises the rows and names the prefix to delete.
func TestExportHoldsTheFilesAndErasureAnonymisesTheRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := b.newTrader(t, b.ten, clients.StatusEmailVerified)
	file := pdfFile("statement", 0)
	id := uploaded(t, b.upload(t, tr, "proof_of_address", "", "statement.pdf", file))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := b.docs.ExportClient(context.Background(), b.ten, tr.clientID, zw); err != nil {
		t.Fatal(err)
	}
	_ = zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var gotFile []byte
	var records []map[string]any
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		switch f.Name {
		case "documents/documents.json":
			_ = json.Unmarshal(data, &records)
		case "documents/" + id.String() + "-statement.pdf":
			gotFile = data
		}
	}
	if !bytes.Equal(gotFile, file) || len(records) != 1 || records[0]["id"] != id.String() {
		t.Errorf("export: file %d bytes, records %v", len(gotFile), records)
	}
	var payload []byte
	err = b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := b.docs.EraseClientTx(ctx, tx, b.ten, tr.clientID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT payload FROM outbox WHERE task_type = $1`, documents.TaskDeleteClientFiles).Scan(&payload)
	})
	if err != nil {
		t.Fatalf("erase, and its file deletion task: %v", err)
	}
	if objs := b.objects(t); len(objs) != 1 {
		t.Errorf("objects before the deletion task ran: %v", objs)
	}
	if err := b.runTask(t, documents.TaskDeleteClientFiles, payload); err != nil {
		t.Fatal(err)
	}
	d, err := b.docs.Get(context.Background(), b.ten, id)
	if err != nil || d.ErasedAt == nil || d.FileName != "" || d.SHA256 != "" {
		t.Errorf("erased row: %+v %v", d, err)
	}
	if objs := b.objects(t); len(objs) != 0 {
		t.Errorf("objects after erasure: %v", objs)
	}
	if _, err := b.docs.ViewURL(context.Background(), b.ten, id, officer); !errors.Is(err, documents.ErrNotFound) {
		t.Errorf("viewing an erased document: %v", err)
	}
}

// runTask delivers one task of the documents module's task table, as the worker would.
func (b *bundle) runTask(t *testing.T, typ string, payload []byte) error {
	t.Helper()
	tasks := jobs.NewTasks(b.p.Registry)
	b.docs.Tasks(tasks)
	task, err := jobs.NewTask(typ, b.ten.ID, "test:"+tenanttest.RandomLabel(8), json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Mux().ProcessTask(context.Background(), task)
}

func TestTheFileDeletionTaskRefusesAPrefixOutsideItsTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := b.p.NewTenant(t, "")
	payload, _ := json.Marshal(map[string]string{"prefix": other.ID.String() + "/clients/"})
	if err := b.runTask(t, documents.TaskDeleteClientFiles, payload); err == nil || !strings.Contains(err.Error(), "not under tenant") {
		t.Fatalf("a prefix of another tenant: %v", err)
	}
}
