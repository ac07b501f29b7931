// Package tradingtest is the one contract every trading.Connector must pass: the same cases run against each vendor
// connector (talking to its protocol-faithful fake over real HTTP) and against the built-in simulator. A connector's
// own _test.go builds an Env for each case and calls Run.
package tradingtest

import (
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Env is one fresh platform (fake server or simulator) and a connector logged in to it. Each contract case gets its
// own Env, so cases run in parallel and never see each other's accounts.
type Env struct {
	Conn trading.Connector

	// Currency is the currency of every group below.
	Currency string
	// StandardGroup, OtherGroup and SwapFreeGroup exist on the platform; SwapFreeGroup is StandardGroup's swap-free
	// twin on group-based platforms. On platforms where swap-free is a flag or category it may equal StandardGroup.
	StandardGroup string
	OtherGroup    string
	SwapFreeGroup string

	// DropNextBalanceAnswer makes the platform apply the next balance operation and then lose the answer (the
	// connection drops, or the call times out) so the connector sees a transport failure after the money moved.
	DropNextBalanceAnswer func()
	// RateLimitNext makes the platform answer the next n calls with its own rate-limit error.
	RateLimitNext func(n int)
	// SeedDeals records n closed trade deals (buy or sell, with a symbol and a positive volume) for login on the
	// platform, deal i at from + i*(to-from)/n (UTC, so n=1 puts it exactly at from), as the platform itself would
	// store them (server-local time on MT5).
	SeedDeals func(login string, n int, from, to time.Time)
	// BalanceOps counts the balance movements the platform has applied to login (never through the connector).
	BalanceOps func(login string) int
}
