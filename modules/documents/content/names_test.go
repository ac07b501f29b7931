package content

import (
	"strings"
	"testing"
)

func TestNamesKeepWhatAPersonRecognises(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"statement.pdf":                   "statement.pdf",
		`C:\Users\fiona\Desktop\wire.pdf`: "wire.pdf",
		"../../etc/passwd":                "passwd",
		"advice\u202egpj.pdf":             "advicegpj.pdf", // no right-to-left override faking the extension
		"line\nbreak.png":                 "linebreak.png",
		`say "hi".pdf`:                    "say hi.pdf",
		"":                                "document.pdf",
		"/":                               "document.pdf",
	} {
		if got := Name(in, "document", PDF); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Name(strings.Repeat("é", 200), "document", PNG); len(got) > 255 || !strings.HasPrefix(got, "éé") {
		t.Errorf("a long name became %d bytes", len(got))
	}
	if got := Name(" ", "bank-statement", JPEG); got != "bank-statement.jpg" {
		t.Errorf("an empty name with a base: %q", got)
	}
}

func TestSizesReadAsPeopleWriteThem(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 bytes", 900: "900 bytes", 1024: "1 KB", 312 * 1024: "312 KB", 1536 * 1024: "1.5 MB",
		10 << 20: "10.0 MB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
