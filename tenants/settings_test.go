package tenants_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestSettingsKeepDefaultsForWhatWasNeverSavedAndStayInTheirTenant(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a, b := p.NewTenant(t, ""), p.NewTenant(t, "")
	ctx := context.Background()
	type rules struct {
		Days    int      `json:"days"`
		Blocked []string `json:"blocked"`
	}
	load := func(ten tenants.Tenant) (rules, bool) {
		t.Helper()
		r := rules{Days: 30}
		var found bool
		if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			found, err = tenants.LoadSetting(ctx, tx, "test_rules", &r)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return r, found
	}
	if r, found := load(a); found || r.Days != 30 {
		t.Fatalf("never saved: %+v found=%v, want the defaults and not found", r, found)
	}
	if err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		if err := tenants.SaveSetting(ctx, tx, "test_rules", map[string]any{"blocked": []string{"KP"}}); err != nil {
			return err
		}
		return tenants.SaveSetting(ctx, tx, "test_rules", map[string]any{"blocked": []string{"KP", "IR"}}) // replaces
	}); err != nil {
		t.Fatal(err)
	}
	if r, found := load(a); !found || r.Days != 30 || len(r.Blocked) != 2 {
		t.Fatalf("after saving a value without days: %+v found=%v, want days kept at the default and two countries", r, found)
	}
	outside := rules{Days: 30} // the same read in one round trip, outside a transaction
	if found, err := p.Gate.LoadSetting(ctx, a, "test_rules", &outside); err != nil || !found || outside.Days != 30 || len(outside.Blocked) != 2 {
		t.Fatalf("Gate.LoadSetting: %+v found=%v err=%v", outside, found, err)
	}
	if r, found := load(b); found || len(r.Blocked) != 0 {
		t.Fatalf("tenant B sees tenant A's setting: %+v", r)
	}
}

func TestSettingOrOverlaysTheStoredValueOnTheDefaultsAndGivesTheDefaultsOnAnError(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	type rules struct {
		Days    int      `json:"days"`
		Blocked []string `json:"blocked"`
	}
	defaults := func() rules { return rules{Days: 30, Blocked: []string{"KP"}} }
	read := func() (rules, error) { return tenants.ReadSettingOr(ctx, p.Gate, ten, "test_rules", defaults) }
	if r, err := read(); err != nil || r.Days != 30 || len(r.Blocked) != 1 {
		t.Fatalf("never saved: %+v %v, want the defaults", r, err)
	}
	var inTx rules
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tenants.SaveSetting(ctx, tx, "test_rules", map[string]any{"blocked": []string{"IR", "KP"}}); err != nil {
			return err
		}
		var err error
		inTx, err = tenants.SettingOr(ctx, tx, "test_rules", defaults)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r, err := read(); err != nil || r.Days != 30 || len(r.Blocked) != 2 || len(inTx.Blocked) != 2 || inTx.Days != 30 {
		t.Fatalf("saved without days: read %+v (%v), in the transaction %+v; want days 30 and two countries", r, err, inTx)
	}
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		// blocked decodes before days fails: the answer must still be the whole defaults.
		return tenants.SaveSetting(ctx, tx, "test_rules", json.RawMessage(`{"blocked":["IR"],"days":"thirty"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if r, err := read(); err == nil || r.Days != 30 || len(r.Blocked) != 1 || r.Blocked[0] != "KP" {
		t.Fatalf("a stored value that does not decode: %+v %v, want the defaults and an error", r, err)
	}
}
