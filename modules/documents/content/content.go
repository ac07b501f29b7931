// Package content recognises the files clients may upload as KYC documents (JPEG, PNG, PDF) by their bytes, never
// by their names, and follows each file's structure as it streams past, so the end of an upload tells whether the
// file was complete without the file ever being held in memory. It also says what people read of such a file: its
// cleaned name and its size (names.go). Manual deposits' bank statements (modules/payments) are checked the same way.
package content

import (
	"bytes"
	"encoding/binary"
	"hash"
	"hash/crc32"
)

// The accepted content types.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	PDF  = "application/pdf"
)

// SniffLen is how many leading bytes Detect needs to decide.
const SniffLen = 8

var (
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
	magicPNG  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
	magicPDF  = []byte("%PDF-")
	pdfEOF    = []byte("%%EOF")
)

// Detect names the content type of a file from its first bytes (magic numbers), or "" when it is none of the
// accepted ones. A file's name and declared type are never consulted: an executable renamed .pdf starts "MZ".
func Detect(head []byte) string {
	switch {
	case bytes.HasPrefix(head, magicJPEG):
		return JPEG
	case bytes.HasPrefix(head, magicPNG):
		return PNG
	case bytes.HasPrefix(head, magicPDF):
		return PDF
	}
	return ""
}

// Checker follows a file's structure as its bytes stream through Write, so that the end of the upload tells
// whether the file was complete without ever holding it: a JPEG must reach its end-of-image marker after image
// data, a PNG its IEND chunk with every chunk's CRC right, a PDF must have %%EOF within its last 1024 bytes (where
// readers look for it). Writes never fail; Complete gives the verdict.
type Checker interface {
	Write(p []byte) (int, error)
	Complete() bool
}

// NewChecker returns the checker of a detected content type (nil for anything else).
func NewChecker(contentType string) Checker {
	switch contentType {
	case JPEG:
		return &jpegChecker{}
	case PNG:
		return &pngChecker{crc: crc32.NewIEEE()}
	case PDF:
		return &pdfChecker{}
	}
	return nil
}

// jpegChecker walks the JPEG marker structure: SOI, segments with lengths (skipped), entropy-coded scans (where
// 0xFF is always followed by 0x00 stuffing, a restart marker or the next marker), until EOI. A thumbnail's own EOI
// inside an APP segment is skipped with its segment, so it cannot pass for the image's end. Anything after the
// image's EOI (camera trailers, a motion photo's video) is ignored.
type jpegChecker struct {
	state  int
	n      int // bytes read so far, for the SOI check
	length int // segment length being read, or bytes left to skip
	marker byte
	sawSOS bool
	done   bool
	bad    bool
}

const (
	jSOI = iota
	jMarkerFF
	jMarkerCode
	jLen1
	jLen2
	jSkip
	jScan
	jScanFF
)

func (j *jpegChecker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !j.done && !j.bad {
		switch j.state {
		case jSOI:
			if p[0] != magicJPEG[j.n] { // FF D8
				j.bad = true
				break
			}
			j.n++
			p = p[1:]
			if j.n == 2 {
				j.state = jMarkerFF
			}
		case jMarkerFF:
			if p[0] != 0xFF {
				j.bad = true
				break
			}
			p = p[1:]
			j.state = jMarkerCode
		case jMarkerCode:
			m := p[0]
			p = p[1:]
			j.code(m)
		case jLen1:
			j.length = int(p[0]) << 8
			p = p[1:]
			j.state = jLen2
		case jLen2:
			j.length |= int(p[0])
			p = p[1:]
			if j.length < 2 {
				j.bad = true
				break
			}
			j.length -= 2
			j.state = jSkip
			if j.length == 0 {
				j.afterSegment()
			}
		case jSkip:
			k := min(j.length, len(p))
			j.length -= k
			p = p[k:]
			if j.length == 0 {
				j.afterSegment()
			}
		case jScan:
			i := bytes.IndexByte(p, 0xFF)
			if i < 0 {
				p = nil
				break
			}
			p = p[i+1:]
			j.state = jScanFF
		case jScanFF:
			b := p[0]
			p = p[1:]
			switch {
			case b == 0x00, b >= 0xD0 && b <= 0xD7: // stuffed 0xFF, restart marker: still in the scan
				j.state = jScan
			case b == 0xFF: // fill byte
			default:
				j.code(b)
			}
		}
	}
	return n, nil
}

// code handles a marker's code byte.
func (j *jpegChecker) code(m byte) {
	switch {
	case m == 0xFF: // fill byte before the code
		j.state = jMarkerCode
	case m == 0xD9: // EOI
		j.done = j.sawSOS
		j.bad = !j.sawSOS
	case m == 0xD8, m == 0x00: // a second SOI, or a stuffing byte outside a scan
		j.bad = true
	case m >= 0xD0 && m <= 0xD7, m == 0x01: // standalone markers
		j.state = jMarkerFF
	default:
		j.marker = m
		j.state = jLen1
	}
}

func (j *jpegChecker) afterSegment() {
	if j.marker == 0xDA { // SOS: entropy-coded data follows its header
		j.sawSOS = true
		j.state = jScan
		return
	}
	j.state = jMarkerFF
}

func (j *jpegChecker) Complete() bool { return j.done && !j.bad }

// pngChecker walks PNG chunks (length, type, data, CRC-32 of type and data) from the signature to IEND.
type pngChecker struct {
	sig    int // signature bytes seen
	head   [8]byte
	hn     int // bytes of the chunk header (length, type) read
	left   int // data bytes of the current chunk still to come
	crcBuf [4]byte
	cn     int // CRC bytes read
	inData bool
	inCRC  bool
	first  bool // the first chunk was IHDR
	typ    [4]byte
	crc    hash.Hash32
	done   bool
	bad    bool
}

func (c *pngChecker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !c.done && !c.bad {
		switch {
		case c.sig < len(magicPNG):
			if p[0] != magicPNG[c.sig] {
				c.bad = true
				break
			}
			c.sig++
			p = p[1:]
		case c.inData:
			k := min(c.left, len(p))
			c.crc.Write(p[:k])
			c.left -= k
			p = p[k:]
			if c.left == 0 {
				c.inData, c.inCRC = false, true
			}
		case c.inCRC:
			k := copy(c.crcBuf[c.cn:], p)
			c.cn += k
			p = p[k:]
			if c.cn == 4 {
				if binary.BigEndian.Uint32(c.crcBuf[:]) != c.crc.Sum32() {
					c.bad = true
					break
				}
				c.inCRC, c.cn = false, 0
				if string(c.typ[:]) == "IEND" {
					c.done = c.first
					c.bad = !c.first
				}
			}
		default: // chunk header
			k := copy(c.head[c.hn:], p)
			c.hn += k
			p = p[k:]
			if c.hn < 8 {
				break
			}
			c.hn = 0
			length := binary.BigEndian.Uint32(c.head[:4])
			copy(c.typ[:], c.head[4:])
			if length > 1<<31-1 || !pngType(c.typ) {
				c.bad = true
				break
			}
			if !c.first {
				if string(c.typ[:]) != "IHDR" {
					c.bad = true
					break
				}
				c.first = true
			}
			c.crc.Reset()
			c.crc.Write(c.typ[:])
			c.left = int(length)
			c.inData = c.left > 0
			c.inCRC = c.left == 0
		}
	}
	return n, nil
}

func pngType(t [4]byte) bool {
	for _, b := range t {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			return false
		}
	}
	return true
}

func (c *pngChecker) Complete() bool { return c.done && !c.bad }

// pdfChecker keeps the file's last 1024 bytes and looks for %%EOF there at the end.
type pdfChecker struct {
	tail [1024]byte
	n    int // bytes kept (at most len(tail)), the newest last
}

func (c *pdfChecker) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= len(c.tail) {
		copy(c.tail[:], p[len(p)-len(c.tail):])
		c.n = len(c.tail)
		return n, nil
	}
	keep := min(c.n, len(c.tail)-len(p))
	copy(c.tail[:keep], c.tail[c.n-keep:c.n])
	copy(c.tail[keep:], p)
	c.n = keep + len(p)
	return n, nil
}

func (c *pdfChecker) Complete() bool { return bytes.Contains(c.tail[:c.n], pdfEOF) }
