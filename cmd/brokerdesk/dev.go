package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/sandbox"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DemoSlug is the seeded demo brokerage of `make run`.
const DemoSlug = "demo"

// runDev is `make run`: local services, migrations, the demo brokerage, HTTP and worker in one process.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	data := fs.String("data", ".data", "where local services and exports keep their data (reused between runs)")
	addr := fs.String("addr", "127.0.0.1:8080", "public HTTP address")
	internal := fs.String("internal-addr", "127.0.0.1:9090", "internal address for /metrics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return err
	}
	lockPath := filepath.Join(*data, "dev.lock")
	release, err := localsvc.TryLock(lockPath)
	if errors.Is(err, localsvc.ErrLocked) {
		pid, _ := os.ReadFile(lockPath)
		return fmt.Errorf("another `make run` is already using %s (pid %s); stop it first (Ctrl-C in its terminal), or pass --data to use other data",
			*data, strings.TrimSpace(string(pid)))
	}
	if err != nil {
		return err
	}
	defer release()

	// Only what this configuration uses (tools.Dev): Postgres, Redis and Mailpit; MinIO only for BD_BLOB_STORE=s3
	// without BD_S3_ENDPOINT. Missing programs are installed first, all at once (make run has usually done that
	// already, in the background of its build).
	fmt.Println("Starting local services (first run installs what is missing; this can take a few minutes)...")
	svc, err := localsvc.Start(ctx, localsvc.Options{Dir: filepath.Join(*data, "services"), Services: tools.Dev(os.Getenv), Log: os.Stdout})
	if err != nil {
		return err
	}
	defer svc.Stop()

	// The environment wins over the local services and the dev defaults, so one service can be swapped for another.
	devEnv := map[string]string{
		"BD_HTTP_ADDR": *addr, "BD_INTERNAL_ADDR": *internal, "BD_BASE_DOMAIN": "localhost", "BD_PUBLIC_SCHEME": "http",
		"BD_EXPORT_DIR": filepath.Join(*data, "exports"), "BD_BLOB_DIR": filepath.Join(*data, "blobs"), "BD_SMTP_FROM": "Demo Brokerage <no-reply@demo.localhost>",
	}
	for _, kv := range svc.Endpoints.Env() {
		k, v, _ := strings.Cut(kv, "=")
		devEnv[k] = v
	}
	if os.Getenv("BD_JWT_KEYS") == "" {
		if devEnv["BD_JWT_KEYS"], err = devSecret(filepath.Join(*data, "jwt-keys"), func() (string, error) {
			k, err := auth.GenerateKey("dev-" + time.Now().UTC().Format("20060102"))
			if err != nil {
				return "", err
			}
			return auth.FormatKeys(k), nil
		}); err != nil {
			return err
		}
	}
	if os.Getenv("BD_DATA_KEYS") == "" {
		if devEnv["BD_DATA_KEYS"], err = devSecret(filepath.Join(*data, "data-keys"), func() (string, error) {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return "", err
			}
			return "dev-" + time.Now().UTC().Format("20060102") + ":" + base64.StdEncoding.EncodeToString(key), nil
		}); err != nil {
			return err
		}
	}
	cfg, err := config.Load(func(k string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return devEnv[k]
	})
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(*data, "brokerdesk.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logOut := logging.NewBuffered(logFile, 0, 0) // batched: one write per batch, not per access-log line
	defer logOut.Close()
	log := logging.New(logOut, cfg.LogLevel)

	// The payment sandbox: the demo's crypto gateway creates its payments there, and the back office's payment
	// sandbox page plays the processors' signed callbacks (docs/payments.md).
	sb, err := sandbox.Start()
	if err != nil {
		return err
	}
	defer sb.Close()
	sbConfig, err := json.Marshal(sb.GatewayConfig())
	if err != nil {
		return err
	}
	// The built-in trading server, before the app: the desk's simulator servers dial it.
	sim, err := startSimulator(ctx, filepath.Join(*data, "simulator"))
	if err != nil {
		return err
	}
	defer sim.Close()
	a, err := openApp(ctx, cfg, log, wiring{demo: true, paymentHTTP: sb.Client(), paymentSandbox: &payments.Sandbox{
		StripeAPIBase: svc.Endpoints.StripeURL, GenericConfig: sbConfig, GenericAPIKey: sandbox.APIKey}, simulator: sim, simulatorFaults: &sim.Faults})
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.migrateAll(ctx, os.Stdout); err != nil {
		return err
	}
	demo, err := a.ensureDemo(ctx)
	if err != nil {
		return err
	}
	if err := a.ensureDemoOperator(ctx); err != nil {
		return err
	}
	// The modules' demo data that goes through their own services (the KYC queue's cases: real files through the
	// documents upload), after provisioning committed the demo's rows.
	if err := a.runDemos(ctx, demo); err != nil {
		return err
	}
	worker, err := a.startWorker(ctx)
	if err != nil {
		return err
	}
	defer worker.Shutdown()
	s, err := a.buildHTTP()
	if err != nil {
		return err
	}
	go a.resolver.Listen(ctx)
	go a.payments.Listen(ctx, clusterPools(a.clusters)) // the money pages' live updates
	go a.partners.Listen(ctx, clusterPools(a.clusters)) // the IB portal's live updates
	errs := make(chan error, 1)
	go func() { errs <- a.serveHTTP(ctx, s) }()
	if err := a.printWelcome(ctx, demo, svc.Endpoints, *data, sim); err != nil {
		return err
	}
	if err := a.printKYCQueue(ctx, demo); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	case name := <-svc.Exited():
		return fmt.Errorf("local service %s stopped unexpectedly; see %s", name, filepath.Join(*data, "services", name))
	case <-ctx.Done():
		fmt.Println("\nStopping...")
		select {
		case err := <-errs:
			return err
		case <-time.After(cfg.ShutdownTimeout + time.Second):
			return errors.New("HTTP server did not stop in time")
		}
	}
}

// devSecret returns a secret of `make run` (its token and data keys): generated on the first run and kept in path
// (0600), so sessions and encrypted columns survive a restart and no key is ever shared between developers' machines.
func devSecret(path string, generate func() (string, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the dev key %s: %w", path, err)
	}
	spec, err := generate()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("saving the dev key: %w", err)
	}
	if _, err := f.WriteString(spec + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("saving the dev key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("saving the dev key: %w", err)
	}
	return spec, nil
}

// ensureDemo provisions the demo brokerage on the first run and finishes it if an earlier run was interrupted.
func (a *app) ensureDemo(ctx context.Context) (tenants.Tenant, error) {
	t, err := a.registry.BySlug(ctx, DemoSlug)
	if errors.Is(err, tenants.ErrNotFound) {
		fmt.Println("Provisioning the demo brokerage...")
		return a.provisioner.Create(ctx, tenants.Request{Slug: DemoSlug, DisplayName: "Demo Brokerage", AdminEmail: "owner@demo.localhost"})
	}
	if err != nil {
		return t, err
	}
	if t.Status == tenants.StatusSuspended {
		return a.provisioner.Resume(ctx, t.ID, "make run", tenants.System("dev"))
	}
	return a.provisioner.Provision(ctx, t.ID)
}

// startSimulator opens the built-in trading server (state kept in dir), opens the demo traders' funded accounts on
// it and lets them trade in the background, so the demo has deals, volume and commissions.
func startSimulator(ctx context.Context, dir string) (*simulator.Simulator, error) {
	sim, err := simulator.Open(dir, simulator.Options{})
	if err != nil {
		return nil, fmt.Errorf("trading simulator: %w", err)
	}
	if err := trading.OpenDemoAccounts(ctx, sim, "standard-usd", "USD"); err != nil {
		sim.Close()
		return nil, err
	}
	go func() {
		// A fresh seed per run: the demo should not replay yesterday's market.
		_ = sim.RunActivity(ctx, simulator.ActivityOptions{Seed: uint64(time.Now().UnixNano()), Interval: 2 * time.Second})
	}()
	return sim, nil
}

func (a *app) printWelcome(ctx context.Context, demo tenants.Tenant, ep localsvc.Endpoints, data string, sim trading.Connector) error {
	team, err := a.staff.List(ctx, demo)
	if err != nil {
		return err
	}
	counts, err := a.clients.CountByStatus(ctx, demo)
	if err != nil {
		return err
	}
	_, port, _ := splitPort(a.cfg.HTTPAddr)
	fmt.Printf(`
BrokerDesk is running. Press Ctrl-C to stop; the next run reuses %s.

  Demo brokerage       http://demo.localhost:%[2]s/
  Its back office      http://demo.localhost:%[2]s/backoffice  (the demo staff below)
  Its client portal    http://demo.localhost:%[2]s/portal  (%[9]s, password %[7]q)
  Its IB portal        http://demo.localhost:%[2]s/portal/partner  (%[10]s, password %[7]q: Atlas Partners, IB-ATLAS)
  Its branding API     http://demo.localhost:%[2]s/api/v1/branding
  Readiness            http://demo.localhost:%[2]s/readyz
  Operator console     http://console.localhost:%[2]s/login  (%[8]s, password %[7]q; asynqmon at /jobs)
  Metrics              http://%[3]s/metrics
  Mailpit (all email)  %[4]s
  Logs                 %[5]s

Demo staff of %[6]s, each with the password %[7]q (sign in at /backoffice, or POST /api/v1/auth/staff/login;
the owner's invitation is in Mailpit):
`, data, port, a.cfg.InternalAddr, ep.MailpitURL, filepath.Join(data, "brokerdesk.log"), demo.DisplayName, identity.DemoPassword, demoOperatorEmail,
		identity.DemoTraderEmail(demo), identity.DemoIBEmail(demo))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, m := range team {
		roles := make([]string, len(m.Roles))
		for i, r := range m.Roles {
			roles[i] = string(r)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", m.Email, m.FullName, strings.Join(roles, ","), m.Status)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Print("\nDemo clients by status:")
	for _, st := range clients.Statuses {
		fmt.Printf(" %s=%d", st, counts[st])
	}
	fmt.Println()
	fmt.Printf("Clients: http://demo.localhost:%[1]s/backoffice/clients; a new trader registers at http://demo.localhost:%[1]s/portal/register?ref=IB-ATLAS (the verification link arrives in Mailpit; onboarding settings at /backoffice/settings/onboarding)\n", port)
	logins := make([]string, len(trading.DemoAccounts))
	for i, d := range trading.DemoAccounts {
		logins[i] = d.Login
	}
	deals, err := trading.CountDeals(ctx, sim, logins, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		return err
	}
	fmt.Printf("Trading simulator: %d funded demo accounts (logins %s-%s) trading every 2 s; %d closed deals in the last 30 days; state in %s\n",
		len(logins), logins[0], logins[len(logins)-1], deals, filepath.Join(data, "simulator"))
	return nil
}

// printKYCQueue points to the demo's compliance queue.
func (a *app) printKYCQueue(ctx context.Context, demo tenants.Tenant) error {
	waiting, _, err := a.kyc.List(ctx, demo, kyc.Filter{}, nil, 200)
	if err != nil {
		return err
	}
	_, port, _ := splitPort(a.cfg.HTTPAddr)
	fmt.Printf("KYC queue: http://demo.localhost:%s/backoffice/kyc, %d cases waiting (sign in as the compliance or admin user; four-eyes is on for %s)\n",
		port, len(waiting), strings.Join(kyc.DemoHighRisk, ", "))
	return nil
}
