package blob_test

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
)

func TestS3EncryptsEveryObjectServerSide(t *testing.T) {
	t.Parallel()
	kmsKey := os.Getenv("BD_S3_KMS_KEY_ID")
	if kmsKey == "" {
		t.Fatal("BD_S3_KMS_KEY_ID is not set: the project's MinIO names its static KMS key there")
	}
	for _, c := range []struct {
		name, kmsKeyID string
		want           types.ServerSideEncryption
	}{
		{"SSE-S3 when no KMS key is configured", "", types.ServerSideEncryptionAes256},
		{"SSE-KMS under the configured key", kmsKey, types.ServerSideEncryptionAwsKms},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := blobtest.Options(t)
			o.KMSKeyID = c.kmsKeyID
			s, err := blob.NewS3(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			key := "t/c/doc.pdf"
			if _, err := s.Put(context.Background(), key, newStream(3, 1<<20), "application/pdf"); err != nil {
				t.Fatal(err)
			}
			head, err := blobtest.Client(t, o).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			if head.ServerSideEncryption != c.want {
				t.Fatalf("HeadObject reports server-side encryption %q, want %q", head.ServerSideEncryption, c.want)
			}
			if c.kmsKeyID != "" && !strings.HasSuffix(aws.ToString(head.SSEKMSKeyId), c.kmsKeyID) {
				t.Fatalf("object encrypted under KMS key %q, want %q", aws.ToString(head.SSEKMSKeyId), c.kmsKeyID)
			}
			if body, err := read(t, s, key); err != nil || len(body) != 1<<20 {
				t.Fatalf("encrypted object reads back %d bytes, %v", len(body), err)
			}
		})
	}
}

func TestS3SignedURLIsPathStyleOnTheConfiguredEndpoint(t *testing.T) {
	t.Parallel()
	s := blobtest.S3(t)
	u, err := s.SignedURL(context.Background(), "t/c/a.pdf", time.Minute, "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if want := os.Getenv("BD_S3_ENDPOINT") + "/" + s.Bucket() + "/t/c/a.pdf?"; !strings.HasPrefix(u, want) {
		t.Fatalf("signed URL %s does not start with %s", u, want)
	}
	if !strings.Contains(u, "X-Amz-Expires=60") {
		t.Fatalf("signed URL %s does not carry its 60 s lifetime", u)
	}
}

// BenchmarkS3Put10MiB uploads 10 MiB documents to MinIO and reports, besides B/op, the peak growth of the live
// heap during a Put (sampled every 200 µs): the figure that shows Put streams instead of buffering.
//
//	go test ./infra/blob/ -run '^$' -bench S3Put10MiB -benchtime 10x
func BenchmarkS3Put10MiB(b *testing.B) {
	s := blobtest.S3(b)
	const size = 10 << 20
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	live := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	var peak atomic.Int64
	var worst int64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		base := live()
		peak.Store(base)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(200 * time.Microsecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if v := live(); v > peak.Load() {
						peak.Store(v)
					}
				}
			}
		}()
		b.StartTimer()
		n, err := s.Put(ctx, "t/c/bench", newStream(byte(i), size), "application/pdf")
		b.StopTimer()
		close(stop)
		<-sampled
		if err != nil || n != size {
			b.Fatalf("Put = %d, %v", n, err)
		}
		worst = max(worst, peak.Load()-base)
		b.StartTimer()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.TotalAlloc-allocBefore)/float64(b.N), "alloc-bytes/op")
	b.ReportMetric(float64(worst), "peak-live-heap-bytes")
}

func TestS3DeletePrefixErasesEveryVersionOfAVersionedBucket(t *testing.T) {
	t.Parallel()
	o := blobtest.Options(t)
	client := blobtest.Client(t, o)
	ctx := context.Background()
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &o.Bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	s, err := blob.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "t/c1/passport", "first scan")
	put(t, s, "t/c1/passport", "second scan") // the first stays as a noncurrent version
	put(t, s, "t/c1/selfie", "selfie")
	if err := s.Delete(ctx, "t/c1/selfie"); err != nil { // a delete marker over a version
		t.Fatal(err)
	}
	put(t, s, "t/c2/passport", "another client")
	versions := func(prefix string) int {
		out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &o.Bucket, Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Versions) + len(out.DeleteMarkers)
	}
	if n := versions("t/c1/"); n != 4 {
		t.Fatalf("before erasure: %d versions and markers under t/c1/, want 4", n)
	}
	if err := s.DeletePrefix(ctx, "t/c1/"); err != nil {
		t.Fatal(err)
	}
	if n := versions("t/c1/"); n != 0 {
		t.Fatalf("after erasure: %d versions or markers left under t/c1/", n)
	}
	if body, err := read(t, s, "t/c2/passport"); err != nil || body != "another client" {
		t.Fatalf("another client's document: %q, %v", body, err)
	}
}
