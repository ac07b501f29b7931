package web

import (
	"encoding/base64"
	"fmt"
	"html/template"

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
