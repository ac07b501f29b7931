package localsvc

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMinIOKMSKeyIsGeneratedOncePerDataDirectoryAndPrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := minioKMSKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "kms-key") {
		t.Fatalf("key file at %s", path)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	first, _ := os.ReadFile(path)
	name, b64, ok := strings.Cut(string(first), ":")
	key, derr := base64.StdEncoding.DecodeString(b64)
	if !ok || name != MinIOKMSKeyName || derr != nil || len(key) != 32 {
		t.Fatalf("key file is not %s:<base64 of 32 bytes>", MinIOKMSKeyName)
	}
	if _, err := minioKMSKey(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Fatal("a restart on the same data directory made a new key: objects encrypted before would be unreadable")
	}
	other, err := minioKMSKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(other); string(b) == string(first) {
		t.Fatal("two data directories share a key")
	}
}
