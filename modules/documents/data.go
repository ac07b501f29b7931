package documents

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/documents/content"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// exportRecord is one document in an export's documents.json.
type exportRecord struct {
	DocumentResponse
	File string `json:"file"` // the file's name inside the zip
}

// The service is the documents module's share of a client's personal data (frontdoor.DataHolder): the files and
// their records.
var _ frontdoor.DataHolder = (*Service)(nil)

// PersonalData names the documents module's folder in a client's export.
func (s *Service) PersonalData() []string {
	return []string{"documents/      the identity and address documents you uploaded, with documents.json describing each"}
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
		name := "documents/" + d.ID.String() + "-" + content.Name(d.FileName, "document", d.ContentType)
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
// review cases and the audit trail point at the rows). The client's files are deleted from the blob store by a task
// added in tx (TaskDeleteClientFiles), so they go exactly when the erasure commits.
func (s *Service) EraseClientTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, clientID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE documents SET file_name = '', sha256 = NULL, expires_on = NULL, message = '',
		duplicate_clients = '{}', erased_at = $2 WHERE client_id = $1 AND erased_at IS NULL`, clientID, s.o.Now()); err != nil {
		return fmt.Errorf("documents: erase client %s: %w", clientID, err)
	}
	// Other clients' duplicate flags keep the id (not personal data on its own) but not the link to a file.
	_, err := jobs.Outbox{DefaultQueue: jobs.QueueLow}.Add(ctx, tx, TaskDeleteClientFiles, "erase:"+clientID.String(),
		deleteClientFiles{Prefix: ClientPrefix(t, clientID)})
	return err
}

// TaskDeleteClientFiles deletes an erased client's stored files after the erasure commits.
const TaskDeleteClientFiles = "documents:delete-client-files"

type deleteClientFiles struct {
	Prefix string `json:"prefix"`
}

// handleDeleteClientFiles deletes an erased client's stored files (TaskDeleteClientFiles). Deleting what is gone
// succeeds, so a repeated delivery is harmless. The prefix must lie under the task's tenant.
func (s *Service) handleDeleteClientFiles(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p deleteClientFiles
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %v", jobs.SkipRetry, err)
	}
	if !strings.HasPrefix(p.Prefix, t.ID.String()+"/") {
		return fmt.Errorf("%w: prefix %q is not under tenant %s", jobs.SkipRetry, p.Prefix, t.Slug)
	}
	return s.o.Store.DeletePrefix(ctx, p.Prefix)
}
