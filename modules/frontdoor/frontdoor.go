// Package frontdoor is the one shape every module shows the rest of the product: its front door. A module is
// constructed from one options struct and returns a Door naming everything cmd/brokerdesk wires: its API routes,
// pages and their templates (with its side-menu entries and dashboard tiles, registered on the page shell), task
// handlers and periodic work, event subscriptions, the defaults it seeds into every new tenant and the demo data of
// `make run`, the personal data it holds (export and erasure), and how its audited actions read (Trail).
//
// cmd/brokerdesk keeps one list of modules and walks it in serve, worker and dev, so adding a module is one line
// there and no existing module changes. Every field of a Door is optional; a module fills in what it has. The
// import floors (docs/architecture.md):
//
//	cmd/brokerdesk                    wiring only: builds the modules, walks their doors
//	modules/<room>                    business rooms; a room imports only rooms below it, through their services
//	modules/frontdoor, modules/events the door's shape and the event hall: import no room
//	jobs                              Asynq, the outbox and its relay, the scheduler, the task table
//	tenants                           the tenant registry, the gate (tenant-scoped SQL), provisioning
//	infra/...                         config, database, web (server, API table, page shell), auth, mail, blob
package frontdoor

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Module is anything with a front door.
type Module interface {
	Door() Door
}

// Door is what a module offers the product. cmd/brokerdesk calls each function at most once, while wiring, in
// the order of its module list.
type Door struct {
	// Name is the module's folder name ("kyc"), used in errors and docs.
	Name string
	// Routes registers the module's JSON API routes (with their permissions and OpenAPI shapes).
	Routes func(api *web.API)
	// PageFiles are the module's page templates (its embedded pages/*.html); Pages registers the pages on the
	// tenant hosts' page shell, with the module's side-menu entries (shell.Nav) and dashboard tiles (shell.Tiles).
	PageFiles fs.FS
	Pages     func(shell *web.Shell)
	// Tasks registers the module's task handlers and periodic entries on the worker's task table.
	Tasks func(t *jobs.Tasks)
	// Subscribe registers the module's reactions to other modules' events.
	Subscribe func(h *events.Hall)
	// Seeders fill every new tenant's schema with the module's defaults, in the provisioning transaction.
	Seeders []tenants.Seeder
	// DemoSeeders fill the demo brokerage of `make run`, in its provisioning transaction (after every module's
	// Seeders).
	DemoSeeders []tenants.Seeder
	// Demo runs after the demo brokerage is provisioned, through the module's own service (uploads to the blob
	// store, decisions that need committed rows). It must be idempotent: `make run` calls it on every start.
	Demo func(ctx context.Context, t tenants.Tenant) error
	// Data is the module's share of a client's personal data, for export and erasure (modules/privacy); nil for a
	// module that keeps none.
	Data DataHolder
	// Trail declares, on the audit service the module already holds, how its audited actions read: a sentence per
	// action (audit.Phrase), the names of its records (audit.NameFunc) and which of them are about a client
	// (audit.RelateFunc). A function rather than a list because this package imports no room, audit included.
	Trail func()
}

// DataHolder is a module that keeps personal data of clients. The privacy module asks every holder for its share
// of an export and for erasure, so a new module joins both by filling Door.Data, without privacy importing it.
type DataHolder interface {
	// PersonalData names what the module puts in an export, one line per file or folder for the archive's
	// README ("documents/   the identity and address documents you uploaded").
	PersonalData() []string
	// ExportClient writes the module's files about the client into the export archive.
	ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error
	// EraseClientTx erases or anonymises what the module keeps of the client, in the erasure's transaction tx
	// (after the retention rule allowed it). Work outside the database (deleting files) goes into the outbox in
	// tx, so it happens exactly when the erasure commits.
	EraseClientTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, clientID uuid.UUID) error
}

// ExportJSON writes v as an indented JSON file name into a data export (the shape every holder's files take).
func ExportJSON(zw *zip.Writer, name string, v any, at time.Time) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: at})
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}
