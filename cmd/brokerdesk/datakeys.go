package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/tenants"
)

func runDataKeys(ctx context.Context, args []string) error {
	return withApp(ctx, func(a *app) error { return dataKeysCommand(ctx, a, args, os.Stdout) })
}

// dataKeysCommand runs `brokerdesk data-keys reseal`: every TOTP secret of every tenant's staff and traders and of
// the operators, and every tenant's trading servers' manager credentials and payment gateways' secrets, sealed under the first key of
// BD_DATA_KEYS, so that after a rotation the old key can leave the ring (docs/security.md). It exits 1 while any value stays unreadable or a tenant fails; running it again is safe.
func dataKeysCommand(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) != 1 || args[0] != "reseal" {
		return fmt.Errorf("data-keys: want reseal\n\n%s", usage)
	}
	// Suspended tenants keep their data (and their staff sign in again when resumed): reseal them too.
	list, err := a.registry.List(ctx, tenants.ListFilter{Statuses: []tenants.Status{tenants.StatusActive, tenants.StatusSuspended}})
	if err != nil {
		return err
	}
	// What each tenant holds sealed, and what its owner does about a value no key opens.
	passes := []struct {
		what, lost string
		reseal     func(context.Context, tenants.Tenant) (database.ResealCounts, error)
	}{
		{"TOTP secrets", "those users must enrol again", a.identity.ResealTOTPSecrets},
		{"trading servers' credentials", "enter them again on each server's page", a.tradingdesk.ResealCredentials},
		{"payment gateways' secrets", "enter them again on each gateway's settings page", a.payments.ResealSecrets},
	}
	var resealed, current, unreadable int
	var errs []error
	for _, t := range list {
		for _, p := range passes {
			rep, err := p.reseal(ctx, t)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %s: %w", t.Slug, p.what, err))
				continue
			}
			if rep.Unreadable > 0 {
				fmt.Fprintf(out, "tenant %s: %d %s no key opens (%s)\n", t.Slug, rep.Unreadable, p.what, p.lost)
			}
			resealed, current, unreadable = resealed+rep.Resealed, current+rep.Current, unreadable+rep.Unreadable
		}
	}
	ops, err := newOperators(a)
	if err != nil {
		return err
	}
	rep, err := ops.ResealTOTPSecrets(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("operators: %w", err))
	} else {
		if rep.Unreadable > 0 {
			fmt.Fprintf(out, "operators: %d TOTP secrets no key opens (reset their two-factor sign-in)\n", rep.Unreadable)
		}
		resealed, current, unreadable = resealed+rep.Resealed, current+rep.Current, unreadable+rep.Unreadable
	}
	fmt.Fprintf(out, "%d tenants and the operators: %d resealed, %d already under the first key, %d unreadable\n",
		len(list), resealed, current, unreadable)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if unreadable > 0 {
		return exitError(1)
	}
	fmt.Fprintln(out, "every TOTP secret, trading server credential and payment gateway secret is sealed under the first key: the other keys may leave BD_DATA_KEYS")
	return nil
}
