// Command brokerdesk-tools installs the programs the local services of `brokerdesk dev` need (redis-server,
// Mailpit, MinIO when the configuration asks for it: tools.Dev) and exits. `make run` runs it in the background
// while bin/brokerdesk compiles, so a first run installs and compiles at once; it imports only the standard library
// and infra/localsvc/tools, so it builds in seconds. `brokerdesk dev` installs whatever is still missing itself:
// running it without this works too, only slower the first time.
//
//	brokerdesk-tools          what `brokerdesk dev` needs under the current environment
//	brokerdesk-tools -all     every service's programs (what `make test` starts)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

func main() {
	all := flag.Bool("all", false, "install every service's programs (what make test starts), not only what brokerdesk dev needs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	services := tools.Dev(os.Getenv)
	if *all {
		services = tools.All
	}
	if _, err := tools.Install(ctx, services, tools.Options{Log: os.Stdout}); err != nil {
		fmt.Fprintf(os.Stderr, "brokerdesk-tools: %v\n", err)
		os.Exit(1)
	}
}
