// Package browsertest drives Debian's Chromium from Go tests through chromedp: pages are tested as a person sees
// them. Every host name resolves to the loopback address, so tests can visit tenant hosts such as
// http://acme.brokerdesk.test:PORT/ served by a local test server.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

// New starts a headless Chromium for the test (installing it first if needed) and returns a browser context that
// is closed at cleanup. Each call gets its own profile, so cookies never leak between tests.
func New(t testing.TB) context.Context {
	t.Helper()
	return NewFor(t, 60*time.Second)
}

// NewFor is New for a test whose browsing takes longer than a minute (a whole journey under a loaded test run):
// the browser context ends after d.
func NewFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	path, err := localsvc.Chromium(context.Background(), nil)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// Not t.TempDir: Chromium's helper processes may still write to the profile for a moment after the browser
	// is told to stop, and TempDir's cleanup fails the test on "directory not empty".
	profile, err := os.MkdirTemp("", "brokerdesk-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(profile),
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"), chromedp.WindowSize(1280, 900)}
	for _, f := range localsvc.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, d)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc() // kills the browser and waits for its main process
		deadline := time.Now().Add(10 * time.Second)
		for os.RemoveAll(profile) != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil { // start the browser now, so a broken install fails here
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// StepTimeout bounds one Step: far above what a step takes on a loaded test run, far below a browser's lifetime,
// so a hung step still leaves the browser alive to say where it stood.
const StepTimeout = 2 * time.Minute

// Step runs one named step of a browser test within StepTimeout and fails the test if it fails, saying where the
// browser was and what the page showed (a WaitVisible that never matches fails only with "context deadline
// exceeded" otherwise).
func Step(t testing.TB, browser context.Context, name string, actions ...chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(browser, StepTimeout)
	defer cancel()
	err := chromedp.Run(step, actions...)
	if err == nil {
		return
	}
	var at, text string
	look, cancelLook := context.WithTimeout(browser, 10*time.Second)
	defer cancelLook()
	if lerr := chromedp.Run(look, chromedp.Location(&at), chromedp.Text("body", &text, chromedp.ByQuery)); lerr != nil {
		at = "(the browser did not answer: " + lerr.Error() + ")"
	}
	t.Fatalf("%s: %v\nthe browser is at %s, showing:\n%.1500s", name, err, at, text)
}
