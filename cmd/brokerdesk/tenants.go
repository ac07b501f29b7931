package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
)

func runTenants(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("tenants: want create, provision, list, suspend, resume or delete\n\n%s", usage)
	}
	return withApp(ctx, func(a *app) error { return tenantsCommand(ctx, a, args) })
}

func tenantsCommand(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("tenants "+args[0], flag.ContinueOnError)
	slug := fs.String("slug", "", "tenant slug (its subdomain)")
	reason := fs.String("reason", "", "why (kept in the tenant's history)")
	switch args[0] {
	case "create":
		name := fs.String("name", "", "brokerage display name")
		email := fs.String("admin-email", "", "first administrator's email (receives the invitation)")
		cluster := fs.String("cluster", "", "database cluster (default: the emptiest)")
		async := fs.Bool("async", false, "record the tenant and leave provisioning to a worker")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		req := tenants.Request{Slug: *slug, DisplayName: *name, AdminEmail: *email, Cluster: *cluster}
		if *async {
			t, err := a.provisioner.Request(ctx, req)
			if err != nil {
				return explain(err)
			}
			task, err := jobs.NewProvisionTenantTask(t.ID)
			if err != nil {
				return err
			}
			if err := jobs.Enqueue(ctx, a.queue, task); err != nil {
				return err
			}
			fmt.Printf("tenant %s requested on cluster %s; a worker will provision it\n", t.Slug, t.Cluster)
			return nil
		}
		t, err := a.provisioner.Create(ctx, req)
		if err != nil {
			return explain(err)
		}
		fmt.Printf("tenant %s is %s on cluster %s: %s (invitation sent to %s)\n", t.Slug, t.Status, t.Cluster, a.tenantURL(t, "/"), t.AdminEmail)
		return nil
	case "list":
		status := fs.String("status", "", "only this status")
		cluster := fs.String("cluster", "", "only this cluster")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		f := tenants.ListFilter{Cluster: *cluster}
		if *status != "" {
			f.Statuses = []tenants.Status{tenants.Status(*status)}
		}
		list, err := a.registry.List(ctx, f)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SLUG\tNAME\tSTATUS\tCLUSTER\tCREATED\tREASON")
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Slug, t.DisplayName, t.Status, t.Cluster, t.CreatedAt.UTC().Format("2006-01-02 15:04"), t.StatusReason)
		}
		return w.Flush()
	case "provision":
		// Resumes a tenant whose provisioning failed or was interrupted; a no-op for an active tenant.
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		t, err := a.registry.BySlug(ctx, *slug)
		if err != nil {
			return explain(err)
		}
		if t, err = a.provisioner.Provision(ctx, t.ID); err != nil {
			return explain(err)
		}
		fmt.Printf("tenant %s is %s\n", t.Slug, t.Status)
		return nil
	case "suspend", "resume", "delete":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		t, err := a.registry.BySlug(ctx, *slug)
		if err != nil {
			return explain(err)
		}
		// The command has no operator identity: the change is the system's, labelled with the machine's user. The
		// platform audit row is written in the change's own transaction (operators.AuditTenantStatus).
		actor := tenants.System("cli:" + os.Getenv("USER"))
		switch args[0] {
		case "suspend":
			t, err = a.provisioner.Suspend(ctx, t.ID, *reason, actor)
		case "resume":
			t, err = a.provisioner.Resume(ctx, t.ID, *reason, actor)
		case "delete":
			var path string
			t, path, err = a.provisioner.Delete(ctx, t.ID, a.cfg.ExportDir, *reason, actor)
			if err == nil && path != "" {
				fmt.Printf("exported %s to %s\n", t.Slug, path)
			}
		}
		if err != nil {
			return explain(err)
		}
		fmt.Printf("tenant %s is %s\n", t.Slug, t.Status)
		return nil
	default:
		return fmt.Errorf("tenants: unknown command %q\n\n%s", args[0], usage)
	}
}

// explain turns domain errors into sentences for an operator at a terminal.
func explain(err error) error {
	ve, invalid := validation.As(err)
	switch {
	case invalid:
		msg := "the request is not valid:"
		for _, f := range ve.Fields {
			msg += fmt.Sprintf("\n  --%s: %s", map[string]string{"name": "name", "slug": "slug", "admin_email": "admin-email", "cluster": "cluster"}[f.Field], f.Message)
		}
		return errors.New(msg)
	case errors.Is(err, tenants.ErrSlugTaken):
		return fmt.Errorf("%v: choose another slug", err)
	case errors.Is(err, tenants.ErrNotFound):
		return errors.New("no tenant with that slug (see `brokerdesk tenants list`)")
	}
	return err
}
