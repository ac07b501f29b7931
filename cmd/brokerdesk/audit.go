package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func runAudit(ctx context.Context, args []string) error {
	return withApp(ctx, func(a *app) error { return auditCommand(ctx, a, args, os.Stdout) })
}

// auditCommand runs `brokerdesk audit ...` on an opened app, writing its answer to out.
func auditCommand(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: want verify --tenant SLUG\n\n%s", usage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	slug := fs.String("tenant", "", "slug of the tenant whose audit chain to verify")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *slug == "" || fs.NArg() > 0 {
		return errors.New("audit verify: want --tenant SLUG and nothing else")
	}
	t, err := a.registry.BySlug(ctx, *slug)
	if err != nil {
		return explain(err)
	}
	rep, err := a.audit.Verify(ctx, t)
	if err != nil {
		return err
	}
	if !rep.OK() {
		// The first bad row is where an investigation starts: the chain cannot vouch for anything after it.
		fmt.Fprintf(out, "FAIL: %s: %s\n", t.Slug, rep.Problem)
		if rep.Problem.Seq > 1 {
			fmt.Fprintf(out, "rows 1 to %d link and hash correctly; ", rep.Problem.Seq-1)
		}
		fmt.Fprintf(out, "investigate from row %d (docs/audit.md says what each finding means)\n", rep.Problem.Seq)
		return exitError(1)
	}
	fmt.Fprintf(out, "ok: %d rows, chain intact\n", rep.Rows)
	// The head hash vouches for every row before it: kept outside the database, it also exposes a chain
	// rewritten from the start.
	fmt.Fprintf(out, "head: row %d, sha256 %s\n", rep.HeadSeq, rep.HeadHash)
	return nil
}
