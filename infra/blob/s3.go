package blob

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 keeps objects in one S3 bucket (or an S3-compatible server such as MinIO), each encrypted at rest by the
// server: SSE-KMS under KMSKeyID when it is set, SSE-S3 (AES256) otherwise.
//
// Put must not hold a document in memory and S3 needs an object's length before its bytes (a multipart upload
// would need 5 MiB parts in memory instead). So Put spools the body to an unlinked temporary file, encrypted with
// AES-256-CTR under a key that exists only in that call's memory, then sends it as one PutObject of known length,
// reading it back through a seekable decrypting reader. Memory per Put is a few copy buffers whatever the size;
// the spool is gone when Put returns (it has no name on disk even while it exists), and a crash leaves only
// ciphertext under a forgotten key. PutObject is atomic: the object appears whole or not at all.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	bucket   string
	kmsKeyID string
	spoolDir string
}

// S3Options configure NewS3.
type S3Options struct {
	Bucket, Region string
	// Endpoint, when set, is an S3-compatible server (MinIO) addressed path-style.
	Endpoint string
	// KMSKeyID selects SSE-KMS under that key; empty selects SSE-S3 (AES256).
	KMSKeyID string
	// Credentials, when nil, come from the AWS default chain (task role, AWS_* variables, shared config).
	Credentials aws.CredentialsProvider
	// SpoolDir holds Put's encrypted spool files; empty: os.TempDir().
	SpoolDir string
}

// NewS3 builds the store. It makes no request: a wrong bucket or missing permission shows on first use.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	cfg, err := LoadAWSConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	client := NewS3Client(cfg, o)
	if o.Bucket == "" {
		return nil, errors.New("blob: s3 store needs a bucket")
	}
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: o.Bucket, kmsKeyID: o.KMSKeyID,
		spoolDir: o.SpoolDir}, nil
}

// LoadAWSConfig is the AWS configuration NewS3 uses: the region, and the credentials of o or the default chain.
func LoadAWSConfig(ctx context.Context, o S3Options) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
	if o.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("blob: aws config: %w", err)
	}
	return cfg, nil
}

// NewS3Client is the S3 client NewS3 uses (path-style on a custom endpoint); blobtest uses it to manage buckets.
func NewS3Client(cfg aws.Config, o S3Options) *s3.Client {
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
	})
}

// Bucket names the store's bucket.
func (s *S3) Bucket() string { return s.bucket }

// Put streams r into the object at key (see the type's doc for how) and returns the bytes written. If r fails
// nothing is stored, and an existing object at key is unchanged.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	ct, err := validContentType(contentType)
	if err != nil {
		return 0, err
	}
	sp, err := newSpool(s.spoolDir)
	if err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	defer sp.Close()
	n, err := sp.fill(ctxReader{ctx, r})
	if err != nil {
		return 0, fmt.Errorf("blob: put: reading the body: %w", err)
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: sp.reader(n), ContentLength: aws.Int64(n),
		ContentType: &ct}
	if s.kmsKeyID != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, &s.kmsKeyID
	} else {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return 0, fmt.Errorf("blob: put: %w", err)
	}
	return n, nil
}

// Open streams the object's bytes; ErrNotFound if there is none.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, notFound("open", err)
	}
	return out.Body, nil
}

// Stat describes the object at key; ErrNotFound if there is none.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Object{}, notFound("stat", err)
	}
	return Object{Key: key, ContentType: aws.ToString(out.ContentType), Size: aws.ToInt64(out.ContentLength)}, nil
}

func notFound(op string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
			return fmt.Errorf("blob: %s: %w", op, err)
		}
		return ErrNotFound
	}
	return fmt.Errorf("blob: %s: %w", op, err)
}

// Delete removes the object; deleting a missing one is not an error (S3's own semantics).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	return nil
}

// DeletePrefix erases every object under prefix (which ends with "/"): every version and delete marker, not only
// the current objects, because the documents bucket is versioned and erasure must not leave a recoverable copy.
// It lists versions and deletes them 1,000 a request. Delete (of one key), by contrast, leaves the bucket's
// versioning to keep the previous version for its noncurrent-version lifetime.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	in := &s3.ListObjectVersionsInput{Bucket: &s.bucket, Prefix: &prefix}
	for {
		page, err := s.client.ListObjectVersions(ctx, in)
		if err != nil {
			return fmt.Errorf("blob: delete prefix: list: %w", err)
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Versions)+len(page.DeleteMarkers))
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) > 0 {
			out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket,
				Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				return fmt.Errorf("blob: delete prefix: %w", err)
			}
			if len(out.Errors) > 0 {
				e := out.Errors[0]
				return fmt.Errorf("blob: delete prefix: %d objects not deleted, first %s: %s", len(out.Errors),
					aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// SignedURL presigns a GET of the object valid for ttl (at most MaxLinkTTL) that serves it inline as filename and
// tells caches not to keep it.
func (s *S3) SignedURL(ctx context.Context, key string, ttl time.Duration, filename string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if err := validTTL(ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key,
		ResponseContentDisposition: aws.String(disposition(cleanFilename(filename))),
		ResponseCacheControl:       aws.String("no-store"),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blob: signed url: %w", err)
	}
	return req.URL, nil
}

// spool is an unlinked temporary file holding a body encrypted with AES-256-CTR under a one-off key.
type spool struct {
	f     *os.File
	block cipher.Block
	iv    [aes.BlockSize]byte
}

func newSpool(dir string) (*spool, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	sp := &spool{block: block}
	// Random high half, zero low half: the low 64 bits count blocks and never carry, so seekTo below and the
	// standard library's CTR agree on every block's counter.
	if _, err := rand.Read(sp.iv[:8]); err != nil {
		return nil, err
	}
	if sp.f, err = os.CreateTemp(dir, "brokerdesk-blob-*"); err != nil {
		return nil, err
	}
	if err := os.Remove(sp.f.Name()); err != nil { // no name on disk from here on
		sp.f.Close()
		return nil, err
	}
	return sp, nil
}

func (sp *spool) Close() error { return sp.f.Close() }

// fill encrypts r into the file through one 32 KiB buffer (cipher.StreamWriter would allocate a copy per write).
func (sp *spool) fill(r io.Reader) (int64, error) {
	stream := cipher.NewCTR(sp.block, sp.iv[:])
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			stream.XORKeyStream(buf[:k], buf[:k])
			if _, werr := sp.f.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// reader returns a seekable reader of the n plaintext bytes (the SDK reads the body more than once: to sign it,
// checksum it and send it).
func (sp *spool) reader(n int64) io.ReadSeeker { return &spoolReader{sp: sp, size: n} }

type spoolReader struct {
	sp        *spool
	size, off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if rest := r.size - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.sp.f.ReadAt(p, r.off)
	if n > 0 {
		stream := r.sp.streamAt(r.off)
		stream.XORKeyStream(p[:n], p[:n])
		r.off += int64(n)
	}
	if err == io.EOF && r.off == r.size {
		err = nil
	}
	return n, err
}

func (r *spoolReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("blob: spool: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: spool: negative position")
	}
	r.off = offset
	return offset, nil
}

// streamAt is the CTR key stream positioned at byte off.
func (sp *spool) streamAt(off int64) cipher.Stream {
	var ctr [aes.BlockSize]byte
	copy(ctr[:8], sp.iv[:8])
	binary.BigEndian.PutUint64(ctr[8:], uint64(off/aes.BlockSize))
	stream := cipher.NewCTR(sp.block, ctr[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var scratch [aes.BlockSize]byte
		stream.XORKeyStream(scratch[:skip], scratch[:skip])
	}
	return stream
}
