package blob_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/blob"
)

// FuzzValidKeyNeverLetsAKeyLeaveItsDirectory: whatever ValidKey accepts stays under the store's directory once
// joined to it, names a file (not a directory of its own), and needs no escaping in a URL path.
func FuzzValidKeyNeverLetsAKeyLeaveItsDirectory(f *testing.F) {
	for _, s := range []string{"t/c/a.pdf", "../x", "t/../../x", "/abs", "t//x", "t/./x", "t/x/", "a\x00b", "t/%2e%2e/x", "t\\..\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if blob.ValidKey(key) != nil {
			return
		}
		root := "/srv/blobs/data"
		p := filepath.Join(root, filepath.FromSlash(key))
		if !strings.HasPrefix(p, root+"/") || p == root {
			t.Fatalf("accepted key %q resolves to %q, outside %s", key, p, root)
		}
		if filepath.ToSlash(strings.TrimPrefix(p, root+"/")) != key {
			t.Fatalf("accepted key %q is not in clean form (resolves to %q)", key, p)
		}
		if strings.ContainsAny(key, "?#% \\") {
			t.Fatalf("accepted key %q needs escaping in a URL", key)
		}
	})
}
