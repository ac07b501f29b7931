package content

import (
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name is what a person recognises of an uploaded file's name, to show it and to name its download (it never
// decides anything): the last path element (after either slash), printable characters only (no line break, no
// right-to-left override faking the extension, no quote), at most 255 bytes. A name with nothing left becomes base
// with the extension of the detected content type ("document.pdf").
func Name(name, base, contentType string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(strings.TrimSpace(name))
	name = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == "/" {
		name = base + map[string]string{JPEG: ".jpg", PNG: ".png", PDF: ".pdf"}[contentType]
	}
	return name
}

// Size is a file's size as people read it, in whole numbers: "1.4 MB" (to a tenth), "312 KB", "90 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20:
		tenths := (n*10 + 1<<19) >> 20
		return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt((n+1<<9)>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
