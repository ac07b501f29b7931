package payments

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

func TestEvidenceIsReadFromItsBytesNeverItsName(t *testing.T) {
	t.Parallel()
	img := image.NewGray(image.Rect(0, 0, 20, 10))
	var pngFile, jpegFile bytes.Buffer
	if err := png.Encode(&pngFile, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegFile, img, nil); err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.7\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n")
	sized := func(n int) []byte { // a PDF of n bytes
		head, tail := []byte("%PDF-1.7\n"), []byte("\n%%EOF\n")
		return append(append(head, bytes.Repeat([]byte(" "), n-len(head)-len(tail))...), tail...)
	}
	atLimit, big := sized(MaxEvidenceBytes), sized(MaxEvidenceBytes+1)
	cases := []struct {
		name string
		file []byte
		want string
		err  error
	}{
		{"a PDF", pdf, "application/pdf", nil},
		{"a PNG", pngFile.Bytes(), "image/png", nil},
		{"a JPEG", jpegFile.Bytes(), "image/jpeg", nil},
		{"a PDF of exactly the limit", atLimit, "application/pdf", nil},
		{"empty", nil, "", ErrEvidenceEmpty},
		{"one byte over the limit", big, "", ErrEvidenceTooLarge},
		{"a Windows executable", append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 64)...), "", ErrEvidenceType},
		{"a web page", []byte("<!DOCTYPE html><html><body onload=alert(1)>statement</body></html>"), "", ErrEvidenceType},
		{"a PDF behind a byte order mark", append([]byte("\xef\xbb\xbf"), pdf...), "", ErrEvidenceType},
		{"a ZIP (an office document)", []byte("PK\x03\x04\x14\x00\x06\x00statement.xlsx"), "", ErrEvidenceType},
		{"shorter than any signature", []byte("%P"), "", ErrEvidenceType},
		{"a PDF cut short", pdf[:len(pdf)-8], "", ErrEvidenceIncomplete},
		{"a PNG cut short", pngFile.Bytes()[:pngFile.Len()-12], "", ErrEvidenceIncomplete},
		{"a JPEG cut short", jpegFile.Bytes()[:jpegFile.Len()/2], "", ErrEvidenceIncomplete},
	}
	for _, c := range cases {
		got, err := EvidenceType(bytes.NewReader(c.file), int64(len(c.file)))
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: %q %v, want %q %v", c.name, got, err, c.want, c.err)
		}
	}
}
