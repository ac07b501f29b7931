package web

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// DefaultBodyLimit was the limit of a buffered body before every route declared its own (Route.BodyLimit); it
// stays as the fasthttp server's outer bound on a Content-Length it reads ahead of the handler.
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

// BodyLimits holds the routes that declared a body limit other than the app's default (Route.BodyLimit), for the
// body guard, which runs before routing. It is filled while routes are registered and read by every request.
type BodyLimits struct {
	mu     sync.RWMutex
	routes []limitRoute
}

type limitRoute struct {
	method string
	segs   []string // lower case; ":name" matches one segment, "*" the rest
	limit  int
}

// NewBodyLimits returns an empty table: every route has the app's default limit.
func NewBodyLimits() *BodyLimits { return &BodyLimits{} }

// Declare gives the route method path (Fiber syntax) its own limit in bytes.
func (l *BodyLimits) Declare(method, path string, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.routes = append(l.routes, limitRoute{method: strings.ToUpper(method), segs: splitPath(path), limit: limit})
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(strings.ToLower(p), "/"), "/")
}

// limit is the declared limit of the request method path, or def.
func (l *BodyLimits) limit(method, path string, def int) int {
	if l == nil {
		return def
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.routes) == 0 {
		return def
	}
	segs := splitPath(path)
	for _, r := range l.routes {
		if r.method == method && matchSegs(r.segs, segs) {
			return r.limit
		}
	}
	return def
}

func matchSegs(pattern, path []string) bool {
	for i, p := range pattern {
		if p == "*" {
			return true
		}
		if i >= len(path) || (!strings.HasPrefix(p, ":") && p != path[i]) || path[i] == "" {
			return false
		}
	}
	return len(pattern) == len(path)
}

// bodyReaders bounds how many request bodies are being read (buffered) at once: each holds up to its route's
// limit, so the bound is what caps the memory a flood of large or slow bodies can take. A request that finds
// every reader busy waits up to wait, then gets 503.
type bodyReaders struct {
	slots chan struct{}
	wait  time.Duration
}

// DefaultBodyReaders is the number of bodies read at once when Options.BodyReaders is 0: 16 per CPU the process
// may use (GOMAXPROCS), at least 16; with 1 MiB bodies that is at most 32 MiB held on a 2-core machine.
func DefaultBodyReaders() int { return max(16, 16*runtime.GOMAXPROCS(0)) }

// LargeBodyReaders is how many bodies above the server's limit (a route's own larger limit: a manual deposit's
// bank statement, up to 12 MiB) are read at once, from readers of their own: one per CPU, at least 2. Such a
// body is read before anyone has signed in, so these readers, not the 1 MiB ones, bound what anonymous posts to
// those routes can hold: 24 MiB on a 2-core machine, on top of the 32 MiB above. A flood of them can keep
// uploads waiting (503 busy), never the other routes or the memory.
func LargeBodyReaders() int { return max(2, runtime.GOMAXPROCS(0)) }

// alreadyRead is what fasthttp reads of a body before the handler runs (its streaming read-ahead): a body this
// small is in memory already and takes no reader.
const alreadyRead = 8 << 10

// The server reads request bodies as streams (fasthttp's StreamRequestBody): only the first 8 KiB arrive before
// the handler runs, and c.Body() would read the rest without any limit. bodyGuard restores the usual contract for
// every route but the StreamRoutes: the body is read up to the route's limit (limits, else limit) and put back as
// the request's body, so c.Body(), c.FormValue() and BodyParser work as before; a larger one is refused with 413
// as soon as it is known to be larger: from its Content-Length before a byte is read, or after limit+1 bytes of a
// chunked one, the connection then closed so the rest is never read. Reading takes one of readers' slots.
// For a StreamRoute the handler gets the stream (RequestBody); whatever it leaves unread (up to limit bytes) is
// discarded, or the connection is closed after the response when more is left, so the next request on the
// connection never starts inside an old body.
func bodyGuard(limit int, limits *BodyLimits, readers, large *bodyReaders, streams []StreamRoute) fiber.Handler {
	set := make(map[string]bool, len(streams))
	for _, r := range streams {
		set[r.key()] = true
	}
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, limit+1); return &b }}
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
		max := limits.limit(c.Method(), c.Path(), limit)
		cl := c.Request().Header.ContentLength()
		if cl > max {
			closeUnread(c.Context())
			return tooLarge(max)
		}
		if cl == 0 {
			return c.Next()
		}
		// fasthttp inflates a compressed body, without any bound, when a handler (Bind, the idempotency hash, a
		// form) asks for it: a kilobyte of gzip could become gigabytes. No client of this API or browser posting
		// a form compresses what it sends, so a declared encoding is refused before anything is read.
		if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
			closeUnread(c.Context())
			return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Send the body uncompressed (no Content-Encoding).")
		}
		if cl < 0 || cl > alreadyRead {
			from := readers
			if max > limit && (cl < 0 || cl > limit) { // may be larger than the server's limit: a large reader
				from = large
			}
			release, err := from.acquire(c)
			if err != nil {
				return err
			}
			defer release()
		}
		var buf []byte
		if cl < 0 && max == limit {
			// Chunked, of unknown size: read into a buffer of the whole limit from a pool instead of growing one
			// (growing by doubling to 1 MiB leaves twice that as garbage per body, which a flood multiplies). The
			// buffer goes back to the pool when the request is done with it.
			pb := pool.Get().(*[]byte)
			defer func() {
				c.Request().SetBodyRaw(nil)
				pool.Put(pb)
			}()
			buf = (*pb)[:0]
		} else {
			size := cl
			if size < 0 || size > max {
				size = min(max, 64<<10) // chunked, under a route's own larger limit: grow as it comes
			}
			buf = make([]byte, 0, size+1)
		}
		buf, err := readUpTo(stream, buf, max+1)
		if err != nil {
			c.Context().SetConnectionClose() // the connection failed or timed out: nothing to linger for
			return NewProblem(fiber.StatusBadRequest, "body-unreadable", "The request body could not be read.")
		}
		if len(buf) > max {
			closeUnread(c.Context())
			return tooLarge(max)
		}
		c.Request().SetBodyRaw(buf)
		return c.Next()
	}
}

// readUpTo appends what r holds to buf, n bytes at most, growing buf only when it is full.
func readUpTo(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append choose the growth
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (r *bodyReaders) acquire(c *fiber.Ctx) (release func(), err error) {
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, nil
	default:
	}
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, nil
	case <-t.C:
		c.Set(fiber.HeaderRetryAfter, "1")
		closeUnread(c.Context()) // the body stays unread
		return nil, NewProblem(fiber.StatusServiceUnavailable, "busy",
			"The server is reading as many request bodies as it can; retry in a moment.")
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
	if b.err != nil {
		c.Context().SetConnectionClose()
		return
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(b, drain)); n < drain && b.eof {
		return
	}
	closeUnread(c.Context())
}

// RequestBody returns the request body to read as a stream: on a StreamRoute the connection's stream, read as it
// arrives; elsewhere the buffered body. Read it at most once.
func RequestBody(c *fiber.Ctx) io.Reader {
	if b, ok := c.Locals(streamBodyKey{}).(*streamBody); ok {
		return b
	}
	return bytes.NewReader(c.Body())
}
