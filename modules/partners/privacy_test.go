package partners

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestAClientsExportNamesTheirPartnerAndErasureRemovesAPartnersName(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	p, err := tr.svc.Apply(ctx, tr.ten, tr.dora, "my trading group")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := tr.svc.ExportClient(ctx, tr.ten, tr.dora, zw); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "partners.json" {
		t.Fatalf("the export: %v %v", zr, err)
	}
	f, _ := zr.File[0].Open()
	body, _ := io.ReadAll(f)
	if !strings.Contains(string(body), "Charlie Trading Club") || !strings.Contains(string(body), "ib-charlie") ||
		!strings.Contains(string(body), "Dora Trader") {
		t.Errorf("partners.json: %s", body)
	}
	tr.deliver(t, func(ctx context.Context, tx pgx.Tx) error { return tr.svc.EraseClientTx(ctx, tx, tr.ten, tr.dora) })
	after, err := tr.svc.Partner(ctx, tr.ten, p.ID)
	if err != nil || after.Name != "Erased partner" || after.Note != "" {
		t.Errorf("after erasure: %+v %v", after, err)
	}
}
