package localsvc_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

func TestSecondLockOnTheSameDataIsRefusedUntilReleased(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev.lock")
	release, err := localsvc.TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localsvc.TryLock(path); !errors.Is(err, localsvc.ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	release()
	again, err := localsvc.TryLock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

func TestEndpointsRenderTheVariablesTheAppReads(t *testing.T) {
	t.Parallel()
	e := localsvc.Endpoints{DatabaseURL: "postgres://a", ExtraClusters: []string{"c2=postgres://b", "c3=postgres://c"}, RedisURL: "redis://r/0"}
	got := e.Env()
	want := []string{"BD_DATABASE_URL=postgres://a", "BD_DATABASE_CLUSTERS=c2=postgres://b;c3=postgres://c", "BD_REDIS_URL=redis://r/0"}
	if !slices.Equal(got, want) {
		t.Fatalf("Env() = %v, want %v (empty endpoints left out)", got, want)
	}
}

func TestStartWithAGivenDatabaseURLStartsNoPostgres(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BD_DATABASE_URL": "postgres://elsewhere/db", "BD_DATABASE_CLUSTERS": "eu=postgres://eu/db"}
	r, err := localsvc.Start(t.Context(), localsvc.Options{Dir: t.TempDir(), Services: []localsvc.Service{localsvc.Postgres},
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if r.Endpoints.DatabaseURL != "postgres://elsewhere/db" || !slices.Equal(r.Endpoints.ExtraClusters, []string{"eu=postgres://eu/db"}) {
		t.Fatalf("endpoints %+v", r.Endpoints)
	}
}
