package kyc

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/brokerdesk/brokerdesk/modules/staff"
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

// SeedDemo plays the demo brokerage's KYC through the real services, so each demo client's documents, status
// history and timeline tell one story:
//
//   - every client of clients.DemoStories still at email verification uploads a passport (PNG), a proof of address
//     (PDF) and a selfie (PNG), generated here, through the documents module's real upload (blob store, detection,
//     the review case, the client to kyc_submitted); the demo compliance officer then claims, ticks and decides
//     each case as the story says (approve; more information about an old proof of address; a passport rejected
//     as forged), and the later steps (restricted, suspended, closed) are status changes by that officer;
//   - every other client waiting for review (kyc_submitted) without documents uploads the same three, so the
//     queue has work.
//
// Clients left waiting have waited for a while (the first past the SLA, so the queue shows overdue cases first).
// It also switches four-eyes on for DemoHighRisk unless the KYC settings were saved before. Idempotent (a story
// resumes where it stopped); it returns how many documents it uploaded. Run it after provisioning: uploads need
// the committed client rows, and the case opening needs the kyc module's subscription to document.uploaded.
func SeedDemo(ctx context.Context, s *Service, up Uploader, t tenants.Tenant) (int, error) {
	var saved bool
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM settings WHERE key = $1)`, settingsKey).Scan(&saved)
	})
	if err != nil {
		return 0, fmt.Errorf("kyc demo: %w", err)
	}
	if !saved {
		st := DefaultSettings()
		st.FourEyes, st.HighRiskCountries = true, DemoHighRisk
		if _, err := s.SaveSettings(ctx, t, audit.System("demo"), st); err != nil {
			return 0, fmt.Errorf("kyc demo settings: %w", err)
		}
	}
	n, fresh := 0, map[uuid.UUID]bool{} // fresh: the clients whose documents this run uploaded
	officers, err := demoOfficers(ctx, s, t)
	if err != nil {
		return 0, err
	}
	for _, story := range clients.DemoStories() {
		k, err := playStory(ctx, s, up, t, story, officers, fresh)
		n += k
		if err != nil {
			return n, fmt.Errorf("kyc demo: the story of %s: %w", story.Email, err)
		}
	}
	list, err := s.clients.List(ctx, t, clients.Viewer{}, clients.Filter{Status: clients.StatusKYCSubmitted}, nil, 200)
	if err != nil {
		return n, fmt.Errorf("kyc demo: clients waiting for review: %w", err)
	}
	slices.SortFunc(list, func(a, b clients.Client) int { return strings.Compare(a.Email, b.Email) })
	waiting := 0
	for _, c := range list {
		have, err := up.ClientDocuments(ctx, t, c.ID)
		if err != nil {
			return n, err
		}
		if len(have) == 0 {
			k, err := uploadDemoDocuments(ctx, up, t, c, fresh)
			n += k
			if err != nil {
				return n, err
			}
		}
		if !fresh[c.ID] {
			continue // waiting since an earlier start: its wait already counts
		}
		// The first client's documents have waited past the SLA, so the demo queue shows overdue cases first.
		if wait := demoWaits[waiting%len(demoWaits)]; wait > 0 {
			if err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE kyc_cases SET opened_at = opened_at - $2::interval WHERE client_id = $1 AND status = 'open'`,
					c.ID, wait.String())
				return err
			}); err != nil {
				return n, fmt.Errorf("kyc demo: %w", err)
			}
		}
		waiting++
	}
	return n, nil
}

// uploadDemoDocuments uploads a client's passport, proof of address and selfie as the client does in the portal,
// and marks the client fresh.
func uploadDemoDocuments(ctx context.Context, up Uploader, t tenants.Tenant, c clients.Client, fresh map[uuid.UUID]bool) (int, error) {
	fresh[c.ID] = true
	name := c.FirstName + " " + c.LastName
	files := []documents.Upload{
		{Type: "passport", ExpiresOn: fmt.Sprintf("%d-06-30", 2030+len(name)%7), FileName: "passport.png", Body: bytes.NewReader(DemoPNG(name, 0))},
		{Type: "proof_of_address", FileName: "utility-bill.pdf", Body: bytes.NewReader(DemoPDF("Utility bill", name, "12 Harbour Street, Springfield"))},
		{Type: "selfie", FileName: "selfie.png", Body: bytes.NewReader(DemoPNG(name, 1))},
	}
	n := 0
	for _, f := range files {
		f.Actor = audit.Actor{Kind: audit.ActorClient, ID: c.ID.String()}
		if _, err := up.Upload(ctx, t, c.ID, f); err != nil {
			return n, fmt.Errorf("kyc demo: upload %s for %s: %w", f.Type, name, err)
		}
		n++
	}
	return n, nil
}

// demoOfficer is a demo staff user deciding cases.
type demoOfficer struct {
	id    uuid.UUID
	actor audit.Actor
}

// demoOfficers are the demo compliance officer and, for a four-eyes second approval, the demo admin (none when the
// demo staff are not seeded: stories then stop at the uploads).
func demoOfficers(ctx context.Context, s *Service, t tenants.Tenant) ([]demoOfficer, error) {
	var out []demoOfficer
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		for _, role := range []staff.Role{staff.RoleCompliance, staff.RoleAdmin} {
			for _, m := range staff.DemoStaff(t) {
				if m.Roles[0] != role {
					continue
				}
				u, err := staff.ByEmail(ctx, tx, m.Email)
				if errors.Is(err, staff.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				out = append(out, demoOfficer{id: u.ID, actor: audit.Actor{Kind: audit.ActorStaff, ID: u.ID.String()}})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kyc demo: officers: %w", err)
	}
	return out, nil
}

// playStory moves one demo client from where they stand through the rest of their story.
func playStory(ctx context.Context, s *Service, up Uploader, t tenants.Tenant, story clients.DemoStory, officers []demoOfficer, fresh map[uuid.UUID]bool) (int, error) {
	found, err := s.clients.List(ctx, t, clients.Viewer{}, clients.Filter{Query: story.Email}, nil, 1)
	if err != nil || len(found) == 0 || found[0].Email != story.Email {
		return 0, err // not a demo brokerage's client (another seeder's tenant): nothing to play
	}
	c := found[0]
	next := 0
	for i, st := range story.Steps {
		if st.To == c.Status {
			next = i + 1
		}
	}
	if c.Status != clients.StatusEmailVerified && next == 0 {
		return 0, nil // moved by someone else since: the story is over
	}
	n := 0
	for _, step := range story.Steps[next:] {
		if step.To != clients.StatusKYCSubmitted && len(officers) == 0 {
			return n, nil
		}
		switch step.To {
		case clients.StatusKYCSubmitted:
			have, err := up.ClientDocuments(ctx, t, c.ID)
			if err != nil {
				return n, err
			}
			if len(have) == 0 {
				k, err := uploadDemoDocuments(ctx, up, t, c, fresh)
				if n += k; err != nil {
					return n, err
				}
			}
		case clients.StatusKYCApproved:
			err = decideOpenCases(ctx, s, t, c.ID, officers, func(documents.Type) DecisionInput { return DecisionInput{Verdict: VerdictApprove} })
		case clients.StatusKYCMoreInfo:
			err = decideOpenCases(ctx, s, t, c.ID, officers, func(typ documents.Type) DecisionInput {
				if typ == documents.TypeProofOfAddress {
					return DecisionInput{Verdict: VerdictReject, ReasonCode: "address_too_old", Message: step.Reason}
				}
				return DecisionInput{Verdict: VerdictApprove}
			})
		case clients.StatusKYCRejected:
			err = decideOpenCases(ctx, s, t, c.ID, officers, func(typ documents.Type) DecisionInput {
				switch typ {
				case documents.TypePassport:
					return DecisionInput{Verdict: VerdictReject, ReasonCode: "suspected_forgery", Message: step.Reason}
				case documents.TypeSelfie:
					return DecisionInput{Verdict: VerdictReject, ReasonCode: "photo_mismatch"}
				}
				return DecisionInput{Verdict: VerdictApprove}
			})
		default: // compliance's own decisions on the client page
			err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
				return s.clients.TransitionTx(ctx, tx, t, c.ID, step.To, step.Reason, officers[0].actor)
			})
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// demoDecisionOrder decides a client's cases as an officer would: the selfie and identity first, the proof of
// address last (its approval is the one that completes the requirements), a forged passport before the rest.
var demoDecisionOrder = []documents.Type{documents.TypeSelfie, documents.TypeProofOfAddress, documents.TypePassport}

// decideOpenCases claims, ticks and decides every open case of the client with the verdict decide gives its
// document type; a four-eyes approval gets its second approval from the second officer.
func decideOpenCases(ctx context.Context, s *Service, t tenants.Tenant, client uuid.UUID, officers []demoOfficer, decide func(documents.Type) DecisionInput) error {
	items, _, err := s.clientCases(ctx, t, client)
	if err != nil {
		return err
	}
	rank := func(it QueueItem) int {
		in := decide(it.DocumentType)
		if in.Verdict == VerdictReject && in.ReasonCode == "suspected_forgery" {
			return -1
		}
		if in.Verdict == VerdictApprove && it.DocumentType == documents.TypeProofOfAddress {
			return len(demoDecisionOrder)
		}
		return slices.Index(demoDecisionOrder, it.DocumentType)
	}
	slices.SortStableFunc(items, func(a, b QueueItem) int { return rank(a) - rank(b) })
	st, err := s.Settings(ctx, t)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Status == StatusDecided {
			continue
		}
		in := decide(it.DocumentType)
		for i, o := range officers {
			if it.FirstApproverID != nil && *it.FirstApproverID == o.id {
				continue // four-eyes: the other officer approves
			}
			if it.HolderID == nil || *it.HolderID != o.id {
				if it.HolderID != nil {
					if _, err := s.Release(ctx, t, it.ID, o.id, true, o.actor); err != nil {
						return err
					}
				}
				if _, err := s.Claim(ctx, t, it.ID, o.id, o.actor); err != nil {
					return err
				}
			}
			if in.Verdict == VerdictApprove {
				ticks := map[string]bool{}
				for _, item := range st.Checklist(it.DocumentType) {
					ticks[item.Key] = true
				}
				if _, err := s.SetChecklist(ctx, t, it.ID, o.id, o.actor, ticks); err != nil {
					return err
				}
			}
			out, err := s.Decide(ctx, t, it.ID, o.id, o.actor, in)
			if err != nil {
				return err
			}
			if !out.AwaitingSecondApproval || i == len(officers)-1 {
				break
			}
			it.Case = out.Case
		}
	}
	return nil
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
