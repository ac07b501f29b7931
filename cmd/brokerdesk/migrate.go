package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/tenants"
)

func runMigrate(ctx context.Context) error {
	return withApp(ctx, func(a *app) error { return a.migrateAll(ctx, os.Stdout) })
}

// migrateAll migrates the platform schema, then every tenant, printing a progress bar on a terminal and one line
// per tenant. It fails (after finishing the others) if any tenant failed.
func (a *app) migrateAll(ctx context.Context, out io.Writer) error {
	applied, err := tenants.MigratePlatform(ctx, a.clusters.Platform())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "platform schema: %s\n", describeApplied(applied))
	tty := isTerminal(out)
	start := time.Now()
	results, err := a.migrator.MigrateAll(ctx, a.cfg.MigrateConcurrency, func(done, total int, r tenants.MigrateResult) {
		if tty {
			fmt.Fprint(out, "\r\033[K")
		}
		if r.Err != nil {
			fmt.Fprintf(out, "FAIL %-40s %-10s %v\n", r.Tenant.Slug, r.Tenant.Cluster, r.Err)
		} else {
			fmt.Fprintf(out, "ok   %-40s %-10s %s (%s)\n", r.Tenant.Slug, r.Tenant.Cluster, describeApplied(r.Applied), r.Took.Round(time.Millisecond))
		}
		if tty {
			fmt.Fprint(out, progressBar(done, total, 30))
		}
	})
	if tty {
		fmt.Fprint(out, "\r\033[K")
	}
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	fmt.Fprintf(out, "tenants: %d migrated, %d failed, in %s\n", len(results)-failed, failed, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		return exitError(1)
	}
	return nil
}

func describeApplied(v []int) string {
	if len(v) == 0 {
		return "up to date"
	}
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprintf("%04d", n)
	}
	return "applied " + strings.Join(s, ", ")
}

func progressBar(done, total, width int) string {
	if total == 0 {
		return ""
	}
	filled := done * width / total
	return fmt.Sprintf("[%s%s] %d/%d tenants", strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
