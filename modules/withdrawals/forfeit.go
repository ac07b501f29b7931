package withdrawals

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Bonus forfeiture (docs/withdrawals.md#bonuses). A withdrawal from a wallet whose currency has open bonuses gives
// up all or part of each, as the bonus's rule says (the bonus engine answers through Bonuses.ForfeitsTx). The
// client is shown what before confirming (Preview, the portal page), the request carries the confirmation
// (forfeit_bonuses), and without it a withdrawal that would forfeit is refused (422 naming forfeit_bonuses, the
// bonuses and amounts listed) with nothing held. With it, the check passes with what was given up, and
// withdrawal.forfeit_confirmed is published in the request's transaction: the bonus engine books the forfeiture
// in that transaction. The forfeiture stands when the withdrawal is later cancelled, refused, fails or expires:
// the client was told so before confirming (ForfeitNotice).

// ForfeitNotice is what the client reads before confirming a forfeiture.
const ForfeitNotice = "The bonus amounts are given up when you confirm, and stay given up even if the withdrawal is later cancelled, refused or fails."

// parseAmount reads a withdrawal's amount in currency into f's problems, as the request and the preview take it.
func parseAmount(f *validation.Fields, amount, currency string) money.Amount {
	amount, currency = strings.TrimSpace(amount), strings.ToUpper(strings.TrimSpace(currency))
	f.Required("amount", amount)
	f.Required("currency", currency)
	cur, ok := money.Lookup(currency)
	if currency != "" && !ok {
		f.Add("currency", "not a currency BrokerDesk handles")
	}
	if !ok || amount == "" {
		return money.Amount{Currency: cur}
	}
	minor, err := money.Parse(amount, cur)
	switch {
	case err != nil:
		f.Add("amount", fmt.Sprintf("an amount in %s with at most %d decimals, e.g. 250.00", cur.Code, cur.Exponent))
	case minor <= 0:
		f.Add("amount", "must be more than zero")
	case minor > ledger.MaxAmount:
		f.Add("amount", "is more than any withdrawal may take")
	}
	return money.Amount{Minor: minor, Currency: cur}
}

// forfeits asks the bonus engine what withdrawing amt would forfeit now, in a scope of its own.
func (s *Service) forfeits(ctx context.Context, t tenants.Tenant, client uuid.UUID, amt money.Amount) ([]Forfeit, error) {
	var out []Forfeit
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.o.Bonuses.ForfeitsTx(ctx, tx, client, amt)
		return err
	})
	return out, err
}

// Preview answers what withdrawing amount in currency would forfeit of the client's open bonuses now (none when
// nothing would be): the warning the client reads before confirming. Amount and currency are checked as the
// request checks them (422 naming the field); the wallet covering the amount is not (the request says so).
func (s *Service) Preview(ctx context.Context, t tenants.Tenant, client uuid.UUID, amount, currency string) (money.Amount, []Forfeit, error) {
	var f validation.Fields
	amt := parseAmount(&f, amount, currency)
	if err := f.Err(); err != nil {
		return amt, nil, err
	}
	list, err := s.forfeits(ctx, t, client, amt)
	return amt, list, err
}

// ForfeitLines are the forfeitures in words, one a bonus: "60.00 USD of your bonus 2nd deposit 50%, 120.00 USD
// (...) (pro rata: ...)".
func ForfeitLines(list []Forfeit) []string {
	out := make([]string, 0, len(list))
	for _, f := range list {
		what := f.Amount.String() + " of your bonus "
		if f.Full {
			what = "all of your bonus "
		}
		out = append(out, what+f.Bonus.Description+" ("+f.Why+")")
	}
	return out
}

// forfeitRefusal is the 422 of a withdrawal that would forfeit, unconfirmed: the field, the bonuses and amounts.
func forfeitRefusal(list []Forfeit) error {
	return validation.New("forfeit_bonuses", "this withdrawal forfeits "+strings.Join(ForfeitLines(list), "; ")+
		". Confirm giving it up (forfeit_bonuses: true) to withdraw. "+ForfeitNotice)
}

// forfeitDetail is the check's record of what was given up.
func forfeitDetail(list []Forfeit) map[string]any {
	var rows []map[string]any
	for _, f := range list {
		rows = append(rows, map[string]any{"bonus": f.Bonus.ID, "open": f.Bonus.Amount.Decimal(), "forfeited": f.Amount.Decimal(),
			"full": f.Full, "rule": f.Rule})
	}
	detail := map[string]any{"forfeits": rows}
	if len(list) > 0 {
		detail["balance"] = list[0].Balance.Decimal()
	}
	return detail
}
