package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

// runServices: `services exec` starts every local service once (ephemeral, two Postgres clusters), runs a command
// with their BD_* variables, and stops them. `make test` runs `go test ./...` this way, so all packages share one
// set of services and each test makes its own databases and tenants.
func runServices(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "exec" {
		return fmt.Errorf("services: want `services exec [--dir DIR] [--fresh] -- COMMAND...`")
	}
	fs := flag.NewFlagSet("services exec", flag.ContinueOnError)
	dir := fs.String("dir", ".data/test", "where the services keep their data")
	fresh := fs.Bool("fresh", false, "delete the directory first")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cmdline := fs.Args()
	if len(cmdline) == 0 {
		return errors.New("services exec: no command given")
	}
	if *fresh {
		if err := os.RemoveAll(*dir); err != nil {
			return err
		}
	}
	r, err := localsvc.Start(ctx, localsvc.Options{Dir: *dir, PostgresClusters: 2, Ephemeral: true, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer r.Stop()
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), r.Endpoints.Env()...)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitError(exit.ExitCode())
	}
	return err
}
