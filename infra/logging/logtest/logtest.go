// Package logtest catches what a test's loggers write, for the test to read: a test asserts what was logged (and
// that no secret was).
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a log sink safe for concurrent writers (a server's requests, a worker's tasks) and a reading test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
