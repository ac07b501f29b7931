package logging

import (
	"io"
	"sync"
	"time"
)

// Buffered batches log lines into few writes: a busy server writes one access-log line per request, and a write
// system call per line costs as much as the rest of a cheap request. Lines are written at most Interval after they
// were logged (or at once when MaxBytes are waiting); Close writes what is left. A crash that kills the process
// loses at most the last Interval of lines; a panic inside a request is recovered and logged like any line.
type Buffered struct {
	w        io.Writer
	interval time.Duration
	maxBytes int

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	err     error // the last write error, reported by Close
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	writeMu sync.Mutex // one write to w at a time, in order
}

// NewBuffered returns a buffered writer to w that writes at least every interval (default 50 ms) and whenever
// maxBytes (default 64 KiB) are waiting.
func NewBuffered(w io.Writer, interval time.Duration, maxBytes int) *Buffered {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	if maxBytes <= 0 {
		maxBytes = 64 << 10
	}
	b := &Buffered{w: w, interval: interval, maxBytes: maxBytes, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// Write queues p (one log line; slog calls Write once per record). It never blocks on the underlying writer unless
// maxBytes are waiting, and then writes them itself. After Close it writes through.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.writeMu.Lock()
		defer b.writeMu.Unlock()
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.maxBytes
	b.mu.Unlock()
	if full {
		b.flush()
		return len(p), nil
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// flush writes everything waiting.
func (b *Buffered) flush() {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf, b.spare = b.spare[:0], nil
	b.mu.Unlock()
	if len(out) == 0 {
		b.mu.Lock()
		b.spare = out
		b.mu.Unlock()
		return
	}
	_, err := b.w.Write(out)
	b.mu.Lock()
	if err != nil {
		b.err = err
	}
	if cap(out) <= 4*b.maxBytes { // keep one buffer for reuse, not a huge one
		b.spare = out[:0]
	}
	b.mu.Unlock()
}

func (b *Buffered) run() {
	defer close(b.stopped)
	for {
		select {
		case <-b.stop:
			return
		case <-b.wake:
		}
		// Collect what arrives within one interval, then write it in one go.
		select {
		case <-b.stop:
			return
		case <-time.After(b.interval):
		}
		b.flush()
	}
}

// Close writes every waiting line and switches to writing through; it returns the last write error, if any.
func (b *Buffered) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.stopped
	b.flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
