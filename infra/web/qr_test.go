package web_test

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

func TestQRImageIsAPNGDataURIOfASquareCode(t *testing.T) {
	t.Parallel()
	uri := "otpauth://totp/Harbour%20FX:ada@harbour.example?algorithm=SHA1&digits=6&issuer=Harbour%20FX&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	img, err := web.QRImage(uri)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(string(img), "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URI: %.40s", img)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	pic, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := pic.Bounds(); b.Dx() != b.Dy() || b.Dx() < 100 || b.Dx() > 400 {
		t.Fatalf("image is %v", b)
	}
}
