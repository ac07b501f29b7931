package payments

import (
	"testing"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/live"
)

// A deposit's notification names its tenant: it wakes that tenant's streams only, and a payload that is no tenant
// id wakes no one. (The feed itself, its LISTEN loop and the stream are infra/live's, tested there; the stream of a
// credited deposit end to end in cmd/brokerdesk's TestLiveStreamSendsAnEventWhenADepositOfTheTenantIsCredited.)
func TestADepositNotificationWakesItsTenantsStreamsOnly(t *testing.T) {
	t.Parallel()
	f := newLiveFeed(live.Options{})
	tenant, other := uuid.New(), uuid.New()
	mine, cancelMine := f.Subscribe(tenant)
	defer cancelMine()
	theirs, cancelTheirs := f.Subscribe(other)
	defer cancelTheirs()
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		payload     string
		mine, other bool
	}{
		{tenant.String(), true, false},
		{other.String(), false, true},
		{"not a tenant", false, false},
		{"", false, false},
		{tenant.String() + " " + other.String(), false, false},
	} {
		notifyDeposits(f, tc.payload)
		if woken(mine) != tc.mine || woken(theirs) != tc.other {
			t.Errorf("%q woke the wrong streams", tc.payload)
		}
	}
}
