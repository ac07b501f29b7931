package logging_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/logging"
)

// countingWriter records each write it gets.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) snapshot() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

func TestBufferedWritesManyLinesInFewWritesAndLosesNone(t *testing.T) {
	t.Parallel()
	var w countingWriter
	b := logging.NewBuffered(&w, 20*time.Millisecond, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(b, "line %d-%d\n", g, i)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := w.snapshot()
		if strings.Count(out, "\n") == 4000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, writes := w.snapshot()
	if n := strings.Count(out, "\n"); n != 4000 {
		t.Fatalf("%d lines written within the interval, want 4000", n)
	}
	if writes > 100 {
		t.Errorf("4000 lines took %d writes: not batched", writes)
	}
	for g := range 8 { // each writer's lines stay whole and in order
		last := -1
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var lg, li int
			if _, err := fmt.Sscanf(l, "line %d-%d", &lg, &li); err != nil {
				t.Fatalf("a torn line %q: %v", l, err)
			}
			if lg == g {
				if li != last+1 {
					t.Fatalf("writer %d: line %d after %d", g, li, last)
				}
				last = li
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBufferedCloseWritesWhatWaitsThenWritesThrough(t *testing.T) {
	t.Parallel()
	var w countingWriter
	b := logging.NewBuffered(&w, time.Hour, 1<<20) // never flushes by time in this test
	fmt.Fprint(b, "waiting\n")
	if out, _ := w.snapshot(); out != "" {
		t.Fatalf("written before the interval: %q", out)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(b, "after close\n")
	if out, _ := w.snapshot(); out != "waiting\nafter close\n" {
		t.Fatalf("got %q", out)
	}
}

func TestBufferedWritesAtOnceWhenMaxBytesWait(t *testing.T) {
	t.Parallel()
	var w countingWriter
	b := logging.NewBuffered(&w, time.Hour, 64)
	defer b.Close()
	fmt.Fprint(b, strings.Repeat("x", 70)+"\n")
	if out, writes := w.snapshot(); len(out) != 71 || writes != 1 {
		t.Fatalf("a full buffer was not written at once: %d bytes in %d writes", len(out), writes)
	}
}
