package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Sandbox is what `make run` gives the module so its demo can be tried by hand: where the Stripe gateway's API is
// (stripe-mock) and the generic gateway's configuration that talks to the local payment sandbox.
type Sandbox struct {
	// StripeAPIBase is stripe-mock's URL.
	StripeAPIBase string
	// GenericConfig is the generic gateway configuration (JSON) of the payment sandbox, and its API key.
	GenericConfig []byte
	GenericAPIKey string
}

// ErrNoSandbox: playing callbacks is for `make run`'s payment sandbox only.
var ErrNoSandbox = errors.New("payments: the payment sandbox runs only under make run")

// SimulateCallback plays the callback the deposit's processor would send (paid, pending or failed), signed with
// the gateway's own secret exactly as the processor signs, and hands it to HandleCallback like any other: the
// whole flow runs (signature, dedupe, matching, ledger, events). Only under `make run` (Options.Sandbox).
func (s *Service) SimulateCallback(ctx context.Context, t tenants.Tenant, depositID uuid.UUID, status NotifiedStatus, amount *money.Amount) (CallbackResult, error) {
	if s.o.Sandbox == nil {
		return CallbackResult{}, ErrNoSandbox
	}
	var d Deposit
	var g Gateway
	var sealed string
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if d, err = depositTx(ctx, tx, `d.id = $1`, depositID); err != nil {
			return err
		}
		g, sealed, err = s.gatewayTx(ctx, tx, `id = $1`, d.GatewayID, true)
		return err
	})
	if err != nil {
		return CallbackResult{}, err
	}
	kind, ok := s.kinds[g.Kind]
	if !ok || kind.Simulate == nil {
		return CallbackResult{}, fmt.Errorf("payments: %s gateways cannot be simulated", g.Kind)
	}
	secrets, err := s.o.Sealer.Open(sealPurpose, sealed)
	if err != nil {
		return CallbackResult{}, err
	}
	paid := d.Amount
	if amount != nil {
		paid = *amount
	}
	external := d.ExternalID
	if external == "" {
		external = "sandbox-" + d.ID.String()
	}
	h, body, err := kind.Simulate(g.Config, secrets, Simulated{EventID: "evt_sandbox_" + randomHex(8), Reference: d.ID.String(),
		ExternalID: external, Status: status, Amount: paid}, s.o.Now())
	clear(secrets)
	if err != nil {
		return CallbackResult{}, err
	}
	return s.HandleCallback(ctx, t, g.Slug, h, body)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// demo gives the demo brokerage its gateways (card through Stripe on stripe-mock, crypto through the payment
// sandbox, bank wires by hand), wallets with a history of deposits for its approved clients (every deposit through
// the real flow: started, called back, credited; the first two clients also have a second deposit), and two open
// cases in the exceptions queue. Idempotent: a demo that has deposits is left as it is.
func (s *Service) demo(ctx context.Context, t tenants.Tenant) error {
	if s.o.Sandbox == nil {
		return nil
	}
	var have int
	if err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM deposits`).Scan(&have)
	}); err != nil || have > 0 {
		return err
	}
	actor := audit.System("demo")
	whsec := "whsec_demo_" + randomHex(16)
	stripeCfg, _ := json.Marshal(map[string]any{"api_base": s.o.Sandbox.StripeAPIBase})
	stripeSec, _ := json.Marshal(map[string]any{"secret_key": "sk_test_demo" + randomHex(8), "webhook_secrets": []string{whsec}})
	genericSec, _ := json.Marshal(map[string]any{"webhook_secrets": []string{"ipn_demo_" + randomHex(16)}, "api_key": s.o.Sandbox.GenericAPIKey})
	for _, g := range []GatewayInput{
		{Slug: "card", Name: "Card (Stripe)", Kind: "stripe", Config: stripeCfg, Secrets: stripeSec, Currencies: []string{"USD", "EUR"},
			Limits: map[string]Limit{"USD": {Min: 1000, Max: 5_000_000}, "EUR": {Min: 1000, Max: 5_000_000}}, Enabled: true},
		{Slug: "crypto", Name: "Crypto (USDT)", Kind: "generic", Config: s.o.Sandbox.GenericConfig, Secrets: genericSec,
			Currencies: []string{"USD"}, Limits: map[string]Limit{"USD": {Min: 2000, Max: 10_000_000}}, Enabled: true},
		{Slug: "bank", Name: "Bank wire", Kind: KindManual, Config: []byte(`{}`), Currencies: []string{"USD", "EUR", "GBP"}, Enabled: true},
	} {
		if _, err := s.SaveGateway(ctx, t, actor, g); err != nil {
			return fmt.Errorf("payments demo: gateway %s: %w", g.Slug, err)
		}
	}
	approved, err := s.o.Clients.List(ctx, t, clients.Viewer{}, clients.Filter{Status: clients.StatusKYCApproved}, nil, 50)
	if err != nil {
		return err
	}
	amounts := []string{"500.00", "1250.00", "250.00", "3000.00", "750.00"}
	for i, c := range approved {
		deposits := []string{amounts[i%len(amounts)]}
		if i < 2 {
			deposits = append(deposits, "1000.00") // a second deposit: what "bonus on the 2nd deposit" rules look for
		}
		for j, amount := range deposits {
			gateway := "card"
			if (i+j)%3 == 2 {
				gateway = "crypto"
			}
			d, err := s.StartDeposit(ctx, t, c.ID, DepositRequest{Gateway: gateway, Amount: amount, Currency: "USD"})
			if err != nil {
				return fmt.Errorf("payments demo: deposit for %s: %w", c.Email, err)
			}
			if _, err := s.SimulateCallback(ctx, t, d.ID, NotifiedPaid, nil); err != nil {
				return fmt.Errorf("payments demo: confirm deposit %s: %w", d.ID, err)
			}
		}
	}
	// Two cases for finance: money with a reference nobody knows, and a deposit paid with another amount.
	g, sealed, err := s.readGateway(ctx, t, "card")
	if err != nil {
		return err
	}
	secrets, err := s.o.Sealer.Open(sealPurpose, sealed)
	if err != nil {
		return err
	}
	h, body, err := s.kinds["stripe"].Simulate(g.Config, secrets, Simulated{EventID: "evt_sandbox_" + randomHex(8),
		Reference: "INV-2207-UNKNOWN", ExternalID: "cs_test_unknown", Status: NotifiedPaid,
		Amount: money.Amount{Minor: 42000, Currency: money.MustLookup("USD")}}, s.o.Now())
	if err != nil {
		return err
	}
	if _, err := s.HandleCallback(ctx, t, "card", h, body); err != nil {
		return err
	}
	if len(approved) > 0 {
		d, err := s.StartDeposit(ctx, t, approved[len(approved)-1].ID, DepositRequest{Gateway: "card", Amount: "800.00", Currency: "USD"})
		if err != nil {
			return err
		}
		short := money.Amount{Minor: 79000, Currency: money.MustLookup("USD")}
		if _, err := s.SimulateCallback(ctx, t, d.ID, NotifiedPaid, &short); err != nil {
			return err
		}
	}
	return nil
}
