package payments

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/live"
)

// The money pages, live (docs/payments.md, "Live updates"): a credited deposit notifies DepositsChannel at commit
// with its tenant's id; every API process hears it (Listen), whichever one the callback reached, and wakes the
// back office's live streams of that tenant (GET /backoffice/live/deposits, Server-Sent Events), whose script then
// fetches the page again. The feed, its LISTEN loop, the stream and the script are infra/live's; what is this
// module's is the channel, that a stream is keyed by its tenant only (a tenant's credit wakes that tenant's
// dashboards, never another's), who may open one (payments.read) and the words.

// DepositsChannel is the Postgres channel a credited deposit notifies on, at commit, with the tenant's id.
const DepositsChannel = "brokerdesk_deposits"

// liveFeed is the deposits' feed: its streams are keyed by tenant.
type liveFeed = live.Feed[uuid.UUID]

func newLiveFeed(o live.Options) *liveFeed {
	o.Event, o.Data, o.Hello = "deposit", "credited", "live deposits"
	o.NotAcceptable = "This address is a live event stream (text/event-stream) for the money pages' script."
	o.Busy = "Live updates are not available just now; reload the page to see new deposits."
	return live.New[uuid.UUID](o)
}

// Listen hears DepositsChannel on every pool (one per database cluster) until ctx ends, and wakes the dashboards
// of the tenant each notification names; then it ends the open streams. Run it in every process that serves pages.
func (s *Service) Listen(ctx context.Context, pools []*pgxpool.Pool) {
	s.live.Listen(ctx, pools, DepositsChannel, s.o.Log, func(payload string) { notifyDeposits(s.live, payload) })
}

// notifyDeposits wakes the streams of the tenant a notification names; a payload that is no tenant id wakes no one.
func notifyDeposits(f *liveFeed, payload string) {
	if id, err := uuid.Parse(payload); err == nil {
		f.Notify(id)
	}
}
