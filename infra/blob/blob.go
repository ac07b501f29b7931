// Package blob keeps KYC documents and other uploaded files: S3 (with server-side encryption on every object) in
// production and a local directory for `make run`. Both stores have the same method set, refuse the same keys and
// stream: a Put never holds the whole body in memory, and an object becomes visible only when its Put succeeds.
//
// Keys are "<tenant id>/<...>": the first segment names the tenant whose data it is, which is how the disk store's
// links are tied to their tenant's host and how erasure deletes a client's prefix. Consumers (modules/kyc) define
// the small interface they use; cmd holds a Store. docs/documents.md is the operator's side.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/config"
)

// Object describes a stored object.
type Object struct {
	Key, ContentType string
	Size             int64
}

var (
	// ErrNotFound is returned by Open and Stat for a key that holds no object.
	ErrNotFound = errors.New("blob: no such object")
	// ErrInvalidKey is returned for a key (or prefix) that breaks the key rules (see ValidKey).
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrTTL is returned by SignedURL for a lifetime that is not in (0, MaxLinkTTL].
	ErrTTL = errors.New("blob: signed link lifetime must be more than 0 and at most 5 minutes")
)

// MaxLinkTTL is the longest a signed link may live: documents are personal data, a link is a bearer credential.
const MaxLinkTTL = 5 * time.Minute

// maxKeyLen is S3's limit on a key, in bytes.
const maxKeyLen = 1024

// Store is what cmd holds (app.blobs): either store behind one method set.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Object, error)
	Delete(ctx context.Context, key string) error
	DeletePrefix(ctx context.Context, prefix string) error
	SignedURL(ctx context.Context, key string, ttl time.Duration, filename string) (string, error)
}

var (
	_ Store = (*S3)(nil)
	_ Store = (*Disk)(nil)
)

// ValidKey checks the key rules both stores share: non-empty, at most 1024 bytes, no leading "/", no empty
// segment (so no trailing "/" and no "//"), no "." or ".." segment and no ".." anywhere, and only characters that
// are safe unescaped in a URL path and in a file name: ASCII letters, digits and - _ . ~ ! * ' ( ) = + @ , :
// The error names the rule, never echoes the key (it may be built from user input).
func ValidKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidKey, maxKeyLen)
	}
	if strings.Contains(key, "..") {
		return fmt.Errorf("%w: contains \"..\"", ErrInvalidKey)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w: leading \"/\", trailing \"/\" or an empty segment", ErrInvalidKey)
		}
		if seg == "." {
			return fmt.Errorf("%w: a \".\" segment", ErrInvalidKey)
		}
	}
	for i := 0; i < len(key); i++ {
		if !keyChar(key[i]) {
			return fmt.Errorf("%w: character %d is not allowed", ErrInvalidKey, i+1)
		}
	}
	return nil
}

func keyChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~!*'()=+@,:/", c) >= 0
}

// validPrefix checks a DeletePrefix argument: a valid key followed by "/", so that "t/c1/" can never reach
// "t/c10/..." and an empty prefix can never empty the store.
func validPrefix(prefix string) error {
	body, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return fmt.Errorf("%w: a prefix must end with \"/\"", ErrInvalidKey)
	}
	return ValidKey(body)
}

// validTTL checks a signed link's lifetime.
func validTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxLinkTTL {
		return ErrTTL
	}
	return nil
}

// validContentType refuses a content type that could not travel in a header unchanged.
func validContentType(ct string) (string, error) {
	if ct == "" {
		return "application/octet-stream", nil
	}
	if len(ct) > 200 {
		return "", errors.New("blob: content type longer than 200 bytes")
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return "", errors.New("blob: content type holds a control or non-ASCII character")
		}
	}
	return ct, nil
}

// TenantOf returns the tenant id a key belongs to: its first segment.
func TenantOf(key string) string {
	t, _, _ := strings.Cut(key, "/")
	return t
}

// LinkPurpose is the DeriveKey purpose of the disk store's link MAC key.
const LinkPurpose = "blob-links/v1"

// Open returns the store cfg names (BD_BLOB_STORE): the disk store under BD_BLOB_DIR, its links signed with a key
// derived from BD_DATA_KEYS; or S3 on BD_S3_BUCKET with credentials from the AWS default chain.
func Open(cfg config.Config) (Store, error) {
	switch cfg.BlobStore {
	case "disk":
		if cfg.DataKeys == nil {
			return nil, errors.New("blob: the disk store signs its links with BD_DATA_KEYS, which is not set")
		}
		return NewDisk(DiskOptions{Dir: cfg.BlobDir, LinkKey: cfg.DataKeys.DeriveKey(LinkPurpose)})
	case "s3":
		return NewS3(context.Background(), S3Options{Bucket: cfg.S3Bucket, Region: cfg.S3Region,
			Endpoint: cfg.S3Endpoint, KMSKeyID: cfg.S3KMSKeyID})
	default:
		return nil, fmt.Errorf("blob: unknown store %q (want disk or s3)", cfg.BlobStore)
	}
}
