package kyc

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Uploader is what the demo needs of the documents module (*documents.Service).
type Uploader interface {
	Upload(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, u documents.Upload) (documents.Document, error)
	ClientDocuments(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]documents.Document, error)
}

// demoWaits is how long each demo client's documents have waited (in turn).
var demoWaits = []time.Duration{30 * time.Hour, 5 * time.Hour, 0}

// DemoHighRisk are the demo brokerage's high-risk countries (four-eyes is on in the demo, so a Nigerian demo
// client's documents need two officers).
var DemoHighRisk = []string{"IR", "KP", "NG"}

// SeedDemo gives the demo brokerage a queue to review: every client waiting for review (kyc_submitted) without
// documents uploads a passport (PNG), a proof of address (PDF) and a selfie (PNG), generated here, through the
// documents module's real upload (blob store, detection, review cases). It also switches four-eyes on for
// DemoHighRisk unless the KYC settings were saved before. Idempotent; it returns how many documents it uploaded.
// Run it after provisioning: uploads need the committed client rows.
func SeedDemo(ctx context.Context, s *Service, up Uploader, t tenants.Tenant) (int, error) {
	var saved bool
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM settings WHERE key = $1)`, settingsKey).Scan(&saved)
	})
	if err != nil {
		return 0, fmt.Errorf("kyc demo: %w", err)
	}
	list, err := s.clients.List(ctx, t, clients.Viewer{}, clients.Filter{Status: clients.StatusKYCSubmitted}, nil, 200)
	if err != nil {
		return 0, fmt.Errorf("kyc demo: clients waiting for review: %w", err)
	}
	slices.SortFunc(list, func(a, b clients.Client) int { return strings.Compare(a.Email, b.Email) })
	if !saved {
		st := DefaultSettings()
		st.FourEyes, st.HighRiskCountries = true, DemoHighRisk
		if _, err := s.SaveSettings(ctx, t, audit.System("demo"), st); err != nil {
			return 0, fmt.Errorf("kyc demo settings: %w", err)
		}
	}
	n := 0
	for i, w := range list {
		have, err := up.ClientDocuments(ctx, t, w.ID)
		if err != nil {
			return n, err
		}
		if len(have) > 0 {
			continue
		}
		name := w.FirstName + " " + w.LastName
		files := []documents.Upload{
			{Type: "passport", ExpiresOn: fmt.Sprintf("%d-06-30", 2030+i), FileName: "passport.png", Body: bytes.NewReader(DemoPNG(name, 0))},
			{Type: "proof_of_address", FileName: "utility-bill.pdf", Body: bytes.NewReader(DemoPDF("Utility bill", name, "12 Harbour Street, Springfield"))},
			{Type: "selfie", FileName: "selfie.png", Body: bytes.NewReader(DemoPNG(name, 1))},
		}
		for _, f := range files {
			f.Actor = audit.Actor{Kind: audit.ActorClient, ID: w.ID.String()}
			if _, err := up.Upload(ctx, t, w.ID, f); err != nil {
				return n, fmt.Errorf("kyc demo: upload %s for %s: %w", f.Type, name, err)
			}
			n++
		}
		// The first client's documents have waited past the SLA, so the demo queue shows overdue cases first.
		if waited := demoWaits[i%len(demoWaits)]; waited > 0 {
			err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE kyc_cases SET opened_at = opened_at - $2::interval WHERE client_id = $1 AND status = 'open'`,
					w.ID, waited.String())
				return err
			})
			if err != nil {
				return n, fmt.Errorf("kyc demo: %w", err)
			}
		}
	}
	return n, nil
}

// DemoPNG draws a small identity-document-like picture (style 0: a card with a photo box and text lines; style 1:
// a face-like selfie), varied by name so two clients never share a file (the duplicate flag stays meaningful).
func DemoPNG(name string, style int) []byte {
	const w, h = 360, 228
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var seed uint32 = 2166136261
	for _, b := range []byte(name) {
		seed = (seed ^ uint32(b)) * 16777619
	}
	tint := color.RGBA{uint8(120 + seed%100), uint8(140 + seed>>8%90), uint8(160 + seed>>16%80), 255}
	fill := func(x0, y0, x1, y1 int, c color.Color) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				img.Set(x, y, c)
			}
		}
	}
	fill(0, 0, w, h, color.RGBA{245, 243, 236, 255})
	if style == 0 {
		fill(0, 0, w, 36, tint)
		fill(18, 54, 118, 190, color.RGBA{200, 205, 214, 255}) // the photo
		fill(48, 80, 88, 120, color.RGBA{150, 120, 100, 255})
		fill(36, 124, 100, 190, color.RGBA{90, 100, 130, 255})
		for i, width := range []int{180, 150, 200, 120, 170} {
			fill(136, 62+i*24, 136+width-int(seed>>uint(i)%30), 72+i*24, color.RGBA{60, 64, 72, 255})
		}
		fill(18, 200, w-18, 206, color.RGBA{30, 30, 30, 255}) // a machine-readable zone
		fill(18, 212, w-60, 218, color.RGBA{30, 30, 30, 255})
	} else {
		fill(0, 0, w, h, tint)
		cx, cy, r := w/2, h/2, 70
		for y := cy - r; y < cy+r; y++ {
			for x := cx - r; x < cx+r; x++ {
				if (x-cx)*(x-cx)*100/81+(y-cy)*(y-cy) < r*r {
					img.Set(x, y, color.RGBA{224, 188, 160, 255})
				}
			}
		}
		fill(cx-30, cy-20, cx-16, cy-10, color.RGBA{40, 40, 40, 255})
		fill(cx+16, cy-20, cx+30, cy-10, color.RGBA{40, 40, 40, 255})
		fill(cx-24, cy+30, cx+24, cy+36, color.RGBA{150, 60, 60, 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory RGBA image cannot fail
	}
	return buf.Bytes()
}

// DemoPDF writes a one-page PDF (title, name, address, a date line) with a correct cross-reference table.
func DemoPDF(title, name, address string) []byte {
	esc := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	content := fmt.Sprintf("BT /F1 20 Tf 72 760 Td (%s) Tj ET\nBT /F1 12 Tf 72 720 Td (%s) Tj ET\nBT /F1 12 Tf 72 702 Td (%s) Tj ET\n"+
		"BT /F1 12 Tf 72 670 Td (Statement date: last month. Amount due: 42.00) Tj ET\n",
		esc.Replace(title), esc.Replace(name), esc.Replace(address))
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}
