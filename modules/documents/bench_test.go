package documents_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
)

// pdfStream is a valid PDF of exactly size bytes whose body is pseudo-random bytes in one stream object,
// generated as it is read: the sending side holds no copy, so the heap measured is the server's.
func pdfStream(size int, seed uint64) io.Reader {
	head := "%PDF-1.4\n1 0 obj\n<< /Length " + fmt.Sprint(size) + " >>\nstream\n"
	tail := "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
	body := size - len(head) - len(tail)
	return io.MultiReader(&stringReader{s: head}, io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), int64(body)), &stringReader{s: tail})
}

type stringReader struct{ s string }

func (r *stringReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// heapSampler records the high-water mark of live heap objects (runtime/metrics, no stop-the-world) every
// millisecond until stopped.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func heapNow() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := heapNow(); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

// A 10 MiB document uploaded end to end: HTTP request (Content-Length known) through the production server type
// with its stream routes, the upload handler (type detection, SHA-256, structure check), the S3 store's encrypted
// spool and PutObject to MinIO, the transaction with the duplicate check and the audit row. Reported: time per
// upload, throughput, and the process's peak live heap above the idle baseline while uploading (peak-heap-MiB),
// which stays far below the file's size when the body streams.
func BenchmarkUpload10MiBThroughTheHandlerToMinIO(b *testing.B) {
	const size = 10 << 20
	bd := setupWith(b, 15<<20)
	tr := bd.newTrader(b, bd.ten, clients.StatusEmailVerified)
	client := &http.Client{}
	upload := func(i int) {
		req, err := http.NewRequest("POST", bd.base+documents.UploadAPIPath+"?type=proof_of_address&filename=statement.pdf", pdfStream(size, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		req.ContentLength = size
		req.Host = hostOf(bd.ten)
		req.Header.Set("Authorization", "Bearer "+tr.token)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 201 {
			b.Fatalf("upload: %d %s", res.StatusCode, out)
		}
	}
	upload(-1) // warm up connections and the store
	runtime.GC()
	base := heapNow()
	h := sampleHeap()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		upload(i)
	}
	b.StopTimer()
	peak := h.Stop()
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
}
