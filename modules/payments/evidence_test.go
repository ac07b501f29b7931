package payments_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// statementPDF is a small PDF as a bank's statement export starts and ends.
func statementPDF(text string) []byte {
	return []byte("%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n" +
		"% " + text + "\ntrailer <</Root 1 0 R>>\n%%EOF\n")
}

func advicePNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 24, 12))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func evidence(name string, file []byte) *payments.Evidence {
	return &payments.Evidence{FileName: name, Content: bytes.NewReader(file), Size: int64(len(file))}
}

// objects lists every key in the test's bucket.
func (b *bundle) objects(t *testing.T) []string {
	t.Helper()
	out, err := b.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b.bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// A manual deposit recorded with its bank statement keeps the file under its client's prefix of the tenant, as it
// was sent, with its name, type (read from its bytes) and size on the deposit; a second finance user opens it
// through a signed link, which serves the same bytes, and each link handed out is in the audit trail, read as a
// sentence. Another tenant's id names nothing.
func TestAManualDepositKeepsItsBankStatementForTheSecondApprover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	client := b.client(t, clients.StatusKYCApproved)
	recorder, approver := uuid.New(), uuid.New()
	file := statementPDF("Wire from Ada Lovelace, 25,000.00 USD")
	d, err := b.svc.RecordManual(ctx, b.ten, recorder, payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "25000.00",
		Currency: "USD", BankReference: "WIRE-77", Evidence: evidence(`C:\Users\fiona\statement "march".pdf`, file)})
	if err != nil || d.Status != payments.StatusAwaitingApproval {
		t.Fatalf("record: %+v %v", d, err)
	}
	wantKey := b.ten.ID.String() + "/clients/" + client.String() + "/deposits/" + d.ID.String() + "/evidence"
	if d.EvidenceKey != wantKey || d.EvidenceName != "statement march.pdf" || d.EvidenceType != "application/pdf" || d.EvidenceSize != int64(len(file)) {
		t.Errorf("evidence on the deposit: key %q name %q type %q size %d", d.EvidenceKey, d.EvidenceName, d.EvidenceType, d.EvidenceSize)
	}
	if got := b.objects(t); !slices.Equal(got, []string{wantKey}) {
		t.Errorf("objects %v, want the one evidence file", got)
	}
	r, err := b.store.Open(ctx, d.EvidenceKey)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(stored, file) {
		t.Errorf("stored %d bytes, not the file sent", len(stored))
	}

	viewer := audit.Actor{Kind: audit.ActorStaff, ID: approver.String()}
	link, err := b.svc.EvidenceURL(ctx, b.ten, d.ID, viewer)
	if err != nil || !link.ExpiresAt.After(b.clock.Now()) || link.ExpiresAt.After(b.clock.Now().Add(blob.MaxLinkTTL)) {
		t.Fatalf("link: %+v %v", link, err)
	}
	res, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, file) || res.Header.Get("Content-Type") != "application/pdf" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline") {
		t.Errorf("the link: %d %s %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"), len(got))
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2 AND actor_id = $3`,
		payments.ActionEvidenceViewed, d.ID.String(), approver.String()); n != 1 {
		t.Errorf("%d audited views, want 1", n)
	}
	b.svc.Door().Trail() // how the module's rows read
	views, err := b.trail.List(ctx, b.ten, audit.Filter{ActionPrefix: payments.ActionEvidenceViewed}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	told, err := b.trail.Tell(ctx, b.ten, views.Rows)
	if err != nil || len(told) != 1 || !strings.Contains(told[0].Sentence.String(), "opened the bank statement of the deposit of 25,000.00 USD") {
		t.Errorf("the view in the trail: %+v %v", told, err)
	}

	// The second approver credits it; the file stays.
	if d, err := b.svc.Approve(ctx, b.ten, d.ID, approver); err != nil || d.Status != payments.StatusCompleted || d.EvidenceKey != wantKey {
		t.Fatalf("approve: %+v %v", d, err)
	}
	// Another tenant knows no such deposit; a deposit without evidence has none to show.
	other := b.p.NewTenant(t, "")
	if _, err := b.svc.EvidenceURL(ctx, other, d.ID, viewer); !errors.Is(err, payments.ErrNotFound) {
		t.Errorf("another tenant's evidence link: %v", err)
	}
	plain, err := b.svc.RecordManual(ctx, b.ten, recorder, payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "10.00",
		Currency: "USD", BankReference: "WIRE-78"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.EvidenceURL(ctx, b.ten, plain.ID, viewer); !errors.Is(err, payments.ErrNoEvidence) {
		t.Errorf("a deposit without evidence: %v", err)
	}
}

// A deposit row whose key was made to point at another tenant's file (a restored backup, a hand edit) gets no link:
// links are signed for keys under the asking tenant's prefix only.
func TestNoLinkIsSignedForAKeyOutsideTheTenantsPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	client := b.client(t, clients.StatusKYCApproved)
	d, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "50.00",
		Currency: "USD", BankReference: "WIRE-1", Evidence: evidence("a.pdf", statementPDF("a"))})
	if err != nil {
		t.Fatal(err)
	}
	foreign := uuid.NewString() + "/clients/" + client.String() + "/deposits/" + d.ID.String() + "/evidence"
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE deposits SET evidence_key = $2 WHERE id = $1`, d.ID, foreign)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.EvidenceURL(ctx, b.ten, d.ID, auditSystem); !errors.Is(err, payments.ErrNoEvidence) {
		t.Errorf("a key under another tenant's prefix: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1`, payments.ActionEvidenceViewed); n != 0 {
		t.Errorf("%d views audited for a link never handed out", n)
	}
}

// A bank statement is judged by its bytes before anything is written: an executable or a web page renamed .pdf, a
// truncated PDF, an empty or an oversized file are refused, and neither a file nor a deposit is left. With other
// fields wrong as well, one answer names them all.
func TestABankStatementIsCheckedBeforeAnythingIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	client := b.client(t, clients.StatusKYCApproved)
	pdf := statementPDF("statement")
	for _, c := range []struct {
		name string
		file []byte
		want error
	}{
		{"statement.pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 200)...), payments.ErrEvidenceType},
		{"statement.pdf", []byte("<!doctype html><html><script>alert(1)</script></html>"), payments.ErrEvidenceType},
		{"statement.pdf", pdf[:len(pdf)-7], payments.ErrEvidenceIncomplete},
		{"statement.pdf", []byte{}, payments.ErrEvidenceEmpty},
		{"statement.pdf", append(slices.Clone(pdf), bytes.Repeat([]byte(" "), payments.MaxEvidenceBytes)...), payments.ErrEvidenceTooLarge},
	} {
		_, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "100.00",
			Currency: "USD", BankReference: "WIRE-9", Evidence: evidence(c.name, c.file)})
		if !errors.Is(err, c.want) {
			t.Errorf("%q (%d bytes): %v, want %v", c.file[:min(len(c.file), 12)], len(c.file), err, c.want)
		}
	}
	_, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "12.345",
		Currency: "USD", Evidence: evidence("page.pdf", []byte("<html></html>"))})
	v, ok := validation.As(err)
	if !ok || v.Message("amount") == "" || v.Message("bank_reference") == "" || !strings.Contains(v.Message("evidence"), "PDF, PNG or JPEG") {
		t.Errorf("bad fields and a bad file: %v", err)
	}
	if got := b.objects(t); len(got) != 0 {
		t.Errorf("refused files left in the store: %v", got)
	}
	if n := b.count(t, `SELECT count(*) FROM deposits`); n != 0 {
		t.Errorf("%d deposits recorded", n)
	}
}

// When the deposit's transaction refuses it (a client who may not deposit, a currency the bank account does not
// take, another tenant's client), the file stored before it is deleted again: no orphan, no deposit.
func TestAManualDepositThatIsRefusedLeavesNoBankStatementBehind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	suspended := b.client(t, clients.StatusSuspended)
	approved := b.client(t, clients.StatusKYCApproved)
	for _, c := range []struct {
		what   string
		client uuid.UUID
		cur    string
		want   func(error) bool
	}{
		{"a suspended client", suspended, "USD", func(err error) bool { return errors.Is(err, payments.ErrNotAllowed) }},
		{"a currency the account does not take", approved, "GBP", func(err error) bool { v, ok := validation.As(err); return ok && v.Message("currency") != "" }},
		{"no such client", uuid.New(), "USD", func(err error) bool { v, ok := validation.As(err); return ok && v.Message("client_id") != "" }},
	} {
		_, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: c.client, Gateway: "bank", Amount: "100.00",
			Currency: c.cur, BankReference: "WIRE-5", Evidence: evidence("advice.png", advicePNG(t))})
		if !c.want(err) {
			t.Errorf("%s: %v", c.what, err)
		}
		if got := b.objects(t); len(got) != 0 {
			t.Errorf("%s: files left in the store: %v", c.what, got)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM deposits`); n != 0 {
		t.Errorf("%d deposits recorded", n)
	}
}

// Erasing a client (whose blob prefix, evidence included, the erasure deletes) leaves the deposits, as the law
// wants them kept, without their evidence.
func TestErasingAClientForgetsTheirDepositsEvidence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.gateway(t, "bank", payments.KindManual, map[string]any{}, nil)
	client := b.client(t, clients.StatusKYCApproved)
	d, err := b.svc.RecordManual(ctx, b.ten, uuid.New(), payments.ManualDeposit{ClientID: client, Gateway: "bank", Amount: "100.00",
		Currency: "USD", BankReference: "WIRE-3", Evidence: evidence("advice.png", advicePNG(t))})
	if err != nil || d.EvidenceType != "image/png" {
		t.Fatalf("record: %+v %v", d, err)
	}
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.svc.EraseClientTx(ctx, tx, b.ten, client)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := b.svc.Deposit(ctx, b.ten, d.ID)
	if err != nil || got.Status != payments.StatusCompleted || got.EvidenceKey != "" || got.EvidenceName != "" || got.EvidenceSize != 0 {
		t.Errorf("after the erasure: %+v %v", got, err)
	}
}
