package partners

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The IB portal, live (docs/partners.md, "IB portal"): when the engine records commission rows it publishes
// partners.commission_recorded in the deal's (or deposit's) transaction, naming the partners the rows are of. The
// module's own OnTx subscriber turns it into a Postgres notification at commit (CommissionsChannel: the tenant and
// the partners), so every process serving pages hears it whichever worker computed the deal, and wakes the portal
// streams of those partners of that tenant only: a partner's stream (GET /portal/partner/live, Server-Sent Events)
// is keyed by the tenant and the partner its session is, never by anything the browser sends. The page's script
// then fetches the page again (narrowed to the session's partner as always) and swaps in its live parts.
//
// The feed, its LISTEN loop, the stream and the page's script are infra/live's, as payments' money pages use them
// (a bound on open streams per process, a heartbeat, a maximum age after which the browser reconnects through the
// page guard, shutdown with the process); what is this module's is the channel, the payload and its keys, and who
// may open a stream.

// EventCommissionRecorded is published when the engine records commission rows.
const EventCommissionRecorded = "partners.commission_recorded"

// CommissionRecorded says a deal (or a first deposit) got rows of these partners: paid, paid nothing or reversed;
// or, from the engine's batch of closing deals, that Deals deals did (no server, no ticket). The payload carries
// ids only; the rows are read through the service.
type CommissionRecorded struct {
	Partners   []uuid.UUID `json:"partners"`
	Source     string      `json:"source"`              // deal or cpa
	ServerID   *uuid.UUID  `json:"server_id,omitempty"` // the deal's server (deals only)
	Ticket     string      `json:"ticket"`              // the deal's ticket, or the deposit's id
	Generation int         `json:"generation"`
	Deals      int         `json:"deals,omitempty"` // a batch's deals (no ticket then)
}

// EventType implements events.Event.
func (CommissionRecorded) EventType() string { return EventCommissionRecorded }

// CommissionsChannel is the Postgres channel a commission_recorded notifies on, at commit: "<tenant id>
// <partner id>,<partner id>..." ("<tenant id> *" when the partners would not fit a notification: every partner
// stream of the tenant wakes).
const CommissionsChannel = "brokerdesk_partner_commissions"

// maxNotifyPartners keeps a notification's payload under Postgres's 8000 bytes.
const maxNotifyPartners = 150

// publishRecorded announces rows of partners (duplicates and nils left out); nothing when the module has no hall.
func (s *Service) publishRecorded(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e CommissionRecorded, partners ...*uuid.UUID) error {
	if s.o.Events == nil {
		return nil
	}
	seen := map[uuid.UUID]bool{}
	for _, p := range partners {
		if p != nil && !seen[*p] {
			seen[*p] = true
			e.Partners = append(e.Partners, *p)
		}
	}
	if len(e.Partners) == 0 {
		return nil
	}
	return s.o.Events.Publish(ctx, tx, t, e)
}

// notifyLive is the OnTx subscriber partners.live_push: the notification that wakes the partners' portal streams,
// sent with the transaction's next statement and delivered by Postgres at commit (never for a rollback).
func (s *Service) notifyLive(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e CommissionRecorded) error {
	payload := t.ID.String() + " *"
	if len(e.Partners) <= maxNotifyPartners {
		ids := make([]string, len(e.Partners))
		for i, p := range e.Partners {
			ids[i] = p.String()
		}
		payload = t.ID.String() + " " + strings.Join(ids, ",")
	}
	return database.ExecLater(ctx, tx, `SELECT pg_notify($1, $2)`, CommissionsChannel, payload)
}

// liveKey is whose stream: a partner of a tenant.
type liveKey struct{ tenant, partner uuid.UUID }

// liveFeed is the partner streams' feed: infra/live's, keyed by tenant and partner.
type liveFeed = live.Feed[liveKey]

func newLiveFeed(o live.Options) *liveFeed {
	o.Event, o.Data, o.Hello = "commission", "recorded", "live commissions"
	o.NotAcceptable = "This address is a live event stream (text/event-stream) for the partner page's script."
	o.Busy = "Live updates are not available just now; reload the page to see new commissions."
	return live.New[liveKey](o)
}

// notifyCommissions wakes the streams a notification's payload names: those partners of that tenant, or every
// partner of the tenant for "*". A payload it cannot read wakes no one.
func notifyCommissions(f *liveFeed, payload string) {
	tenantText, list, ok := strings.Cut(payload, " ")
	tenant, err := uuid.Parse(tenantText)
	if !ok || err != nil {
		return
	}
	if list == "*" {
		f.NotifyWhere(func(k liveKey) bool { return k.tenant == tenant })
		return
	}
	var keys []liveKey
	for _, p := range strings.Split(list, ",") {
		if id, err := uuid.Parse(p); err == nil {
			keys = append(keys, liveKey{tenant, id})
		}
	}
	f.Notify(keys...) // under one lock: the partners of one notification are woken together
}

// Listen hears CommissionsChannel on every pool (one per database cluster) until ctx ends and wakes the partner
// streams each notification names; then it ends the open streams. Run it in every process that serves pages.
func (s *Service) Listen(ctx context.Context, pools []*pgxpool.Pool) {
	s.live.Listen(ctx, pools, CommissionsChannel, s.o.Log, func(payload string) { notifyCommissions(s.live, payload) })
}

const (
	portalLivePath   = portalPartnerPath + "/live"
	portalScriptPath = portalPartnerPath + "/live.js"
)

func (s *Service) mountLivePages(p *pages) {
	p.shell.Page(fiber.MethodGet, portalLivePath, identity.PermPortalAccount, p.portalLive)
	p.shell.Page(fiber.MethodGet, portalScriptPath, identity.PermPortalAccount, live.ServeScript) // the live pages' script (infra/live)
}

// portalLive is the partner's live stream: its own partner's wake-ups, found from the session, as infra/live serves
// them (406 to a request that does not ask for a stream, 503 beyond live.MaxStreams). A login that is no active
// partner gets 204 (an EventSource does not reconnect after it).
func (p *pages) portalLive(c *fiber.Ctx) error {
	x, err := p.s.portalPartner(c)
	if errors.Is(err, ErrNotPartner) {
		return c.SendStatus(fiber.StatusNoContent)
	} else if err != nil {
		return err
	}
	return p.s.live.Serve(c, liveKey{tenants.Current(c).ID, x.ID})
}
