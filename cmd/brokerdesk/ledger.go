package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/brokerdesk/brokerdesk/modules/ledger"
)

func runLedger(ctx context.Context, args []string) error {
	return withApp(ctx, func(a *app) error { return ledgerCommand(ctx, a, args, os.Stdout) })
}

// ledgerCommand runs `brokerdesk ledger verify --tenant SLUG` on an opened app, writing its answer to out: the
// counts and "ok", or the first discrepancy (exit status 1).
func ledgerCommand(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("ledger: want verify --tenant SLUG\n\n%s", usage)
	}
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	slug := fs.String("tenant", "", "slug of the tenant whose ledger to verify")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *slug == "" || fs.NArg() > 0 {
		return errors.New("ledger verify: want --tenant SLUG, and nothing else")
	}
	t, err := a.registry.BySlug(ctx, *slug)
	if err != nil {
		return explain(err)
	}
	rep, err := a.ledger.Verify(ctx, t)
	if err != nil {
		return err
	}
	return printLedgerVerify(out, t.Slug, rep)
}

func printLedgerVerify(out io.Writer, slug string, rep ledger.Report) error {
	if !rep.OK() {
		fmt.Fprintf(out, "FAIL: %s: %s\n", slug, rep.Problem)
		fmt.Fprintf(out, "checked %d transactions, %d postings, %d accounts in %s; docs/ledger.md says what each finding means\n",
			rep.Transactions, rep.Postings, rep.Accounts, rep.Took.Round(1e6))
		return exitError(1)
	}
	fmt.Fprintf(out, "ok: %d transactions, %d postings, %d accounts balance; every kept balance equals its postings (%s)\n",
		rep.Transactions, rep.Postings, rep.Accounts, rep.Took.Round(1e6))
	return nil
}
