package web

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// DefaultBodyLimit bounds a buffered request body (every route but the streaming ones).
const DefaultBodyLimit = 16 << 20

// StreamRoute names a route whose handler reads its request body as a stream (RequestBody) instead of from
// c.Body(): an upload that goes to the blob store as it arrives. Its body is neither buffered nor limited here;
// the handler applies its own limit.
type StreamRoute struct {
	Method, Path string // the exact path (no parameters), as registered
}

func (r StreamRoute) key() string {
	return strings.ToUpper(r.Method) + " " + strings.ToLower(strings.TrimSuffix(r.Path, "/"))
}

// The server reads request bodies as streams (fasthttp's StreamRequestBody): only the first 8 KiB arrive before
// the handler runs, and c.Body() would read the rest without any limit. bodyGuard restores the usual contract for
// every route but the StreamRoutes: the body is read up to limit bytes and put back as the request's body, so
// c.Body(), c.FormValue() and BodyParser work as before; a larger one is refused with 413 before the handler runs.
// For a StreamRoute the handler gets the stream (RequestBody); whatever it leaves unread (up to limit bytes) is
// discarded, or the connection is closed after the response when more is left, so the next request on the
// connection never starts inside an old body.
func bodyGuard(limit int, streams []StreamRoute) fiber.Handler {
	set := make(map[string]bool, len(streams))
	for _, r := range streams {
		set[r.key()] = true
	}
	return func(c *fiber.Ctx) error {
		stream := c.Context().RequestBodyStream()
		if stream == nil { // a server without StreamRequestBody: fasthttp has buffered (and limited) the body
			return c.Next()
		}
		if set[StreamRoute{Method: c.Method(), Path: c.Path()}.key()] {
			body := &streamBody{r: stream}
			c.Locals(streamBodyKey{}, body)
			err := c.Next()
			body.finish(c, int64(limit))
			return err
		}
		if cl := c.Request().Header.ContentLength(); cl > limit {
			c.Context().SetConnectionClose()
			return tooLarge(limit)
		}
		buf, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
		if err != nil {
			c.Context().SetConnectionClose()
			return NewProblem(fiber.StatusBadRequest, "body-unreadable", "The request body could not be read.")
		}
		if len(buf) > limit {
			c.Context().SetConnectionClose()
			return tooLarge(limit)
		}
		c.Request().SetBodyRaw(buf)
		return c.Next()
	}
}

func tooLarge(limit int) error {
	return NewProblem(fiber.StatusRequestEntityTooLarge, "body-too-large",
		"The request body is larger than this endpoint accepts ("+byteSize(int64(limit))+").")
}

// byteSize writes n bytes as a person reads it (whole MiB or KiB when exact).
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

type streamBodyKey struct{}

// streamBody is a StreamRoute's request body. It remembers reaching the end: fasthttp's chunked stream, read
// again after its end, would read the next request's bytes.
type streamBody struct {
	r   io.Reader
	eof bool
	err error
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// finish runs after the handler: up to drain bytes left unread are read and dropped before the response goes out
// (a browser whose upload was refused early sees the answer instead of a reset connection, and the connection
// stays usable); with more left, the connection closes after the response.
func (b *streamBody) finish(c *fiber.Ctx, drain int64) {
	if b.eof {
		return
	}
	if b.err == nil {
		if n, _ := io.Copy(io.Discard, io.LimitReader(b, drain)); n < drain && b.eof {
			return
		}
	}
	c.Context().SetConnectionClose()
}

// RequestBody returns the request body to read as a stream: on a StreamRoute the connection's stream, read as it
// arrives; elsewhere the buffered body. Read it at most once.
func RequestBody(c *fiber.Ctx) io.Reader {
	if b, ok := c.Locals(streamBodyKey{}).(*streamBody); ok {
		return b
	}
	return bytes.NewReader(c.Body())
}
