package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/logging"
)

func TestLogLinesCarryRequestIDAndTenantFromContext(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "info").With("component", "test")
	ctx := logging.WithTenant(logging.WithRequestID(context.Background(), "req-1"), "demo")
	log.InfoContext(ctx, "hello")
	log.DebugContext(ctx, "hidden at info level")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("one JSON line expected, got %q: %v", buf.String(), err)
	}
	if line["request_id"] != "req-1" || line["tenant"] != "demo" || line["component"] != "test" || line["msg"] != "hello" {
		t.Fatalf("log line %v", line)
	}
}
