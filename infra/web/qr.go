package web

import (
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"strings"

	"rsc.io/qr"
)

// QRImage renders text (e.g. an otpauth:// URI) as a QR code: a PNG in a data: URI, for an <img src> on a page that
// must work without JavaScript and load nothing from elsewhere. Error correction M (15%) keeps a 150-character URI
// small enough for any phone camera. The result is a template.URL because html/template refuses data: URIs it did
// not see being made; this one holds nothing but base64 of a PNG we encoded.
func QRImage(text string) (template.URL, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("web: QR code: %w", err)
	}
	code.Scale = 4 // pixels per module: about 250 px square for an otpauth URI, quiet zone included
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())), nil
}

// QRSVG renders text (a referral link) as a QR code drawn in SVG, one path of dark modules inside a four-module
// quiet zone, for a page that prints and scales without blur; aria-label names what it encodes.
func QRSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("web: QR code: %w", err)
	}
	const quiet = 4
	side := code.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" role="img" aria-label="QR code of %s" viewBox="0 0 %d %d" width="132" height="132" shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`,
		html.EscapeString(text), side, side, side, side)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil //nolint:gosec // the only text is escaped
}
