// Package blobtest gives tests real blob stores: S3 on the MinIO the project starts (a fresh bucket per test,
// SSE on every object) and Disk in a temporary directory with its link handler served on a loopback port.
//
// A test binary that uses S3 starts MinIO in TestMain: os.Exit(localsvc.RunTests(m, localsvc.MinIO, ...)).
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/blob"
)

// S3 returns a store on a new bucket of the project's MinIO, with SSE-KMS under the MinIO's static key
// (BD_S3_KMS_KEY_ID) or SSE-S3 when no key is named. The bucket and its objects are removed when the test ends.
func S3(t testing.TB) *blob.S3 {
	t.Helper()
	return S3With(t, os.Getenv("BD_S3_KMS_KEY_ID"))
}

// S3With is S3 with the KMS key chosen by the test ("" for SSE-S3).
func S3With(t testing.TB, kmsKeyID string) *blob.S3 {
	t.Helper()
	o := Options(t)
	o.KMSKeyID = kmsKeyID
	s, err := blob.NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Options returns the S3Options of a new, empty bucket on the project's MinIO (removed when the test ends).
func Options(t testing.TB) blob.S3Options {
	t.Helper()
	endpoint := os.Getenv("BD_S3_ENDPOINT")
	if endpoint == "" {
		t.Fatal("blobtest: BD_S3_ENDPOINT is not set: start MinIO with localsvc.RunTests(m, localsvc.MinIO) in TestMain")
	}
	o := blob.S3Options{Region: "us-east-1", Endpoint: endpoint, SpoolDir: t.TempDir(),
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("BD_S3_ACCESS_KEY"), os.Getenv("BD_S3_SECRET_KEY"), "")}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	o.Bucket = "test-" + hex.EncodeToString(b)
	client := Client(t, o)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &o.Bucket}); err != nil {
		t.Fatalf("blobtest: create bucket: %v", err)
	}
	t.Cleanup(func() {
		if err := emptyBucket(ctx, client, o.Bucket); err != nil {
			t.Errorf("blobtest: empty bucket: %v", err)
			return
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &o.Bucket}); err != nil {
			t.Errorf("blobtest: delete bucket: %v", err)
		}
	})
	return o
}

// Client is a raw S3 client for the bucket of o (for what the store does not expose: HeadObject's SSE fields,
// listing what a failed Put left behind).
func Client(t testing.TB, o blob.S3Options) *s3.Client {
	t.Helper()
	cfg, err := blob.LoadAWSConfig(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return blob.NewS3Client(cfg, o)
}

// emptyBucket deletes every version and delete marker (a test may turn versioning on).
func emptyBucket(ctx context.Context, c *s3.Client, bucket string) error {
	in := &s3.ListObjectVersionsInput{Bucket: &bucket}
	for {
		page, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			return err
		}
		for _, v := range page.Versions {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: v.Key, VersionId: v.VersionId}); err != nil {
				return err
			}
		}
		for _, m := range page.DeleteMarkers {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: m.Key, VersionId: m.VersionId}); err != nil {
				return err
			}
		}
		if page.IsTruncated == nil || !*page.IsTruncated {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// Disk returns a disk store in a temporary directory whose signed links are absolute URLs of a loopback server
// that serves them with the store's Handler (stopped when the test ends).
func Disk(t testing.TB) *blob.Disk {
	t.Helper()
	return DiskWithClock(t, nil)
}

// DiskWithClock is Disk with the clock the store signs and checks links with (nil: time.Now).
func DiskWithClock(t testing.TB, now func() time.Time) *blob.Disk {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := blob.NewDisk(blob.DiskOptions{Dir: t.TempDir(), LinkKey: key, URLBase: "http://" + ln.Addr().String(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/blobs/*", s.Handler())
	go app.Listener(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return s
}
