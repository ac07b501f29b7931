package blob

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"testing"
)

func TestSpoolIsCiphertextOnDiskAndReadsBackFromAnyOffset(t *testing.T) {
	t.Parallel()
	plain := make([]byte, 100_003)
	if _, err := rand.Read(plain); err != nil {
		t.Fatal(err)
	}
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	n, err := sp.fill(bytes.NewReader(plain))
	if err != nil || n != int64(len(plain)) {
		t.Fatalf("fill = %d, %v", n, err)
	}
	onDisk := make([]byte, len(plain))
	if _, err := sp.f.ReadAt(onDisk, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(onDisk, plain[:64]) || bytes.Equal(onDisk, plain) {
		t.Fatal("the spool file holds plaintext")
	}
	if _, err := os.Stat(sp.f.Name()); !os.IsNotExist(err) {
		t.Fatalf("the spool file has a name on disk: %v", err)
	}
	r := sp.reader(n)
	for _, off := range []int64{0, 1, 15, 16, 17, 4095, 65537, int64(len(plain)) - 1, int64(len(plain))} {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(onlyReader{r}, 5000))
		if err != nil {
			t.Fatal(err)
		}
		want := plain[off:min(off+5000, int64(len(plain)))]
		if !bytes.Equal(got, want) {
			t.Fatalf("at offset %d: read %d bytes that differ from what was written", off, len(got))
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(onlyReader{r})
	if err != nil || !bytes.Equal(all, plain) {
		t.Fatalf("whole read-back differs (%d bytes, %v)", len(all), err)
	}
	if end, _ := r.Seek(0, io.SeekEnd); end != n {
		t.Fatalf("SeekEnd = %d, want %d", end, n)
	}
}

// onlyReader hides every method but Read, so io.ReadAll reads in small odd chunks through Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) {
	if len(p) > 777 {
		p = p[:777]
	}
	return o.r.Read(p)
}
