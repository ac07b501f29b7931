// Command brokerdesk is BrokerDesk's one binary: the HTTP server, the job worker, migrations, tenant
// administration, local services and the all-in-one development mode. This package only wires; behaviour lives
// in tenants, jobs, modules and infra.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `brokerdesk: a multi-tenant back office for forex brokerages.

Usage:
  brokerdesk serve                      HTTP server (tenant hosts, operator console, /healthz, /readyz; /metrics on BD_INTERNAL_ADDR)
  brokerdesk worker                     background job worker (provisioning, notifications, sync)
  brokerdesk migrate                    migrate the platform schema, then every tenant
  brokerdesk tenants create --slug S --name N --admin-email E [--cluster C] [--async]
  brokerdesk tenants provision --slug S              resume a failed or interrupted provisioning
  brokerdesk tenants list [--status S] [--cluster C]
  brokerdesk tenants suspend|resume --slug S [--reason R]
  brokerdesk tenants delete --slug S [--reason R]   (exports to BD_EXPORT_DIR first)
  brokerdesk operators create --email E --name N    add a platform operator (password: prompt, BD_OPERATOR_PASSWORD or stdin)
  brokerdesk operators list | disable|enable|reset-2fa --email E   (disable and reset-2fa end the operator's sessions)
  brokerdesk audit verify --tenant S                check a tenant's audit chain; names the first bad row, exit 1 if any
  brokerdesk audit verify --platform                check the platform's audit chain (operators' sign-ins and actions)
  brokerdesk ledger verify --tenant S               recompute every balance of a tenant's ledger from its postings; names the first discrepancy, exit 1 if any
  brokerdesk partners recalc --tenant S --partner CODE --from DATE --to DATE [--post --reason R]   a partner's period with today's tree and plans: the differences, written with --post
  brokerdesk data-keys reseal                       seal every sealed secret (TOTP, trading servers, payment gateways) under the first BD_DATA_KEYS key (rotation: docs/security.md)
  brokerdesk dev [--data DIR] [--addr ADDR] [--internal-addr ADDR]   everything in one process on local services, with a demo brokerage
  brokerdesk services exec [--dir DIR] [--fresh] -- COMMAND...   run COMMAND with local services started (make test)

Configuration comes from BD_* environment variables; see README.md.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx)
	case "worker":
		err = runWorker(ctx)
	case "migrate":
		err = runMigrate(ctx)
	case "tenants":
		err = runTenants(ctx, args)
	case "operators":
		err = runOperators(ctx, args)
	case "audit":
		err = runAudit(ctx, args)
	case "ledger":
		err = runLedger(ctx, args)
	case "partners":
		err = runPartners(ctx, args)
	case "data-keys":
		err = runDataKeys(ctx, args)
	case "dev":
		err = runDev(ctx, args)
	case "services":
		err = runServices(ctx, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "brokerdesk: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "brokerdesk:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a status code after the command has already said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
