package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Through the real server: a compliance officer downloads a client's export from the API and from the client's
// data-protection page (the same zip), and asking to erase an active client is refused with the legal basis,
// on the API (409) and on the page.
func TestComplianceExportsAClientAndIsToldWhyErasureWaits(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	var id uuid.UUID
	var email string
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, email FROM clients WHERE status = 'kyc_approved' LIMIT 1`).Scan(&id, &email)
	}); err != nil {
		t.Fatal(err)
	}
	tok := staffLogin(t, base, ten, "compliance").AccessToken

	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/clients/"+id.String()+"/export", nil)
	req.Host = hostOf(ten)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	apiZip, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("API export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	pc := newPageClient(t, base, ten)
	pc.login("/backoffice", demoEmail(ten, "compliance"), identity.DemoPassword)
	page := pc.get("/backoffice/clients/" + id.String() + "/privacy")
	if page.status != http.StatusOK || !strings.Contains(page.body, "relationship is active") {
		t.Fatalf("privacy page: %d %.400s", page.status, page.body)
	}
	csrf := pc.cookies["__Host-bd_csrf"].Value
	pageZip := pc.do(http.MethodPost, "/backoffice/clients/"+id.String()+"/privacy/export", url.Values{"csrf": {csrf}})
	for name, body := range map[string][]byte{"API": apiZip, "page": []byte(pageZip.body)} {
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s export is not a zip: %v", name, err)
		}
		var client string
		for _, f := range zr.File {
			if f.Name == "client.json" {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				client = string(b)
			}
		}
		if !strings.Contains(client, email) {
			t.Errorf("%s export's client.json lacks the client's email: %.300s", name, client)
		}
	}

	r := request(t, base, hostOf(ten), "POST", "/api/v1/clients/"+id.String()+"/erasure", tok, map[string]any{},
		"Idempotency-Key", uuid.NewString())
	if r.status != http.StatusConflict || !strings.Contains(r.body, "retention") || !strings.Contains(r.body, "close the account first") {
		t.Errorf("erasing an active client: %d %s", r.status, r.body)
	}
	erase := pc.do(http.MethodPost, "/backoffice/clients/"+id.String()+"/privacy/erase", url.Values{"csrf": {csrf}, "confirm": {"ERASE"}})
	if erase.status != http.StatusConflict || !strings.Contains(erase.body, "Erasure refused") {
		t.Errorf("erasing from the page: %d %.300s", erase.status, erase.body)
	}
}
