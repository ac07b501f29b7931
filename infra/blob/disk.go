package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Disk keeps objects as files for `make run` and single-server setups. Layout under Dir:
//
//	data/<key>   the object's bytes (0600, directories 0700)
//	meta/<key>   its content type, one line (a sidecar in a parallel tree, so no key can collide with it)
//	tmp/         uploads in progress
//
// Put writes to a temporary file in tmp/, fsyncs it, writes the sidecar the same way, then renames the data file
// into place and fsyncs its directory: an object is either absent or complete, never half written. Keys are the
// shared key rules (ValidKey), so a key can never leave Dir.
//
// Signed links point at the Handler: /blobs/<key>?exp=<unix seconds>&name=<filename>&sig=<HMAC-SHA256 over key,
// expiry and filename, base64url>. They are root-relative (URLBase empty), so a redirect from a tenant page lands
// on that same tenant host; cmd checks that the key's tenant is the host's tenant before the Handler runs.
//
// Unlike S3, a key cannot be both an object and the prefix of another ("t/a" and "t/a/b"): the second Put fails.
// The KYC module's keys never do that.
type Disk struct {
	dir     string
	linkKey []byte
	urlBase string
	now     func() time.Time
}

// DiskOptions configure NewDisk.
type DiskOptions struct {
	Dir string
	// LinkKey signs links (at least 32 bytes): auth.Sealer.DeriveKey(blob.LinkPurpose) in production.
	LinkKey []byte
	// URLBase, when set (e.g. "http://127.0.0.1:4000"), is put before the links' path. Empty: root-relative links.
	URLBase string
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// NewDisk opens (creating if missing) a disk store.
func NewDisk(o DiskOptions) (*Disk, error) {
	if o.Dir == "" {
		return nil, errors.New("blob: disk store needs a directory")
	}
	if len(o.LinkKey) < 32 {
		return nil, errors.New("blob: disk store needs a link key of at least 32 bytes")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "meta", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("blob: disk store: %w", err)
		}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Disk{dir: dir, linkKey: append([]byte(nil), o.LinkKey...), urlBase: strings.TrimSuffix(o.URLBase, "/"), now: now}, nil
}

func (s *Disk) dataPath(key string) string {
	return filepath.Join(s.dir, "data", filepath.FromSlash(key))
}
func (s *Disk) metaPath(key string) string {
	return filepath.Join(s.dir, "meta", filepath.FromSlash(key))
}

// Put streams r into the object at key (32 KiB at a time) and returns the bytes written. If r fails, nothing is
// left behind and an existing object at key is unchanged.
func (s *Disk) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	ct, err := validContentType(contentType)
	if err != nil {
		return 0, err
	}
	data, meta := s.dataPath(key), s.metaPath(key)
	for _, p := range []string{data, meta} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return 0, fmt.Errorf("blob: put: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*") // 0600
	if err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return 0, fmt.Errorf("blob: put: reading the body: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.dir, "tmp"), meta, []byte(ct+"\n")); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	if err := os.Rename(tmp.Name(), data); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	done = true
	if err := syncDir(filepath.Dir(data)); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	return n, nil
}

// ctxReader stops a copy when the context ends (a client that went away).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func writeFileAtomic(tmpDir, path string, b []byte) error {
	f, err := os.CreateTemp(tmpDir, "meta-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open returns the object's bytes; ErrNotFound if there is none.
func (s *Disk) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	f, _, err := s.open(key)
	return f, err
}

func (s *Disk) open(key string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(s.dataPath(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blob: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = ErrNotFound
		}
		return nil, nil, err
	}
	return f, fi, nil
}

// Stat describes the object at key; ErrNotFound if there is none.
func (s *Disk) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, err
	}
	f, fi, err := s.open(key)
	if err != nil {
		return Object{}, err
	}
	f.Close()
	return Object{Key: key, ContentType: s.contentType(key), Size: fi.Size()}, nil
}

func (s *Disk) contentType(key string) string {
	b, err := os.ReadFile(s.metaPath(key))
	if err != nil {
		return "application/octet-stream"
	}
	return strings.TrimSpace(string(b))
}

// Delete removes the object; deleting a missing one is not an error.
func (s *Disk) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	for _, p := range []string{s.dataPath(key), s.metaPath(key)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fi, serr := os.Stat(p)
			if serr == nil && fi.IsDir() { // a key that is only a prefix of others holds no object
				continue
			}
			return fmt.Errorf("blob: delete: %w", err)
		}
	}
	return nil
}

// DeletePrefix removes every object whose key starts with prefix (which ends with "/").
func (s *Disk) DeletePrefix(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	body := strings.TrimSuffix(prefix, "/")
	for _, p := range []string{s.dataPath(body), s.metaPath(body)} {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
			continue // no object under the prefix (a plain object named like the prefix is not under it)
		}
		if err != nil {
			return fmt.Errorf("blob: delete prefix: %w", err)
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("blob: delete prefix: %w", err)
		}
	}
	return nil
}

// SignedURL returns a link to the Handler valid for ttl (at most MaxLinkTTL) that serves the object inline as
// filename. It does not check that the object exists: the link answers 404 if it does not.
func (s *Disk) SignedURL(ctx context.Context, key string, ttl time.Duration, filename string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if err := validTTL(ttl); err != nil {
		return "", err
	}
	exp := strconv.FormatInt(s.now().Add(ttl).Unix(), 10)
	name := cleanFilename(filename)
	q := url.Values{"exp": {exp}, "name": {name}, "sig": {s.sign(key, exp, name)}}
	return s.urlBase + "/blobs/" + key + "?" + q.Encode(), nil
}

func (s *Disk) sign(key, exp, name string) string {
	m := hmac.New(sha256.New, s.linkKey)
	// Length-prefixed fields: no two (key, exp, name) triples share an input.
	fmt.Fprintf(m, "blob-link/v1\n%d:%s\n%d:%s\n%d:%s", len(key), key, len(exp), exp, len(name), name)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cleanFilename keeps a filename fit for Content-Disposition: no control characters, no path, at most 200 bytes.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	for len(name) > 200 {
		r := []rune(name)
		name = string(r[:len(r)-1])
	}
	if strings.TrimSpace(name) == "" {
		return "document"
	}
	return name
}

// disposition is Content-Disposition inline with the filename (RFC 2231 encoded when it is not plain ASCII).
func disposition(name string) string {
	if d := mime.FormatMediaType("inline", map[string]string{"filename": name}); d != "" {
		return d
	}
	return "inline"
}

// Handler serves signed links. Mount it at /blobs/* on the tenant app, after the host's tenant is known and a
// check that the key's first segment is that tenant (cmd does both). Anything but a valid, unexpired link to an
// existing object is a 404, so a link's owner learns nothing from probing.
func (s *Disk) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		key := strings.Clone(c.Params("*"))
		exp, name, sig := strings.Clone(c.Query("exp")), strings.Clone(c.Query("name")), c.Query("sig")
		if !s.validLink(key, exp, name, sig) {
			return c.SendStatus(fiber.StatusNotFound)
		}
		f, fi, err := s.open(key)
		if errors.Is(err, ErrNotFound) {
			return c.SendStatus(fiber.StatusNotFound)
		}
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, s.contentType(key))
		c.Set(fiber.HeaderContentDisposition, disposition(name))
		// Only this host may frame it (the review page's viewer). No sandbox or default-src: browsers refuse to
		// render a PDF under those.
		c.Set("Content-Security-Policy", "frame-ancestors 'self'")
		return c.SendStream(f, int(fi.Size())) // fasthttp closes f when the body is sent
	}
}

func (s *Disk) validLink(key, exp, name, sig string) bool {
	if ValidKey(key) != nil || exp == "" || sig == "" {
		return false
	}
	want := s.sign(key, exp, name)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && s.now().Unix() <= e
}
