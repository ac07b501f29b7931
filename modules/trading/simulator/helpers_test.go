package simulator

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func containsBytes(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
