// Package browsertest drives Debian's Chromium from Go tests through chromedp: pages are tested as a person sees
// them. Every host name resolves to the loopback address, so tests can visit tenant hosts such as
// http://acme.brokerdesk.test:PORT/ served by a local test server.
package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

// New starts a headless Chromium for the test (installing it first if needed) and returns a browser context that
// is closed at cleanup. Each call gets its own profile, so cookies never leak between tests.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := localsvc.Chromium(context.Background(), nil)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"), chromedp.WindowSize(1280, 900)}
	for _, f := range localsvc.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil { // start the browser now, so a broken install fails here
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
