package tools_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

func TestDevServicesFollowTheConfiguration(t *testing.T) {
	t.Parallel()
	const pg, redis, minio, mailpit, stripe = tools.Postgres, tools.Redis, tools.MinIO, tools.Mailpit, tools.StripeMock
	base := []tools.Service{pg, redis, mailpit, stripe}
	withMinIO := []tools.Service{pg, redis, minio, mailpit, stripe}
	for _, c := range []struct {
		name    string
		env     map[string]string
		want    []tools.Service // tools.Dev
		started []tools.Service // of those, the ones the environment does not give: installed and started
	}{
		{"defaults: the disk blob store", nil, base, base},
		{"disk store named", map[string]string{"BD_BLOB_STORE": "disk"}, base, base},
		{"s3 store without an endpoint: a local MinIO", map[string]string{"BD_BLOB_STORE": "s3"}, withMinIO, withMinIO},
		{"s3 store, spaces around", map[string]string{"BD_BLOB_STORE": " s3 "}, withMinIO, withMinIO},
		{"s3 store with its endpoint given: no MinIO", map[string]string{"BD_BLOB_STORE": "s3", "BD_S3_ENDPOINT": "http://s3.internal:9000"}, base, base},
		{"an endpoint with the disk store: no MinIO", map[string]string{"BD_S3_ENDPOINT": "http://s3.internal:9000"}, base, base},
		{"Stripe given: stripe-mock not started", map[string]string{"BD_STRIPE_API_URL": "http://stripe.internal"}, base, []tools.Service{pg, redis, mailpit}},
		{"Redis given: not started", map[string]string{"BD_REDIS_URL": "redis://cache:6379/0"}, base, []tools.Service{pg, mailpit, stripe}},
		{"database and SMTP given: Redis and stripe-mock", map[string]string{"BD_DATABASE_URL": "postgres://db/x", "BD_SMTP_ADDR": "smtp:25"}, base, []tools.Service{redis, stripe}},
		{"s3 store and every other address given: MinIO only", map[string]string{"BD_BLOB_STORE": "s3", "BD_DATABASE_URL": "postgres://db/x",
			"BD_REDIS_URL": "redis://cache/0", "BD_SMTP_ADDR": "smtp:25", "BD_STRIPE_API_URL": "http://stripe.internal"}, withMinIO, []tools.Service{minio}},
	} {
		getenv := func(k string) string { return c.env[k] }
		got := tools.Dev(getenv)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Dev = %v, want %v", c.name, got, c.want)
		}
		var started []tools.Service
		for _, s := range got {
			if !tools.Given(s, getenv) {
				started = append(started, s)
			}
		}
		if !slices.Equal(started, c.started) {
			t.Errorf("%s: started %v, want %v", c.name, started, c.started)
		}
	}
}

// fakeGo puts a `go` on PATH whose `install -ldflags=... module@version` waits until `together` installs have
// begun, so it finishes only if they run at the same time, then writes the tool into $GOBIN; a module named in
// $FAKE_GO_FAIL fails at once, as a compile error would.
func fakeGo(t *testing.T, together int) {
	dir := t.TempDir()
	script := `#!/bin/sh
mod=${3%@*}; name=${mod##*/}
[ "$mod" = "$FAKE_GO_FAIL" ] && { echo "compile: something broke in $mod" >&2; exit 2; }
touch "$FAKE_GO_MEET/$name"
i=0
while [ "$(ls "$FAKE_GO_MEET" | wc -l)" -lt ` + strconv.Itoa(together) + ` ]; do
  i=$((i+1)); [ $i -gt 400 ] && { echo "$name: the installs ran one after another" >&2; exit 3; }
  sleep 0.05
done
printf '#!/bin/sh\n' > "$GOBIN/$name" && chmod +x "$GOBIN/$name"
`
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_GO_MEET", t.TempDir())
	t.Setenv("FAKE_GO_FAIL", "")
}

func noEnv(string) string { return "" }

func TestInstallBuildsMissingToolsAtOnceWithAProgressLineEach(t *testing.T) {
	fakeGo(t, 3)
	var log bytes.Buffer
	opts := tools.Options{CacheDir: t.TempDir(), Log: &log, Getenv: noEnv}
	services := []tools.Service{tools.MinIO, tools.Mailpit, tools.StripeMock}
	bins, err := tools.Install(t.Context(), services, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, s := range services {
		name := string(s)
		if !strings.Contains(log.String(), name+": installing ") || !strings.Contains(log.String(), name+": installed in ") {
			t.Errorf("no installing/installed lines for %s in:\n%s", name, log.String())
		}
		if _, err := os.Stat(bins[s]); err != nil || filepath.Base(bins[s]) != name {
			t.Errorf("%s: binary %q: %v", name, bins[s], err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(opts.CacheDir, "bin", "*", ".gobin-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}

	log.Reset()
	start := time.Now()
	again, err := tools.Install(t.Context(), services, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Install took %v", d)
	}
	if !maps.Equal(bins, again) {
		t.Errorf("second Install found %v, first installed %v", again, bins)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 || strings.Count(log.String(), ": already installed (") != 3 {
		t.Errorf("second Install said:\n%s\nwant one \"already installed\" line per tool", log.String())
	}
}

func TestInstallSaysWhichToolFailedAndWhyAndDoesNotHang(t *testing.T) {
	fakeGo(t, 2) // stripe-mock waits for mailpit, which fails: the failure must stop it
	t.Setenv("FAKE_GO_FAIL", tools.MailpitModule)
	var log bytes.Buffer
	opts := tools.Options{CacheDir: t.TempDir(), Log: &log, Getenv: noEnv}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := tools.Install(t.Context(), []tools.Service{tools.Mailpit, tools.StripeMock}, opts)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "mailpit: go install "+tools.MailpitModule) || !strings.Contains(err.Error(), "something broke") {
			t.Fatalf("Install: %v, want the failing tool and go's output", err)
		}
		if strings.Contains(err.Error(), "stripe-mock") {
			t.Errorf("Install: %v; the install the failure stopped is no news", err)
		}
		if !strings.Contains(log.String(), "mailpit: FAILED: ") || !strings.Contains(log.String(), "stripe-mock: install stopped") {
			t.Errorf("progress:\n%s", log.String())
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Install took %v to give up", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Install hung on a failed go install")
	}
	if matches, _ := filepath.Glob(filepath.Join(opts.CacheDir, "bin", "*", "*")); len(matches) > 0 {
		for _, m := range matches {
			if !strings.HasSuffix(m, ".install.lock") {
				t.Errorf("a failed install left %s", m)
			}
		}
	}
}

func TestInstallSkipsServicesTheEnvironmentGives(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no go, no redis-server, no apt-get: installing anything would fail
	env := map[string]string{"BD_REDIS_URL": "redis://x/0", "BD_SMTP_ADDR": "smtp:25", "BD_S3_ENDPOINT": "http://s3", "BD_STRIPE_API_URL": "http://s"}
	bins, err := tools.Install(t.Context(), []tools.Service{tools.Redis, tools.MinIO, tools.Mailpit, tools.StripeMock},
		tools.Options{CacheDir: t.TempDir(), Getenv: func(k string) string { return env[k] }})
	if err != nil || len(bins) != 0 {
		t.Fatalf("Install: %v, %v; want nothing done", bins, err)
	}
}

func TestToolsCacheFollowsBDToolsCache(t *testing.T) {
	t.Parallel()
	if got := tools.CacheDir(func(k string) string { return map[string]string{"BD_TOOLS_CACHE": "/tmp/x"}[k] }); got != "/tmp/x" {
		t.Fatalf("CacheDir = %q, want $BD_TOOLS_CACHE", got)
	}
	if got := tools.CacheDir(noEnv); filepath.Base(got) != "brokerdesk" {
		t.Fatalf("CacheDir = %q, want the user cache dir's brokerdesk", got)
	}
}
