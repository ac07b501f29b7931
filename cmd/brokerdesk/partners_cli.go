package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/partners"
)

func runPartners(ctx context.Context, args []string) error {
	return withApp(ctx, func(a *app) error { return partnersCommand(ctx, a, args, os.Stdout) })
}

// partnersCommand runs `brokerdesk partners recalc --tenant SLUG --partner CODE --from DATE --to DATE [--post
// --reason TEXT]` on an opened app: the differences per deal and level, and with --post, what was written
// (docs/partners.md, "Recalculation"). The audit trail names the operator as "cli:<user>".
func partnersCommand(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "recalc" {
		return fmt.Errorf("partners: want recalc --tenant SLUG --partner CODE --from DATE --to DATE [--post --reason TEXT]\n\n%s", usage)
	}
	fs := flag.NewFlagSet("partners recalc", flag.ContinueOnError)
	slug := fs.String("tenant", "", "slug of the tenant")
	code := fs.String("partner", "", "one of the partner's referral codes")
	from := fs.String("from", "", "first day of the period, YYYY-MM-DD")
	to := fs.String("to", "", "last day of the period, YYYY-MM-DD (included)")
	post := fs.Bool("post", false, "write the differences as rows of a new generation (needs --reason)")
	reason := fs.String("reason", "", "why, for the audit trail and the rows' explanation")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *slug == "" || *code == "" || fs.NArg() > 0 {
		return errors.New("partners recalc: want --tenant SLUG --partner CODE --from DATE --to DATE [--post --reason TEXT], and nothing else")
	}
	t, err := a.registry.BySlug(ctx, *slug)
	if err != nil {
		return explain(err)
	}
	p, err := a.partners.PartnerByCode(ctx, t, *code)
	if errors.Is(err, partners.ErrNotFound) {
		return fmt.Errorf("partners recalc: no partner of %s holds the code %q", t.Slug, *code)
	} else if err != nil {
		return err
	}
	who := "cli"
	if u, err := user.Current(); err == nil {
		who += ":" + u.Username
	}
	r, err := a.partners.Recalculate(ctx, t, audit.Actor{Kind: audit.ActorOperator, ID: who}, p.ID,
		partners.RecalcInput{From: *from, To: *to, Post: *post, Reason: *reason})
	if v, ok := validation.As(err); ok {
		for _, fe := range v.Fields {
			fmt.Fprintf(out, "--%s %s\n", fe.Field, fe.Message)
		}
		return exitError(2)
	} else if err != nil {
		return err
	}
	return printRecalc(out, p, partners.ToRecalcResponse(r))
}

func printRecalc(out io.Writer, p partners.Partner, r partners.RecalcResponse) error {
	fmt.Fprintf(out, "%s, %s to %s: %d deals examined, %d differ\n", p.Name, r.From, r.To, r.Deals, r.Changed)
	if len(r.Lines) > 0 {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "deal time (UTC)\tticket\tsymbol\tlots\tlevel\tstored\tnow\tdifference\tcurrency\t")
		for _, l := range r.Lines {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", l.DealTime.UTC().Format(time.DateTime), l.Ticket, l.Symbol, l.Lots, l.Level,
				l.Before, l.After, l.Difference, l.Currency)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(r.Difference)) {
		fmt.Fprintf(out, "net difference: %s %s\n", r.Difference[cur], cur)
	}
	switch {
	case r.Posted && r.Rows > 0:
		fmt.Fprintf(out, "written: %d rows (run %s); the batch poster posts them to the wallets within a minute\n", r.Rows, *r.ID)
	case r.Posted:
		fmt.Fprintln(out, "nothing to write: the stored rows are what the computation gives")
	default:
		fmt.Fprintln(out, "preview only: nothing written (add --post --reason TEXT to write the differences)")
	}
	return nil
}
