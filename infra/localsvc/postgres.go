package localsvc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

// pgBinary finds a Postgres 15 program (postgres, initdb, pgbench).
func pgBinary(name string) (string, error) { return tools.PostgresBinary(name) }

// startPostgres initialises (first time) and starts one cluster, and makes sure database "brokerdesk" exists.
// Postgres refuses to run as root, so as root the cluster runs as the "postgres" user.
func (r *Running) startPostgres(ctx context.Context, name, dir string, ephemeral bool) (string, error) {
	initdb, err := pgBinary("initdb")
	if err != nil {
		return "", err
	}
	server, err := pgBinary("postgres")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root needs the 'postgres' user to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
		if err := ensureTraversable(dir); err != nil {
			return "", err
		}
	}
	logFile := filepath.Join(dir, "postgres.log")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		fmt.Fprintf(r.log, "%s: initialising a new cluster in %s\n", name, data)
		cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("initdb: %w\n%s", err, lastLines(string(out), 15))
		}
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=400", "-c", "shared_buffers=256MB",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic"}
	if ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(server, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if cred != nil {
		// The log file is opened by us (root) and handed over as a descriptor, so postgres needs no rights on it.
		cmd.Env = []string{"LANG=C"}
	}
	p, err := r.spawn(name, logFile, cmd)
	if err != nil {
		return "", err
	}
	base := fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port)
	err = waitReady(ctx, p, logFile, 60*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, base+"/postgres?sslmode=disable&connect_timeout=2")
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		var exists bool
		if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'brokerdesk')`).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := c.Exec(ctx, `CREATE DATABASE brokerdesk`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(r.log, "%s: ready on 127.0.0.1:%d (data in %s)\n", name, port, data)
	return base + "/brokerdesk?sslmode=disable", nil
}

// ensureTraversable lets the postgres user reach dir: every parent needs the execute bit for others.
func ensureTraversable(dir string) error {
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("the postgres user cannot reach %s: %w", dir, err)
			}
		}
	}
	return nil
}
