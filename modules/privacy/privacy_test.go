package privacy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.MinIO) }

// bundle is one test's world: a tenant and the real services privacy asks (clients, identity, documents on MinIO).
type bundle struct {
	p       *tenanttest.Platform
	ten     tenants.Tenant
	trail   *audit.Service
	ids     *identity.Service
	clients *clients.Service
	docs    *documents.Service
	store   *blob.S3
	svc     *privacy.Service
	clock   *tenanttest.Clock
}

var officer = audit.Actor{Kind: audit.ActorStaff, ID: uuid.NewString()}

func setup(t *testing.T) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	b := &bundle{p: p, ten: p.NewTenant(t, ""), trail: audit.NewService(p.Gate), clock: tenanttest.NewClock(time.Now())}
	b.ids = identitytest.New(t, p.Gate, b.trail).Service
	var err error
	if b.store, err = blob.NewS3(context.Background(), blobtest.Options(t)); err != nil {
		t.Fatal(err)
	}
	b.clients = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.trail, Now: b.clock.Now})
	if b.docs, err = documents.NewService(documents.Options{Gate: p.Gate, Audit: b.trail, Clients: b.clients, Store: b.store,
		Events: events.New(events.Options{Gate: p.Gate}), MaxBytes: 1 << 20, Now: b.clock.Now}); err != nil {
		t.Fatal(err)
	}
	b.svc = privacy.NewService(privacy.Options{Gate: p.Gate, Clients: b.clients, Trail: b.trail, Now: b.clock.Now})
	b.svc.Register(b.clients, b.ids, b.docs) // the data holders, as cmd registers every module's Door.Data
	return b
}

const password = "Correct-Horse-Battery-9"

// client adds a verified client with a portal login and an uploaded PNG, then submits KYC (due diligence begun).
func (b *bundle) client(t *testing.T, ten tenants.Tenant) (uuid.UUID, string, documents.Document) {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	email := "ada." + tenanttest.RandomLabel(8) + "@example.com"
	err := b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status)
			VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25', 'email_verified')`, id, email); err != nil {
			return err
		}
		_, err := b.ids.CreatePortalUserTx(ctx, tx, email, password, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		img.Set(x, x%30, color.RGBA{200, 30, 30, 255})
	}
	var file bytes.Buffer
	if err := png.Encode(&file, img); err != nil {
		t.Fatal(err)
	}
	doc, err := b.docs.Upload(ctx, ten, id, documents.Upload{Type: documents.Type("proof_of_address"), FileName: "utility-bill.png",
		Body: &file, Actor: audit.Actor{Kind: audit.ActorClient, ID: id.String()}})
	if err != nil {
		t.Fatal(err)
	}
	b.move(t, ten, id, clients.StatusKYCSubmitted)
	return id, email, doc
}

func (b *bundle) move(t *testing.T, ten tenants.Tenant, id uuid.UUID, to clients.Status) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.clients.TransitionTx(ctx, tx, ten, id, to, "test: "+string(to), officer)
	}); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) count(t *testing.T, ten tenants.Tenant, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, sql, args...).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *bundle) export(t *testing.T, ten tenants.Tenant, id uuid.UUID) map[string][]byte {
	t.Helper()
	x, err := b.svc.BeginExport(context.Background(), ten, id, officer)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := x.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return files
}

func TestExportHoldsProfileHistoryLoginsDocumentsAndActivityAndIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, email, doc := b.client(t, b.ten)
	files := b.export(t, b.ten, id)

	var c struct {
		Email, Phone  string
		DateOfBirth   string                        `json:"date_of_birth"`
		StatusHistory []struct{ To, Reason string } `json:"status_history"`
	}
	if err := json.Unmarshal(files["client.json"], &c); err != nil {
		t.Fatalf("client.json: %v\n%s", err, files["client.json"])
	}
	if c.Email != email || c.Phone != "+442079460958" || c.DateOfBirth != "1990-04-25" || len(c.StatusHistory) == 0 ||
		c.StatusHistory[len(c.StatusHistory)-1].To != "kyc_submitted" {
		t.Errorf("client.json = %+v", c)
	}
	var logins []struct{ Email string }
	if err := json.Unmarshal(files["logins.json"], &logins); err != nil || len(logins) != 1 || logins[0].Email != email {
		t.Errorf("logins.json = %s (%v)", files["logins.json"], err)
	}
	if strings.Contains(string(files["logins.json"]), "argon2") {
		t.Error("logins.json carries a password hash")
	}
	var pngFile []byte
	for name, data := range files {
		if strings.HasPrefix(name, "documents/") && strings.HasSuffix(name, ".png") {
			pngFile = data
		}
	}
	if _, err := png.Decode(bytes.NewReader(pngFile)); err != nil {
		t.Errorf("the export does not hold the uploaded PNG (files %v): %v", keys(files), err)
	}
	if !strings.Contains(string(files["documents/documents.json"]), doc.ID.String()) {
		t.Errorf("documents.json does not list document %s: %s", doc.ID, files["documents/documents.json"])
	}
	if !strings.Contains(string(files["activity.json"]), "client.status_changed") {
		t.Errorf("activity.json lacks the status change: %s", files["activity.json"])
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM privacy_requests WHERE client_id = $1 AND kind = 'export' AND outcome = 'done'`, id); n != 1 {
		t.Errorf("%d export requests recorded, want 1", n)
	}
	page, err := b.trail.List(context.Background(), b.ten, audit.Filter{ActionPrefix: privacy.ActionExported, TargetType: "client", TargetID: id.String()}, "", 10)
	if err != nil || len(page.Rows) != 1 || page.Rows[0].Actor != officer {
		t.Errorf("export audit rows %+v (%v)", page.Rows, err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestErasureIsRefusedWithTheLegalBasisUntilRetentionEndsThenRemovesPersonalData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id, email, doc := b.client(t, b.ten)

	// An active relationship: refused, recorded, nothing changed.
	_, err := b.svc.Erase(ctx, b.ten, id, officer)
	var refused *privacy.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Basis, "active") || refused.Until != nil {
		t.Fatalf("erasing an active client: %v", err)
	}
	// Closed: refused until five years after the closing day.
	b.move(t, b.ten, id, clients.StatusClosed)
	closed := b.clock.Now()
	_, err = b.svc.Erase(ctx, b.ten, id, officer)
	wantUntil := closed.AddDate(5, 0, 0).UTC().Format(time.DateOnly)
	if !errors.As(err, &refused) || refused.Until == nil || refused.Until.UTC().Format(time.DateOnly) != wantUntil ||
		!strings.Contains(refused.Basis, "2015/849") {
		t.Fatalf("erasing within retention: %v (until %v, want %s)", err, refused.Until, wantUntil)
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM privacy_requests WHERE client_id = $1 AND outcome = 'refused' AND basis <> ''`, id); n != 2 {
		t.Errorf("%d refusals recorded with their basis, want 2", n)
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM clients WHERE id = $1 AND email = $2 AND erased_at IS NULL`, id, email); n != 1 {
		t.Fatal("a refused erasure changed the client")
	}

	// Five years on: erased.
	b.clock.Add(5*365*24*time.Hour + 48*time.Hour)
	if _, err := b.svc.Erase(ctx, b.ten, id, officer); err != nil {
		t.Fatal(err)
	}
	rec, err := b.clients.Get(ctx, b.ten, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Email == email || rec.FirstName != "Erased" || rec.Phone != "" || !rec.DateOfBirth.IsZero() || rec.Status != clients.StatusClosed {
		t.Errorf("after erasure the client is %+v", rec)
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM client_status_history WHERE client_id = $1 AND reason <> '[erased]'`, id); n != 0 {
		t.Errorf("%d status history reasons survive erasure", n)
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM portal_users WHERE client_id = $1 AND (email = $2 OR status <> 'disabled')`, id, email); n != 0 {
		t.Error("the portal login keeps its email or can still sign in")
	}
	if _, err := b.ids.Login(ctx, b.ten, identity.Portal, identity.Credentials{Email: email, Password: password}); err == nil {
		t.Error("the erased client's old credentials still sign in")
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM documents WHERE id = $1 AND file_name = '' AND erased_at IS NOT NULL`, doc.ID); n != 1 {
		t.Error("the document row keeps its file name")
	}
	// The files go after commit, through the documents module's outbox task.
	var payload []byte
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT payload FROM outbox WHERE task_type = $1`, documents.TaskDeleteClientFiles).Scan(&payload)
	}); err != nil {
		t.Fatalf("no file deletion task in the outbox: %v", err)
	}
	tasks := jobs.NewTasks(b.p.Registry)
	b.docs.Tasks(tasks)
	for range 2 { // a repeated delivery is harmless
		task, err := jobs.NewTask(documents.TaskDeleteClientFiles, b.ten.ID, "erase:"+id.String(), json.RawMessage(payload))
		if err != nil {
			t.Fatal(err)
		}
		if err := tasks.Mux().ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.store.Open(ctx, documents.BlobKey(b.ten, id, doc.ID)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the document file survives erasure: %v", err)
	}
	// Erasing again changes nothing and succeeds; the export now holds no personal data.
	if _, err := b.svc.Erase(ctx, b.ten, id, officer); err != nil {
		t.Fatal(err)
	}
	files := b.export(t, b.ten, id)
	for name, data := range files {
		if strings.Contains(string(data), email) || strings.Contains(string(data), "Lovelace") && name != "activity.json" {
			t.Errorf("%s still holds personal data after erasure", name)
		}
	}
	page, err := b.trail.List(ctx, b.ten, audit.Filter{ActionPrefix: "client.eras", TargetType: "client", TargetID: id.String()}, "", 10)
	if err != nil || len(page.Rows) != 3 { // refused twice, erased once
		t.Errorf("erasure audit rows: %d (%v), want 3", len(page.Rows), err)
	}
}

func TestAnotherTenantCannotExportOrEraseAClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, email, _ := b.client(t, b.ten)
	other := b.p.NewTenant(t, "")
	if _, err := b.svc.BeginExport(context.Background(), other, id, officer); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("export of another tenant's client: %v, want ErrNotFound", err)
	}
	if _, err := b.svc.Erase(context.Background(), other, id, officer); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("erasure of another tenant's client: %v, want ErrNotFound", err)
	}
	if _, err := b.svc.ClientStatus(context.Background(), other, id); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("status of another tenant's client: %v, want ErrNotFound", err)
	}
	if n := b.count(t, b.ten, `SELECT count(*) FROM clients WHERE id = $1 AND email = $2`, id, email); n != 1 {
		t.Error("the client changed")
	}
}
