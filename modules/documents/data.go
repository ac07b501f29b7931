package documents

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// exportRecord is one document in an export's documents.json.
type exportRecord struct {
	DocumentResponse
	File string `json:"file"` // the file's name inside the zip
}

// ExportClient writes a client's documents into zw for a data export: each file under "documents/" and their
// records in "documents/documents.json". Erased documents have no file and are left out. The caller audits the
// export.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	docs, err := s.ClientDocuments(ctx, t, clientID)
	if err != nil {
		return err
	}
	records := []exportRecord{}
	for _, d := range docs {
		if d.ErasedAt != nil {
			continue
		}
		name := "documents/" + d.ID.String() + "-" + cleanFileName(d.FileName, d.ContentType)
		if err := s.copyFile(ctx, zw, d, name); err != nil {
			return err
		}
		records = append(records, exportRecord{DocumentResponse: ToResponse(d), File: name})
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "documents/documents.json", Method: zip.Deflate, Modified: s.o.Now()})
	if err != nil {
		return fmt.Errorf("documents: export: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(records)
}

func (s *Service) copyFile(ctx context.Context, zw *zip.Writer, d Document, name string) error {
	r, err := s.o.Store.Open(ctx, d.BlobKey)
	if err != nil {
		return fmt.Errorf("documents: export %s: %w", d.ID, err)
	}
	defer r.Close()
	// JPEG, PNG and PDF are compressed already: stored as they are.
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: d.UploadedAt})
	if err != nil {
		return fmt.Errorf("documents: export %s: %w", d.ID, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("documents: export %s: %w", d.ID, err)
	}
	return nil
}

// EraseClientTx anonymises a client's document rows in tx for an erasure: file name, hash, expiry date, the
// reviewer's message and the duplicate links are cleared and erased_at set; type, status, size and dates stay (the
// review cases and the audit trail point at the rows). It returns the blob prefix holding the client's files,
// which the caller deletes (DeletePrefix) after tx commits, and audits the erasure itself.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, clientID uuid.UUID) (string, error) {
	if _, err := tx.Exec(ctx, `UPDATE documents SET file_name = '', sha256 = NULL, expires_on = NULL, message = '',
		duplicate_clients = '{}', erased_at = $2 WHERE client_id = $1 AND erased_at IS NULL`, clientID, s.o.Now()); err != nil {
		return "", fmt.Errorf("documents: erase client %s: %w", clientID, err)
	}
	// Other clients' duplicate flags keep the id (not personal data on its own) but not the link to a file.
	return ClientPrefix(t, clientID), nil
}
