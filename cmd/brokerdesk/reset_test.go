package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestTheWorkerEmailsAPasswordResetRequestedThroughTheOutbox(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	email := "trader-" + strings.ToLower(tenanttest.RandomLabel(8)) + "@harbour.example"
	if _, err := a.identity.CreatePortalUser(ctx, ten, email, "Harbour-Lights-77", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.identity.RequestReset(ctx, ten, identity.Portal, email); err != nil {
		t.Fatal(err)
	}
	w, err := a.startWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown()
	m := localsvc.AwaitMail(t, email, 1, 15*time.Second)[0]
	if !strings.Contains(m.Text, "https://"+ten.Slug+".brokerdesk.test/portal/password-reset/") {
		t.Fatalf("no portal reset link in %q", m.Text)
	}
}
