package simulator

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	return readFileTB(t, dir, name)
}

func readFileTB(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func containsBytes(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
