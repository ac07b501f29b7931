package localsvc

import (
	"context"
	"io"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

// Chromium returns the path of a headless-capable Chromium for browser tests, installing Debian's chromium package
// through apt-get when root (test tools may not download browsers of their own here, and need not).
func Chromium(ctx context.Context, log io.Writer) (string, error) {
	return tools.System(ctx, log, "chromium", "chromium")
}

// ChromiumFlags are the flags a browser test starts Chromium with: headless, no sandbox (tests run as root), and
// none of the background traffic a closed network refuses.
var ChromiumFlags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run", "disable-background-networking",
	"disable-component-update", "disable-sync", "disable-dev-shm-usage",
}
