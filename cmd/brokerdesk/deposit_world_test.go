package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// The deposit pipeline's benchmark (deposit_bench_test.go) and crash test (deposit_crash_test.go) share one world:
// a tenant with a Stripe gateway on stripe-mock whose webhook secret the test knows, approved clients, and pending
// deposits inserted in bulk, each paid by one signed checkout.session.completed callback.

const (
	depositGateway       = "card"
	depositWebhookSecret = "whsec_deposit_pipeline_0123456789"
)

var depositCurrency = money.MustLookup("USD")

// depositWorld is one tenant of a running app, ready to take deposit callbacks.
type depositWorld struct {
	a       *app
	ten     tenants.Tenant
	gateway uuid.UUID
	clients []uuid.UUID
}

// pendingDeposit is a deposit waiting for its processor's confirmation.
type pendingDeposit struct {
	ID      uuid.UUID
	Client  uuid.UUID
	Amount  int64 // minor units of depositCurrency
	Created int64 // when the processor's event happened (Unix seconds): part of its callback's body
}

// newDepositWorld provisions a tenant with the Stripe gateway and n kyc_approved clients, on the platform's cluster
// (BD_DATABASE_URL's, where the benchmark's pgbench database lives too).
func newDepositWorld(t testing.TB, a *app, n int) *depositWorld {
	t.Helper()
	ctx := context.Background()
	ten, err := a.provisioner.Create(ctx, tenants.Request{Slug: "d" + tenanttest.RandomLabel(10), DisplayName: "Deposit FX",
		AdminEmail: "owner@deposit.example", Cluster: database.PlatformCluster})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")})
	sec, _ := json.Marshal(map[string]any{"secret_key": "sk_test_deposit_pipeline", "webhook_secrets": []string{depositWebhookSecret}})
	g, err := a.payments.SaveGateway(ctx, ten, audit.System("test"), payments.GatewayInput{Slug: depositGateway, Name: "Card (Stripe)",
		Kind: "stripe", Config: cfg, Secrets: sec, Currencies: []string{depositCurrency.Code}, Enabled: true})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	w := &depositWorld{a: a, ten: ten, gateway: g.ID}
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, kyc_approved_at)
			SELECT gen_random_uuid(), 'depositor' || g || '@example.com', 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25',
				'kyc_approved', now()
			FROM generate_series(1, $1) g RETURNING id`, n)
		if err != nil {
			return err
		}
		w.clients, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		t.Fatalf("clients: %v", err)
	}
	return w
}

// host is the tenant's host, as the processor's callbacks name it.
func (w *depositWorld) host() string { return hostOf(w.ten) }

// addPending records n pending deposits of the gateway, spread at random over the clients, with amounts from 10.00
// to 99.99, in one statement: what the portal's StartDeposit leaves behind before the client pays.
func (w *depositWorld) addPending(t testing.TB, n int) []pendingDeposit {
	t.Helper()
	out := make([]pendingDeposit, n)
	ids, owners, amounts := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]int64, n)
	for i := range out {
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pendingDeposit{ID: id, Client: w.clients[rand.IntN(len(w.clients))], Amount: 1000 + rand.Int64N(9000),
			Created: time.Now().Unix()}
		ids[i], owners[i], amounts[i] = out[i].ID, out[i].Client, out[i].Amount
	}
	err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO deposits (id, client_id, gateway_id, amount, currency, exponent, status, created_by)
			SELECT d.id, d.client_id, $4, d.amount, $5, $6, 'pending', 'client:' || d.client_id
			FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS d (id, client_id, amount)`,
			ids, owners, amounts, w.gateway, depositCurrency.Code, depositCurrency.Exponent)
		return err
	})
	if err != nil {
		t.Fatalf("pending deposits: %v", err)
	}
	return out
}

// depositCallback is the body of Stripe's checkout.session.completed event (paid) for d, with an event id of its
// own. Its bytes depend on d only, so a redelivery is the same event (other bytes under the same event id would be
// a conflict for finance).
func depositCallback(d pendingDeposit) []byte {
	id := hex.EncodeToString(d.ID[:])
	return fmt.Appendf(nil, `{"id":"evt_%s","object":"event","api_version":"2023-10-16","created":%d,"data":{"object":`+
		`{"id":"cs_test_%s","object":"checkout.session","amount_total":%d,"client_reference_id":"%s","currency":"usd",`+
		`"metadata":{"deposit":"%s"},"mode":"payment","payment_intent":"pi_%s","payment_status":"paid","status":"complete"}},`+
		`"livemode":false,"pending_webhooks":1,"type":"checkout.session.completed"}`,
		id, d.Created, id, d.Amount, d.ID, d.ID, id)
}

// signCallback is the Stripe-Signature header of body as Stripe signs one delivery attempt made at `at` (each
// attempt is signed anew, so a redelivery carries a fresh timestamp).
func signCallback(body []byte, at time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: depositWebhookSecret,
		Timestamp: at}).Header
}

// count runs a query of one integer in the tenant's scope.
func (w *depositWorld) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, q, args...).Scan(&n)
	}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// awaitCompleted waits until the paid deposits are completed (callbacks still in the server when the load stopped
// finish after their client gave up on them) and fails after timeout, saying what became of the missing ones.
func (w *depositWorld) awaitCompleted(t testing.TB, paid []pendingDeposit, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := w.count(t, `SELECT count(*) FROM deposits WHERE status = 'completed'`)
		if got >= int64(len(paid)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deposits completed within %v, want %d; %s", got, timeout, len(paid), w.missing(t, paid))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missing says what became of the paid deposits that are not completed: their status, and whether the server
// recorded their callback at all.
func (w *depositWorld) missing(t testing.TB, paid []pendingDeposit) string {
	t.Helper()
	done := map[string]bool{}
	for _, id := range w.completedIDs(t) {
		done[id] = true
	}
	var ids []uuid.UUID
	for _, d := range paid {
		if !done[d.ID.String()] {
			ids = append(ids, d.ID)
		}
	}
	var out []string
	err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT d.id::text || ': ' || d.status || ', ' || count(c.id) || ' callback row(s) ' ||
				coalesce(string_agg(c.outcome, ','), '')
			FROM deposits d LEFT JOIN payment_callbacks c ON c.deposit_id = d.id
			WHERE d.id = ANY($1) GROUP BY d.id, d.status ORDER BY d.id LIMIT 20`, ids)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d paid deposits not completed: %s", len(ids), strings.Join(out, "; "))
}

// checkCreditedOnce checks that exactly the deposits paid were credited, each once: the completed deposits are
// those, each with one ledger transaction and one callback row that credited it; each client's deposits are
// numbered 1..k; no case was opened; every wallet holds the sum of its client's paid deposits; the ledger verifies.
func (w *depositWorld) checkCreditedOnce(t testing.TB, paid []pendingDeposit) {
	t.Helper()
	ctx := context.Background()
	want := make([]uuid.UUID, len(paid))
	sums := map[uuid.UUID]int64{}
	for i, d := range paid {
		want[i] = d.ID
		sums[d.Client] += d.Amount
	}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	var completed []uuid.UUID
	var other, badNumbers, ledgerTx, callbacks, events, credited, cases int64
	err := w.a.gate.ScopeWith(ctx, w.ten, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM deposits WHERE status = 'completed' ORDER BY id`)
		if err != nil {
			return err
		}
		if completed, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM deposits WHERE status NOT IN ('completed', 'pending')),
			(SELECT count(*) FROM (SELECT client_id FROM deposits WHERE status = 'completed' GROUP BY client_id
				HAVING count(DISTINCT deposit_number) <> count(*) OR max(deposit_number) <> count(*)) x),
			(SELECT count(*) FROM ledger_transactions WHERE kind = 'deposit'),
			(SELECT count(*) FROM payment_callbacks),
			(SELECT count(DISTINCT event_id) FROM payment_callbacks),
			(SELECT count(*) FROM payment_callbacks WHERE outcome = 'credited'),
			(SELECT count(*) FROM payment_exceptions)`).Scan(&other, &badNumbers, &ledgerTx, &callbacks, &events, &credited, &cases)
	})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(paid))
	if !slices.Equal(completed, want) {
		t.Errorf("%d deposits completed, want exactly the %d paid (%d of them completed)", len(completed), n, overlap(completed, want))
	}
	if other != 0 || badNumbers != 0 || cases != 0 {
		t.Errorf("%d deposits neither completed nor pending, %d clients whose deposit numbers are not 1..k, %d exception cases; want none",
			other, badNumbers, cases)
	}
	if ledgerTx != n || callbacks != n || events != n || credited != n {
		t.Errorf("%d deposit ledger transactions, %d callback rows of %d events, %d of which credited; want %d of each",
			ledgerTx, callbacks, events, credited, n)
	}
	wrong := 0
	for _, c := range w.clients {
		b, err := w.a.ledger.Balance(ctx, w.ten, ledger.ClientWallet(c, depositCurrency).Code)
		if errors.Is(err, ledger.ErrNotFound) {
			err = nil // never credited: an empty wallet
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.Posted != sums[c] {
			if wrong++; wrong <= 5 {
				t.Errorf("client %s: wallet %d, want %d (the sum of its paid deposits)", c, b.Posted, sums[c])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d wallets differ from the sum of their deposits", wrong, len(w.clients))
	}
	r, err := w.a.ledger.Verify(ctx, w.ten)
	if err != nil || !r.OK() {
		t.Fatalf("ledger verify: %v %v", r.Problem, err)
	}
	t.Logf("checked: %d deposits credited once each, %d wallets, ledger verify clean (%d transactions, %d postings, %v)",
		n, len(w.clients), r.Transactions, r.Postings, r.Took.Round(time.Millisecond))
}

// overlap is how many of the sorted ids got are in the sorted ids want.
func overlap(got, want []uuid.UUID) int {
	n := 0
	for _, id := range got {
		if _, ok := slices.BinarySearchFunc(want, id, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }); ok {
			n++
		}
	}
	return n
}

// completedIDs are the ids of the world's completed deposits.
func (w *depositWorld) completedIDs(t testing.TB) []string {
	t.Helper()
	var out []string
	err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text FROM deposits WHERE status = 'completed'`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// redeliverUnfinished sends again, as the processor would, the callback of every deposit in sent that is not
// completed (its first delivery went unanswered when the load stopped), until each is answered 200, and returns
// how many it sent again.
func (w *depositWorld) redeliverUnfinished(t testing.TB, base string, sent []pendingDeposit) int {
	t.Helper()
	ids := make([]uuid.UUID, len(sent))
	byID := map[uuid.UUID]pendingDeposit{}
	for i, d := range sent {
		ids[i], byID[d.ID] = d.ID, d
	}
	var open []uuid.UUID
	err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM deposits WHERE id = ANY($1) AND status <> 'completed'`, ids)
		if err != nil {
			return err
		}
		open, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range open {
		body := depositCallback(byID[id])
		for attempt := 1; ; attempt++ {
			status, err := w.deliver(http.DefaultClient, base, body)
			if status == http.StatusOK {
				break
			}
			if attempt == 5 {
				t.Fatalf("redelivery of deposit %s's callback: %d %v", id, status, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return len(open)
}

// deliver posts one callback to the gateway's webhook at base (http://host:port), signed now as each of Stripe's
// delivery attempts is, and returns the answer's status.
func (w *depositWorld) deliver(client *http.Client, base string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+payments.WebhookPath(depositGateway), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Host = w.host()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signCallback(body, time.Now()))
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
