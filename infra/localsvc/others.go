package localsvc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (r *Running) startRedis(ctx context.Context, bin, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	// noeviction + AOF: Asynq must never lose a task to eviction or a restart.
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
		"--databases", strconv.Itoa(redisDatabases),
		"--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
	logFile := filepath.Join(dir, "redis.log")
	p, err := r.spawn("redis", logFile, cmd)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitReady(ctx, p, logFile, 30*time.Second, tcpReady(addr)); err != nil {
		return err
	}
	r.Endpoints.RedisURL = "redis://" + addr + "/0"
	fmt.Fprintf(r.log, "redis: ready on %s (appendonly, noeviction; data in %s)\n", addr, dir)
	return nil
}

func (r *Running) startMinIO(ctx context.Context, bin string, o Options) error {
	dir := filepath.Join(o.Dir, "minio")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	user, secret, err := minioCredentials(dir)
	if err != nil {
		return err
	}
	kmsFile, err := minioKMSKey(dir)
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	consolePort, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+secret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1", "MINIO_KMS_SECRET_KEY_FILE="+kmsFile)
	logFile := filepath.Join(dir, "minio.log")
	p, err := r.spawn("minio", logFile, cmd)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, logFile, 60*time.Second, httpReady("http://"+addr+"/minio/health/ready")); err != nil {
		return err
	}
	r.Endpoints.S3Endpoint = "http://" + addr
	r.Endpoints.S3AccessKey, r.Endpoints.S3SecretKey = user, secret
	r.Endpoints.S3KMSKeyID = MinIOKMSKeyName
	fmt.Fprintf(r.log, "minio: ready on %s (static KMS key %s for SSE; data in %s)\n", addr, MinIOKMSKeyName, dir)
	return nil
}

// MinIOKMSKeyName names the static KMS key the local MinIO runs with, so SSE-S3 and SSE-KMS (with this key id)
// both work as they do on AWS.
const MinIOKMSKeyName = "brokerdesk-local"

// minioKMSKey returns the path of the MinIO static KMS key file ("<name>:<base64 of 32 random bytes>"), generated
// with the data directory and kept in it (0600), never in the repository: objects MinIO encrypted with it stay
// readable across restarts of the same data directory, and a fresh directory (every test run) gets a fresh key.
func minioKMSKey(dir string) (string, error) {
	path := filepath.Join(dir, "kms-key")
	if b, err := os.ReadFile(path); err == nil && strings.HasPrefix(string(b), MinIOKMSKeyName+":") {
		return path, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	line := MinIOKMSKeyName + ":" + base64.StdEncoding.EncodeToString(key)
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// minioCredentials are generated once per data directory and kept there (0600), never in the repository.
func minioCredentials(dir string) (string, string, error) {
	path := filepath.Join(dir, "credentials")
	if b, err := os.ReadFile(path); err == nil {
		if parts := strings.SplitN(strings.TrimSpace(string(b)), ":", 2); len(parts) == 2 {
			return parts[0], parts[1], nil
		}
	}
	buf := make([]byte, 20)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	user, secret := "brokerdesk", hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(user+":"+secret+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return user, secret, nil
}

func (r *Running) startMailpit(ctx context.Context, bin string, o Options) error {
	dir := filepath.Join(o.Dir, "mailpit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	webPort, err := FreePort()
	if err != nil {
		return err
	}
	smtpPort, err := FreePort()
	if err != nil {
		return err
	}
	web := fmt.Sprintf("127.0.0.1:%d", webPort)
	smtp := fmt.Sprintf("127.0.0.1:%d", smtpPort)
	cmd := exec.Command(bin, "--listen", web, "--smtp", smtp, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--quiet")
	logFile := filepath.Join(dir, "mailpit.log")
	p, err := r.spawn("mailpit", logFile, cmd)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, logFile, 30*time.Second, httpReady("http://"+web+"/readyz")); err != nil {
		return err
	}
	if err := waitReady(ctx, p, logFile, 10*time.Second, tcpReady(smtp)); err != nil {
		return err
	}
	r.Endpoints.SMTPAddr = smtp
	r.Endpoints.MailpitURL = "http://" + web
	fmt.Fprintf(r.log, "mailpit: SMTP on %s, web UI on http://%s\n", smtp, web)
	return nil
}

func (r *Running) startStripeMock(ctx context.Context, bin string, o Options) error {
	dir := filepath.Join(o.Dir, "stripe-mock")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	tlsPort, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// stripe-mock also listens for HTTPS, on :12112 unless told otherwise: a port of its own keeps two sets of
	// local services (make run beside make test) from colliding there.
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	logFile := filepath.Join(dir, "stripe-mock.log")
	p, err := r.spawn("stripe-mock", logFile, cmd)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, logFile, 30*time.Second, tcpReady(addr)); err != nil {
		return err
	}
	r.Endpoints.StripeURL = "http://" + addr
	fmt.Fprintf(r.log, "stripe-mock: ready on %s\n", addr)
	return nil
}

func httpReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", url, res.StatusCode)
		}
		return nil
	}
}
