package web

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ParseTrustedProxies reads a comma-separated list of CIDRs or single addresses (BD_TRUSTED_PROXIES).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", part)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIPFromForwarded returns the client's address given the peer's (which must be a trusted proxy) and the
// X-Forwarded-For header it sent: the rightmost address that is not itself a trusted proxy. Each proxy appends
// the address it received the request from, so everything left of that is whatever the client chose to write
// and must not be believed. An unparsable entry ends the walk: the last address read is the answer.
func ClientIPFromForwarded(proxies []netip.Prefix, peer netip.Addr, xff string) netip.Addr {
	client := peer.Unmap()
	entries := strings.Split(xff, ",")
	for i := len(entries) - 1; i >= 0; i-- {
		if !trusted(proxies, client) {
			break
		}
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
	}
	return client
}

// forwardedFor rewrites X-Forwarded-For, for requests from a trusted proxy, to the single client address
// ClientIPFromForwarded finds. Fiber's c.IP() (set up with ProxyHeader X-Forwarded-For and the trusted proxy
// check) takes the header's leftmost entry, which the client controls; after this rewrite it is the true one, so
// every user of c.IP() (the rate limiter, the audit trail, the access log) agrees on it.
func forwardedFor(proxies []netip.Prefix) fiber.Handler {
	return func(c *fiber.Ctx) error {
		peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if !ok || !trusted(proxies, peer) {
			return c.Next()
		}
		client := ClientIPFromForwarded(proxies, peer, c.Get(fiber.HeaderXForwardedFor))
		c.Request().Header.Set(fiber.HeaderXForwardedFor, client.String())
		return c.Next()
	}
}
