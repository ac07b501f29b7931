package main

import (
	"context"
	"os"
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
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs, err := localsvc.MailpitMessages(ctx, os.Getenv("BD_MAILPIT_URL"), email)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			if !strings.Contains(msgs[0].Text, "https://"+ten.Slug+".brokerdesk.test/portal/password-reset/") {
				t.Fatalf("no portal reset link in %q", msgs[0].Text)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker sent no reset email")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
