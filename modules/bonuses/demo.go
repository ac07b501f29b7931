package bonuses

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DemoRuleName is the demo brokerage's rule: the seed's "bonus on your 2nd deposit".
const DemoRuleName = "2nd deposit 50% up to $500"

// DemoTerms are the demo rule's terms: 50 % of the client's second deposit up to 500.00 USD, released after 0.5 lots
// per dollar of bonus (the brokers' "bonus / 2"), deals held at least a minute, valid 60 days, one per client.
func DemoTerms() Terms {
	return Terms{Active: true, DepositNumber: 2, Percent: dec2("50"), Cap: dec2("500"), LotsPerUnit: dec2("0.5"), MinHoldSeconds: 60,
		ValidDays: 60, MaxPerClient: 1}
}

// demo makes the demo's rule once: a second start changes nothing. Deposits completed before it (the payments
// demo's) are not evaluated under it; a demo client's next second deposit is.
func (s *Service) demo(ctx context.Context, t tenants.Tenant) error {
	var exists bool
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bonus_rules WHERE name = $1)`, DemoRuleName).Scan(&exists)
	}); err != nil || exists {
		return err
	}
	_, err := s.CreateRule(ctx, t, audit.System("demo"), DemoRuleName, "USD", DemoTerms())
	return err
}
