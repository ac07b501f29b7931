package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Outcome is what the flow did with a callback (kept on its row).
type Outcome string

const (
	OutcomeCredited    Outcome = "credited"           // the wallet was credited and the deposit completed
	OutcomeProcessing  Outcome = "marked_processing"  // the processor saw a payment not yet confirmed
	OutcomeFailed      Outcome = "marked_failed"      // the deposit failed
	OutcomeIgnored     Outcome = "ignored"            // authentic, but about nothing the flow uses
	OutcomePayout      Outcome = "payout"             // about a payout: announced (EventPayoutNotified) for its payer to settle
	OutcomeAlreadyDone Outcome = "already_done"       // the deposit was already where this callback would take it
	OutcomeDuplicate   Outcome = "duplicate"          // the same event, delivered again: nothing moved
	OutcomeUnmatched   Outcome = "unmatched_no_money" // an unknown reference that carries no money (a failed payment)
	OutcomeException   Outcome = "exception"          // a case for finance; any money waits in suspense
)

// ErrUnknownGateway: no gateway of this tenant answers at the callback's URL.
var ErrUnknownGateway = errors.New("payments: no such gateway")

// CallbackResult is what HandleCallback did, with the answer the processor expects.
type CallbackResult struct {
	Ack      Ack
	Outcome  Outcome
	Deposit  uuid.UUID // the deposit the callback was about, if any
	Callback uuid.UUID
}

// HandleCallback takes one callback of the gateway slug of tenant t, exactly as received: it authenticates it, then
// records it, matches it and moves the money in one transaction (see the package doc), and only after that
// transaction commits returns the processor's acknowledgement. A callback that fails authentication is
// ErrBadSignature (nothing recorded); a database failure is returned with an acknowledgement that asks the
// processor to retry.
//
// The transaction is the callback's own, or its gateway's group commit's (group.go) when the callback is on the
// straight path (a paid deposit, as much as it asked): what it records and moves is the same either way.
func (s *Service) HandleCallback(ctx context.Context, t tenants.Tenant, slug string, h http.Header, body []byte) (CallbackResult, error) {
	// The gateway, read in one round trip of its own, authenticates the callback (in memory).
	g, sealed, err := s.readGateway(ctx, t, slug)
	if errors.Is(err, ErrNotFound) || (err == nil && g.Kind == KindManual) {
		return CallbackResult{}, ErrUnknownGateway
	}
	if err != nil {
		return CallbackResult{}, err
	}
	a, err := s.adapterFor(t, g, sealed)
	if err != nil {
		return CallbackResult{}, err
	}
	n, parseErr := a.Parse(h, body, s.o.Now())
	if errors.Is(parseErr, ErrBadSignature) {
		s.metrics.badSignatures.WithLabelValues(g.Kind).Inc()
		// Never the payload: whoever sent it is not the processor.
		s.o.Log.WarnContext(ctx, "payment callback refused: bad signature", "gateway", g.Slug, "bytes", len(body))
		return CallbackResult{}, ErrBadSignature
	}
	c := received{g: g, n: n, parseErr: err2malformed(parseErr), body: body}
	var r CallbackResult
	if c.straight() {
		var alone bool
		r, alone, err = s.joinGroup(ctx, t, c)
		if alone { // the group left it to its own transaction
			r, err = s.applyAlone(ctx, t, c)
		}
	} else {
		r, err = s.applyAlone(ctx, t, c)
	}
	if err != nil {
		s.o.Log.ErrorContext(ctx, "payment callback not handled; the processor will retry", "gateway", g.Slug, "event", n.EventID, "err", err)
		r.Ack = a.Acknowledge(n, err)
		return r, err
	}
	s.metrics.callbacks.WithLabelValues(g.Kind, string(r.Outcome)).Inc()
	r.Ack = a.Acknowledge(n, nil)
	return r, nil
}

// received is an authenticated callback of gateway g: what the processor said (n), or why it could not be read
// (parseErr: authentic but unreadable), and the body exactly as received.
type received struct {
	g        Gateway
	n        Notification
	parseErr error
	body     []byte
}

// applyAlone records and applies one callback in a transaction of its own.
func (s *Service) applyAlone(ctx context.Context, t tenants.Tenant, c received) (CallbackResult, error) {
	var r CallbackResult
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		r, err = s.recordTx(ctx, tx, t, c.g, c.n, c.parseErr, c.body)
		return err
	})
	return r, err
}

// err2malformed keeps a parse error that is not about authenticity: the callback is authentic but unreadable.
func err2malformed(err error) error {
	if err != nil && !errors.Is(err, ErrBadSignature) {
		return err
	}
	return nil
}

// storedCallback is a callback's row in payment_callbacks, as recorded: the processor's event id (a hash of the body
// for a processor that sends none), the body kept exactly (hex when Postgres text cannot hold it), the status
// ("unreadable" for a body that could not be read).
type storedCallback struct {
	id                                                     uuid.UUID
	eventID, eventType, status, reference, externalID, cur string
	amount                                                 *int64
	sum                                                    []byte
	body                                                   string
}

func (c received) row() (storedCallback, error) {
	n := c.n
	sum := sha256.Sum256(c.body)
	if n.EventID == "" {
		n.EventID = "sha256:" + hex.EncodeToString(sum[:])
	}
	text := string(c.body)
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		text = "hex:" + hex.EncodeToString(c.body) // kept exactly, in a form Postgres text takes
	}
	id, err := uuid.NewV7()
	if err != nil {
		return storedCallback{}, err
	}
	var amount *int64
	if n.AmountKnown {
		amount = &n.Amount.Minor
	}
	status := string(n.Status)
	if c.parseErr != nil {
		status = "unreadable"
	}
	return storedCallback{id: id, eventID: cut(n.EventID, 200), eventType: cut(n.Type, 100), status: status, reference: cut(n.Reference, 200),
		externalID: cut(n.ExternalID, 200), amount: amount, cur: n.Amount.Currency.Code, sum: sum[:], body: text}, nil
}

// recordTx records the callback once per processor event id and applies it.
func (s *Service) recordTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, g Gateway, n Notification, parseErr error, body []byte) (CallbackResult, error) {
	parseErr = err2malformed(parseErr)
	row, err := received{g: g, n: n, parseErr: parseErr, body: body}.row()
	if err != nil {
		return CallbackResult{}, err
	}
	if n.EventID == "" {
		n.EventID = row.eventID // the body's hash
	}
	id := row.id
	tag, err := tx.Exec(ctx, `INSERT INTO payment_callbacks (id, gateway_id, event_id, event_type, status, reference, external_id,
		amount, currency, body_sha256, body, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'received')
		ON CONFLICT (gateway_id, event_id) DO NOTHING`,
		id, g.ID, row.eventID, row.eventType, row.status, row.reference, row.externalID, row.amount, row.cur, row.sum, row.body)
	if err != nil {
		return CallbackResult{}, fmt.Errorf("payments: record callback: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return s.duplicateTx(ctx, tx, t, g, n, row.sum)
	}
	r := CallbackResult{Callback: id}
	// settle writes the callback's outcome once: before the money moves when it is a credit (the rows a credit
	// locks stay locked until the commit, so they are taken last), else at the end.
	settled := false
	settle := func(o Outcome, deposit uuid.UUID) error {
		settled = true
		var dep *uuid.UUID
		if deposit != uuid.Nil {
			dep = &deposit
		}
		// Nobody reads its answer: it travels with the transaction's next statement.
		return database.ExecLater(ctx, tx, `UPDATE payment_callbacks SET outcome = $2, deposit_id = $3 WHERE id = $1`, id, string(o), dep)
	}
	if parseErr != nil {
		r.Outcome = OutcomeException
		err = s.openExceptionTx(ctx, tx, t, exceptionSpec{Kind: CaseUnreadable, Gateway: g.ID, Callback: &id,
			Reason: "An authentic callback could not be read: " + parseErr.Error(), Dedupe: "callback:" + id.String()})
	} else if strings.HasPrefix(n.Reference, PayoutReferencePrefix) {
		// A payout's callback: no deposit to match; whoever paid out settles it in this transaction.
		r.Outcome = OutcomePayout
		err = s.o.Events.Publish(ctx, tx, t, PayoutNotified{Gateway: g.Slug, Reference: n.Reference, ExternalID: n.ExternalID,
			Status: n.Status, Amount: n.Amount.Minor, Currency: n.Amount.Currency.Code, AmountKnown: n.AmountKnown, Callback: id})
	} else {
		r.Outcome, r.Deposit, err = s.applyTx(ctx, tx, t, g, n, id, settle)
	}
	if err != nil || settled {
		return r, err
	}
	return r, settle(r.Outcome, r.Deposit)
}

// duplicateTx handles a processor event id seen before: the same body is the same event delivered again; another
// body under the same id is a conflict for finance to look at (once).
func (s *Service) duplicateTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, g Gateway, n Notification, sum []byte) (CallbackResult, error) {
	var first uuid.UUID
	var firstSum []byte
	var dep *uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT id, body_sha256, deposit_id FROM payment_callbacks WHERE gateway_id = $1 AND event_id = $2`,
		g.ID, cut(n.EventID, 200)).Scan(&first, &firstSum, &dep); err != nil { // as recorded
		return CallbackResult{}, fmt.Errorf("payments: read the first callback %s: %w", n.EventID, err)
	}
	r := CallbackResult{Callback: first, Outcome: OutcomeDuplicate}
	if dep != nil {
		r.Deposit = *dep
	}
	if hex.EncodeToString(firstSum) == hex.EncodeToString(sum) {
		return r, nil
	}
	r.Outcome = OutcomeException
	return r, s.openExceptionTx(ctx, tx, t, exceptionSpec{Kind: CaseDuplicateConflict, Gateway: g.ID, Callback: &first, Deposit: dep,
		Reason: fmt.Sprintf("The processor sent event %s again with different content; the first delivery was applied, this one was not.", n.EventID),
		Dedupe: "conflict:" + g.ID.String() + ":" + n.EventID + ":" + hex.EncodeToString(sum)})
}

// applyTx moves the deposit (and the money) as the notification says.
func (s *Service) applyTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, g Gateway, n Notification, callback uuid.UUID,
	settle func(Outcome, uuid.UUID) error) (Outcome, uuid.UUID, error) {
	if n.Status == NotifiedIgnored {
		return OutcomeIgnored, uuid.Nil, nil
	}
	d, err := s.matchTx(ctx, tx, g, n)
	if errors.Is(err, ErrNotFound) {
		if n.Status != NotifiedPaid {
			return OutcomeUnmatched, uuid.Nil, nil
		}
		return OutcomeException, uuid.Nil, s.suspendTx(ctx, tx, t, g, n, callback, nil, CaseUnknownReference,
			fmt.Sprintf("A payment arrived with reference %q, which matches no deposit of this gateway.", n.Reference))
	}
	if err != nil {
		return "", uuid.Nil, err
	}
	switch n.Status {
	case NotifiedPending:
		if d.Status != StatusPending {
			return OutcomeAlreadyDone, d.ID, nil
		}
		_, err := tx.Exec(ctx, `UPDATE deposits SET status = 'processing', updated_at = now() WHERE id = $1`, d.ID)
		return OutcomeProcessing, d.ID, err
	case NotifiedFailed:
		switch d.Status {
		case StatusPending, StatusProcessing:
			return OutcomeFailed, d.ID, s.failTx(ctx, tx, d, "The payment provider reported that the payment did not go through.")
		case StatusCompleted:
			return OutcomeException, d.ID, s.openExceptionTx(ctx, tx, t, exceptionSpec{Kind: CaseConflictingStatus, Gateway: g.ID,
				Callback: &callback, Deposit: &d.ID, Client: &d.ClientID,
				Reason: "The processor reported a failure for a deposit it had already confirmed and that was credited.",
				Dedupe: "conflict:" + d.ID.String() + ":failed"})
		}
		return OutcomeAlreadyDone, d.ID, nil
	case NotifiedRefunded:
		if d.Status != StatusCompleted {
			return OutcomeAlreadyDone, d.ID, nil
		}
		return OutcomeException, d.ID, s.openExceptionTx(ctx, tx, t, exceptionSpec{Kind: CaseRefundedAtProcessor, Gateway: g.ID,
			Callback: &callback, Deposit: &d.ID, Client: &d.ClientID,
			Reason: "The processor refunded a credited deposit outside BrokerDesk: decide whether to debit the wallet.",
			Dedupe: "refunded:" + d.ID.String() + ":" + n.EventID})
	case NotifiedPaid:
	default:
		return OutcomeIgnored, d.ID, nil
	}

	// Paid. Money already received for this deposit (credited, or held by a case) is not received twice: the same
	// payment confirmed again under another event id moves nothing; another payment (a processor's second attempt
	// under the same order) is money of its own, held for finance.
	var received []string
	if d.Status != StatusPending { // a pending deposit has received nothing yet: no query on the common path
		if received, err = receivedTx(ctx, tx, d.ID, callback); err != nil {
			return "", uuid.Nil, err
		}
	}
	if len(received) > 0 {
		for _, ext := range received {
			if ext == "" || n.ExternalID == "" || ext == n.ExternalID {
				return OutcomeAlreadyDone, d.ID, nil
			}
		}
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseLatePayment,
			fmt.Sprintf("A second payment (%s) arrived for a deposit whose payment (%s) was already received; the money waits in suspense.",
				n.ExternalID, received[0]))
	}
	switch d.Status {
	case StatusCompleted:
		return OutcomeAlreadyDone, d.ID, nil // completed without a callback (by hand): nothing of the processor's to add
	case StatusFailed, StatusCancelled:
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseLatePayment,
			"The payment arrived after the deposit had "+string(d.Status)+"; the money waits in suspense.")
	}
	if !n.AmountKnown {
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseAmountMismatch,
			"The processor confirmed a payment without saying how much arrived, so nothing was credited: check the amount at the processor.")
	}
	paid := n.Amount
	if paid.Currency.Code != d.Amount.Currency.Code {
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseCurrencyMismatch,
			fmt.Sprintf("The deposit asked for %s but %s arrived.", d.Amount, paid))
	}
	if paid.Minor != d.Amount.Minor {
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseAmountMismatch,
			fmt.Sprintf("The deposit asked for %s but %s arrived.", d.Amount, paid))
	}
	dec, err := s.o.Clients.MayTx(ctx, tx, d.ClientID, clients.ActionDeposit)
	if err != nil {
		return "", uuid.Nil, err
	}
	if !dec.Allowed {
		return OutcomeException, d.ID, s.suspendTx(ctx, tx, t, g, n, callback, &d, CaseClientRefused,
			"The money arrived but the client may not deposit now ("+dec.Reason+"); it waits in suspense.")
	}
	if err := settle(OutcomeCredited, d.ID); err != nil {
		return "", uuid.Nil, err
	}
	if err := s.completeTx(ctx, tx, t, d, g, ledger.Clearing(g.Slug, d.Amount.Currency), map[string]any{
		"callback": callback, "event": n.EventID, "external_id": n.ExternalID}, systemActor); err != nil {
		return "", uuid.Nil, err
	}
	return OutcomeCredited, d.ID, nil
}

// matchTx finds the deposit a notification is about, by our reference (the deposit id) or else by the processor's
// id, among this gateway's deposits, and locks it.
func (s *Service) matchTx(ctx context.Context, tx pgx.Tx, g Gateway, n Notification) (Deposit, error) {
	if id, err := uuid.Parse(n.Reference); err == nil {
		d, err := depositTx(ctx, tx, `d.id = $1 AND d.gateway_id = $2 FOR UPDATE OF d`, id, g.ID)
		if !errors.Is(err, ErrNotFound) {
			return d, err
		}
	}
	if n.ExternalID != "" {
		return depositTx(ctx, tx, `d.external_id = $1 AND d.gateway_id = $2 ORDER BY d.created_at DESC LIMIT 1 FOR UPDATE OF d`, n.ExternalID, g.ID)
	}
	return Deposit{}, ErrNotFound
}

// completeTx credits the client's wallet from the account money came through (a gateway's clearing account, or
// suspense when finance matches a case), completes the deposit with its number among the client's completed
// deposits, publishes deposit.completed and audits it, in tx: completeEachTx for one deposit.
func (s *Service) completeTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, d Deposit, g Gateway, from ledger.AccountSpec, meta map[string]any, actor audit.Actor) error {
	return s.completeEachTx(ctx, tx, t, g, []completion{{ctx: ctx, d: d, from: from, meta: meta, actor: actor}})
}

// completion is a deposit to complete: credited from the account money came through, with what the money came
// from (the ledger transaction's metadata), audited as actor with the origin ctx carries (the request that
// brought it).
type completion struct {
	ctx   context.Context
	d     Deposit
	from  ledger.AccountSpec
	meta  map[string]any
	actor audit.Actor
}

// completeEachTx completes deposits of gateway g in tx, one or a group's (group.go), the same steps for each:
// one ledger transaction per deposit (posted together, each under its own key "deposit:<id>"), the deposit
// completed with the next number among its client's completed deposits (1st, 2nd, ...; a client's deposits in
// the list are numbered in the list's order), deposit.completed published and the completion audited; the live
// pages are woken.
func (s *Service) completeEachTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, g Gateway, list []completion) error {
	entries := make([]ledger.Entry, len(list))
	for i, c := range list {
		c.meta["deposit"] = c.d.ID
		entries[i] = ledger.Entry{Key: "deposit:" + c.d.ID.String(), Kind: "deposit", Description: fmt.Sprintf("Deposit through %s", g.Name),
			Metadata: c.meta, Postings: []ledger.Posting{
				{Account: c.from, Amount: -c.d.Amount.Minor},
				{Account: ledger.ClientWallet(c.d.ClientID, c.d.Amount.Currency), Amount: c.d.Amount.Minor},
			}}
	}
	trs, err := s.o.Ledger.PostEachTx(ctx, tx, entries)
	if err != nil {
		return fmt.Errorf("payments: credit deposit %s: %w", list[0].d.ID, err)
	}
	deposits, owners, ledgerTxs := make([]uuid.UUID, len(list)), make([]uuid.UUID, len(list)), make([]uuid.UUID, len(list))
	for i, c := range list {
		deposits[i], owners[i], ledgerTxs[i] = c.d.ID, c.d.ClientID, trs[i].ID
	}
	// The numbers come from deposit_counts, one row per client moved once by the list's count. A client with
	// completed deposits and no row yet (none in normal running) first gets one that counts them; nobody reads
	// that statement's answer, so it travels with the next. The next statement then adds each client's count,
	// numbers the deposits from where the row stood, completes them and wakes the live pages.
	// (The CASE counts only for a client without a row: a plain filter could be evaluated first.)
	if err := database.ExecLater(ctx, tx, `INSERT INTO deposit_counts (client_id, completed)
		SELECT c, x.n FROM unnest($1::uuid[]) AS c, LATERAL (SELECT CASE WHEN EXISTS (SELECT 1 FROM deposit_counts WHERE client_id = c) THEN 0
			ELSE (SELECT count(*) FROM deposits WHERE client_id = c AND status = 'completed') END AS n) x
		WHERE x.n > 0 ORDER BY c ON CONFLICT (client_id) DO NOTHING`, owners); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `WITH g AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS g(deposit, client, ledger_tx, n)),
		per AS (SELECT client, count(*)::int AS k FROM g GROUP BY client),
		counts AS (
			INSERT INTO deposit_counts (client_id, completed) SELECT client, k FROM per ORDER BY client
			ON CONFLICT (client_id) DO UPDATE SET completed = deposit_counts.completed + excluded.completed
			RETURNING client_id, completed),
		numbered AS (
			SELECT g.deposit, g.ledger_tx, c.completed - p.k + row_number() OVER (PARTITION BY g.client ORDER BY g.n) AS number
			FROM g JOIN per p ON p.client = g.client JOIN counts c ON c.client_id = g.client)
		UPDATE deposits d SET status = 'completed', deposit_number = x.number, ledger_tx = x.ledger_tx, completed_at = now(), updated_at = now()
		FROM numbered x WHERE d.id = x.deposit
		RETURNING d.id, d.deposit_number, pg_notify($4, $5)`, deposits, owners, ledgerTxs, DepositsChannel, t.ID.String())
	if err != nil {
		return fmt.Errorf("payments: complete deposit %s: %w", list[0].d.ID, err)
	}
	numbers := make(map[uuid.UUID]int, len(list))
	var id uuid.UUID
	var number int
	if _, err := pgx.ForEachRow(rows, []any{&id, &number, nil}, func() error { numbers[id] = number; return nil }); err != nil {
		return fmt.Errorf("payments: complete deposit %s: %w", list[0].d.ID, err)
	}
	if len(numbers) != len(list) {
		return fmt.Errorf("payments: completed %d of %d deposits", len(numbers), len(list))
	}
	completed := make([]events.Event, len(list))
	for i, c := range list {
		d := c.d
		completed[i] = DepositCompleted{DepositID: d.ID, ClientID: d.ClientID, Amount: d.Amount.Minor, Currency: d.Amount.Currency.Code,
			Exponent: d.Amount.Currency.Exponent, DepositNumber: numbers[d.ID], GatewayID: g.ID, GatewayKind: g.Kind, LedgerTx: trs[i].ID,
			PromoCode: d.PromoCode}
	}
	if err := s.o.Events.PublishEach(ctx, tx, t, completed); err != nil {
		return err
	}
	for _, c := range list {
		d, number := c.d, numbers[c.d.ID]
		if err := s.o.Audit.Record(c.ctx, tx, audit.Entry{Actor: c.actor, Action: ActionDepositCompleted, Target: depositTarget(d.ID),
			Before: map[string]any{"status": d.Status}, After: map[string]any{"status": StatusCompleted, "amount": d.Amount.Decimal(),
				"currency": d.Amount.Currency.Code, "deposit_number": number, "client_id": d.ClientID, "gateway": g.Slug}}); err != nil {
			return err
		}
	}
	return nil
}

// failTx fails a deposit with a reason the client reads.
func (s *Service) failTx(ctx context.Context, tx pgx.Tx, d Deposit, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE deposits SET status = 'failed', failure = $2, updated_at = now() WHERE id = $1`, d.ID, reason); err != nil {
		return err
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionDepositFailed, Target: depositTarget(d.ID),
		Before: map[string]any{"status": d.Status}, After: map[string]any{"status": StatusFailed, "failure": reason}})
}

// receivedTx lists the processor's payment ids of the money earlier callbacks brought for a deposit: credited to the
// wallet, or held in suspense by a case.
func receivedTx(ctx context.Context, tx pgx.Tx, deposit, callback uuid.UUID) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.external_id FROM payment_callbacks c WHERE c.deposit_id = $1 AND c.id <> $2
		AND (c.outcome = 'credited' OR EXISTS (SELECT 1 FROM payment_exceptions e WHERE e.callback_id = c.id AND e.ledger_tx IS NOT NULL))`,
		deposit, callback)
	if err != nil {
		return nil, fmt.Errorf("payments: money received for deposit %s: %w", deposit, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// suspendTx moves money that arrived and cannot be credited from the gateway's clearing account to suspense, and
// opens its case. A notification that does not say how much arrived moves nothing: its case holds no money.
func (s *Service) suspendTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, g Gateway, n Notification, callback uuid.UUID, d *Deposit,
	kind CaseKind, reason string) error {
	var paid money.Amount
	if n.AmountKnown {
		paid = n.Amount
	}
	spec := exceptionSpec{Kind: kind, Gateway: g.ID, Callback: &callback, Reason: reason, Dedupe: "callback:" + callback.String()}
	if d != nil {
		spec.Deposit, spec.Client = &d.ID, &d.ClientID
	}
	if paid.Minor > 0 && paid.Currency.Code != "" {
		if _, ok := money.Lookup(paid.Currency.Code); ok {
			tr, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "suspense:" + callback.String(), Kind: "suspense_in",
				Description: "Payment held in suspense: " + string(kind), Metadata: map[string]any{"callback": callback, "event": n.EventID,
					"external_id": n.ExternalID, "reference": n.Reference},
				Postings: []ledger.Posting{{Account: ledger.Clearing(g.Slug, paid.Currency), Amount: -paid.Minor},
					{Account: ledger.Suspense(paid.Currency), Amount: paid.Minor}}})
			if err != nil {
				return err
			}
			spec.Amount, spec.LedgerTx = &paid, &tr.ID
		}
	}
	if d != nil && (d.Status == StatusPending || d.Status == StatusProcessing) {
		if _, err := tx.Exec(ctx, `UPDATE deposits SET status = 'processing', failure = $2, updated_at = now() WHERE id = $1`,
			d.ID, "Held for review by the brokerage's finance team."); err != nil {
			return err
		}
	}
	return s.openExceptionTx(ctx, tx, t, spec)
}
