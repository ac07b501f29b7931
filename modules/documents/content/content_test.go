package content

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

func sample(t testing.TB, kind string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 31)
	}
	img.Set(3, 3, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	switch kind {
	case "jpeg":
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
	case "png":
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
	case "pdf":
		buf.WriteString("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
			"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%EOF\n")
	}
	return buf.Bytes()
}

// verdict runs data through Detect and the checker in the given chunk sizes (cycled), as an upload streams it.
func verdict(data []byte, chunks []int) (string, bool) {
	ct := Detect(data[:min(len(data), SniffLen)])
	c := NewChecker(ct)
	if c == nil {
		return ct, false
	}
	for i, rest := 0, data; len(rest) > 0; i++ {
		n := len(rest)
		if len(chunks) > 0 {
			n = min(max(chunks[i%len(chunks)], 1), len(rest))
		}
		c.Write(rest[:n])
		rest = rest[n:]
	}
	return ct, c.Complete()
}

// Complete files pass; every truncation of a JPEG or PNG fails, however the bytes are chunked; a JPEG with data
// after its end (a camera trailer, a motion photo's video) passes; a PDF needs %%EOF in its last 1024 bytes.
func TestCheckersAcceptCompleteFilesAndRefuseEveryTruncation(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"jpeg", "png", "pdf"} {
		data := sample(t, kind)
		for _, chunks := range [][]int{nil, {1}, {7, 3}, {4096}} {
			if _, ok := verdict(data, chunks); !ok {
				t.Errorf("%s in chunks %v: refused", kind, chunks)
			}
		}
		if kind == "pdf" {
			continue
		}
		for n := 0; n < len(data); n++ {
			if _, ok := verdict(data[:n], []int{5}); ok {
				t.Errorf("%s cut to %d of %d bytes passes", kind, n, len(data))
			}
		}
	}
	jpg := sample(t, "jpeg")
	if _, ok := verdict(append(append([]byte{}, jpg...), bytes.Repeat([]byte("ftypmp42 video"), 500)...), nil); !ok {
		t.Error("a JPEG followed by a trailer is refused")
	}
	pdf := sample(t, "pdf")
	if _, ok := verdict(append(append([]byte{}, pdf...), bytes.Repeat([]byte{'\n'}, 2000)...), nil); ok {
		t.Error("a PDF whose EOF marker is 2000 bytes before its end passes")
	}
	if _, ok := verdict(bytes.Replace(pdf, []byte("%%EOF"), nil, 1), nil); ok {
		t.Error("a PDF without its EOF marker passes")
	}
	for name, head := range map[string][]byte{"exe": []byte("MZ\x90\x00"), "zip": []byte("PK\x03\x04"), "gif": []byte("GIF89a"),
		"text": []byte("%PD"), "empty": nil} {
		if ct := Detect(head); ct != "" {
			t.Errorf("%s detected as %s", name, ct)
		}
	}
}

// The detector and checkers never panic, and their verdict does not depend on how the bytes arrive.
func FuzzDetectorVerdictIsIndependentOfChunking(f *testing.F) {
	for _, kind := range []string{"jpeg", "png", "pdf"} {
		d := sample(f, kind)
		f.Add(d, uint8(1), uint8(13))
		f.Add(d[:len(d)/2], uint8(3), uint8(200))
	}
	f.Add([]byte("MZ\x90\x00 not a document"), uint8(2), uint8(2))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9}, uint8(1), uint8(1))
	f.Add([]byte{}, uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		ct1, ok1 := verdict(data, nil)
		ct2, ok2 := verdict(data, []int{int(a), int(b)})
		if ct1 != ct2 || ok1 != ok2 {
			t.Fatalf("whole: %q %v, chunked %d/%d: %q %v", ct1, ok1, a, b, ct2, ok2)
		}
		if ok1 && ct1 == "" {
			t.Fatal("an undetected file passed")
		}
		if ct1 == JPEG && ok1 && !bytes.Contains(data, []byte{0xFF, 0xD9}) {
			t.Fatalf("a JPEG without an end marker passed: % x", data)
		}
	})
}
