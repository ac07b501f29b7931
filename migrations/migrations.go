// Package migrations holds BrokerDesk's schema changes, embedded in the binary: platform/ for the platform schema
// (tenant registry, domains, provisioning) and tenant/ for every tenant's own schema. Files are named
// NNNN_description.sql and applied in order, each set inside one transaction per schema with its version table in
// that same schema. Changes are expand-then-contract: a tenant mid-migration must still work with the running code
// (and with pgx's cached statements), so never drop or retype a column the running release still reads.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

//go:embed platform/*.sql
var platformFiles embed.FS

//go:embed tenant/*.sql
var tenantFiles embed.FS

// Migration is one schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// Set is an ordered list of migrations for one kind of schema.
type Set struct {
	Name       string
	Migrations []Migration
}

// Platform returns the platform schema's migrations.
func Platform() Set { return mustLoad("platform", platformFiles) }

// Tenant returns the migrations every tenant schema gets.
func Tenant() Set { return mustLoad("tenant", tenantFiles) }

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

func mustLoad(dir string, files embed.FS) Set {
	s, err := load(dir, files)
	if err != nil {
		panic(err) // the files are embedded at build time: a bad name is a build defect, caught by the tests
	}
	return s
}

func load(dir string, files fs.FS) (Set, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return Set{}, err
	}
	s := Set{Name: dir}
	seen := map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return Set{}, fmt.Errorf("migrations/%s/%s: name must be NNNN_lower_snake.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return Set{}, fmt.Errorf("migrations/%s: version %d used by %s and %s", dir, v, prev, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return Set{}, err
		}
		sum := sha256.Sum256(b)
		s.Migrations = append(s.Migrations, Migration{Version: v, Name: m[2], SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(s.Migrations, func(i, j int) bool { return s.Migrations[i].Version < s.Migrations[j].Version })
	return s, nil
}

// Latest is the highest version in the set.
func (s Set) Latest() int {
	if len(s.Migrations) == 0 {
		return 0
	}
	return s.Migrations[len(s.Migrations)-1].Version
}

// Apply brings the schema whose version table is versionTable (a sanitized, possibly schema-qualified identifier)
// up to date inside tx and returns the versions it applied. The caller holds the lock that keeps two processes
// from migrating the same schema at once and decides the transaction (search_path, role). An applied migration
// whose file has since changed is refused: history is never rewritten.
func (s Set) Apply(ctx context.Context, tx pgx.Tx, versionTable string) ([]int, error) {
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (
		version integer PRIMARY KEY,
		name text NOT NULL,
		checksum text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("create %s: %w", versionTable, err)
	}
	rows, err := tx.Query(ctx, `SELECT version, checksum FROM `+versionTable)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", versionTable, err)
	}
	applied := map[int]string{}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, err
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var done []int
	for _, m := range s.Migrations {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("%s migration %04d_%s was changed after it was applied; add a new migration instead", s.Name, m.Version, m.Name)
			}
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return done, fmt.Errorf("%s migration %04d_%s: %w", s.Name, m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+versionTable+` (version, name, checksum) VALUES ($1, $2, $3)`, m.Version, m.Name, m.Checksum); err != nil {
			return done, fmt.Errorf("record %s migration %04d: %w", s.Name, m.Version, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}
