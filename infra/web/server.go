package web

import (
	"context"
	"net"
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
	srv *fasthttp.Server
}

// NewServer returns a server over a fixed set of apps that sends each request to pick(host), which must return
// one of them.
func NewServer(apps []*fiber.App, pick func(host string) *fiber.App, o Options) *Server {
	handlers := make(map[*fiber.App]fasthttp.RequestHandler, len(apps))
	for _, a := range apps {
		handlers[a] = a.Handler()
	}
	return &Server{srv: &fasthttp.Server{
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
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(l) }

// Shutdown stops accepting, closes idle connections and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }
