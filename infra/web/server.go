package web

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// ReadBufferSize bounds a request's head (request line and headers, cookies included): 8 KiB, twice fasthttp's
// default, room for a bearer token and a browser's cookies; larger heads get 431.
const ReadBufferSize = 8 << 10

// Server serves several Fiber apps on one listener, choosing by Host: the operator console and the tenants'
// hosts are different applications with different routes, middleware and audiences, and Fiber groups match by
// path prefix only. Choosing before Fiber routes keeps each app's middleware to its own requests.
type Server struct {
	srv     *fasthttp.Server
	lingers chan struct{} // slots of connections closing after a refused body (lingerConn)
}

// NewServer returns a server over a fixed set of apps that sends each request to pick(host), which must return
// one of them.
func NewServer(apps []*fiber.App, pick func(host string) *fiber.App, o Options) *Server {
	handlers := make(map[*fiber.App]fasthttp.RequestHandler, len(apps))
	for _, a := range apps {
		handlers[a] = a.Handler()
	}
	return &Server{lingers: make(chan struct{}, maxLingering), srv: &fasthttp.Server{
		Handler:      func(ctx *fasthttp.RequestCtx) { handlers[pick(string(ctx.Host()))](ctx) },
		Name:         "brokerdesk",
		ReadTimeout:  orDefault(o.ReadTimeout, 30*time.Second),
		WriteTimeout: orDefault(o.WriteTimeout, 60*time.Second),
		IdleTimeout:  orDefault(o.IdleTimeout, 60*time.Second),
		// Bodies are streams (see New and bodyGuard, which limits every buffered body to o.BodyLimit); multipart
		// forms are read by their handlers, never pre-parsed.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		MaxRequestBodySize:           max(o.BodyLimit, DefaultBodyLimit),
		// A request's head must fit the read buffer; a larger one is 431, as problem+json (serverError) like every
		// other error, and so is any request the server cannot read.
		ReadBufferSize:        ReadBufferSize,
		ErrorHandler:          serverError,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true, // idle keep-alive connections close on shutdown too
	}}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(lingerListener{l, s.lingers}) }

// A request refused before its body was read (413 by Content-Length, 415, 503 busy) is answered and its connection
// closed. Closing a socket whose unread input still holds the client's body makes the kernel send a reset, which
// can reach the client before it has read the answer: a browser uploading a file one MiB too large then shows
// "connection reset" instead of the page's "too large" message. So such a connection closes the way web servers
// linger: the answer is sent, the sending side shut (the client sees the end of the response), and what the client
// still sends is read and dropped, up to lingerBytes or lingerTime, before the socket closes. At most maxLingering
// connections linger at once; beyond that they close at once, as before.
const (
	lingerTime   = 2 * time.Second
	lingerBytes  = 16 << 20
	maxLingering = 256
)

type lingerListener struct {
	net.Listener
	slots chan struct{}
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, slots: l.slots}, nil
}

// lingerConn is an accepted connection that lingers when it closes after lingerOnClose marked it.
type lingerConn struct {
	net.Conn
	slots  chan struct{}
	linger atomic.Bool
}

func (c *lingerConn) Close() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !c.linger.Load() || !ok {
		return c.Conn.Close()
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return c.Conn.Close()
	}
	if err := cw.CloseWrite(); err != nil {
		<-c.slots
		return c.Conn.Close()
	}
	go func() {
		defer func() { <-c.slots }()
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		_ = c.Conn.Close()
	}()
	return nil
}

// closeUnread answers the request on a connection that closes afterwards, lingering (lingerConn) because the
// client may still be sending a body nobody read.
func closeUnread(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	if c, ok := ctx.Conn().(*lingerConn); ok {
		c.linger.Store(true)
	}
}

// Shutdown stops accepting, closes idle connections and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }
