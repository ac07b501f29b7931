package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func runAudit(ctx context.Context, args []string) error {
	return withApp(ctx, func(a *app) error { return auditCommand(ctx, a, args, os.Stdout) })
}

// auditCommand runs `brokerdesk audit ...` on an opened app, writing its answer to out.
func auditCommand(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: want verify --tenant SLUG or verify --platform\n\n%s", usage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	slug := fs.String("tenant", "", "slug of the tenant whose audit chain to verify")
	platform := fs.Bool("platform", false, "verify the platform's own audit chain (operators' sign-ins and actions)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (*slug == "") == !*platform || fs.NArg() > 0 {
		return errors.New("audit verify: want --tenant SLUG or --platform, and nothing else")
	}
	if *platform {
		rep, err := audit.NewPlatform(a.clusters.Platform()).Verify(ctx)
		if err != nil {
			return err
		}
		return printVerify(out, "platform", rep)
	}
	t, err := a.registry.BySlug(ctx, *slug)
	if err != nil {
		return explain(err)
	}
	rep, err := a.audit.Verify(ctx, t)
	if err != nil {
		return err
	}
	return printVerify(out, t.Slug, rep)
}

// printVerify writes a verification's answer: ok and the head, or the first bad row (exit status 1).
func printVerify(out io.Writer, name string, rep audit.Report) error {
	if !rep.OK() {
		// The first bad row is where an investigation starts: the chain cannot vouch for anything after it.
		fmt.Fprintf(out, "FAIL: %s: %s\n", name, rep.Problem)
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
