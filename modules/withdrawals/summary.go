package withdrawals

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Summary is what a decision on a client's withdrawal looks at beside its checks, in the withdrawal's currency:
// money in and out by method, net deposits, open bonuses, and recent trading.
type Summary struct {
	DepositsByMethod     []MethodTotal
	WithdrawalsByMethod  []MethodTotal
	Deposited, Withdrawn money.Amount
	// Net is deposits minus paid withdrawals.
	Net         money.Amount
	Bonuses     []OpenBonus
	BonusEngine bool
	// Lots30d are the lots the client closed in the last 30 days (from the trading desk's deal events).
	Lots30d decimal.Decimal
}

// MethodTotal is money by one method.
type MethodTotal struct {
	Method string
	Count  int
	Total  money.Amount
}

// SummaryOf reads w's client's summary.
func (s *Service) SummaryOf(ctx context.Context, t tenants.Tenant, w Withdrawal) (Summary, error) {
	cur := w.Amount.Currency
	sum := Summary{BonusEngine: s.o.Bonuses.Installed(), Deposited: money.Amount{Currency: cur}, Withdrawn: money.Amount{Currency: cur}}
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		in, err := s.o.MoneyIn.MoneyInTx(ctx, tx, w.ClientID, cur.Code)
		if err != nil {
			return err
		}
		byMethod := map[string]*MethodTotal{}
		for _, d := range in.Deposits {
			m := byMethod[d.GatewayName]
			if m == nil {
				m = &MethodTotal{Method: d.GatewayName, Total: money.Amount{Currency: cur}}
				byMethod[d.GatewayName] = m
			}
			m.Count++
			m.Total.Minor += d.Amount.Minor
			sum.Deposited.Minor += d.Amount.Minor
		}
		sum.DepositsByMethod = sorted(byMethod)
		rows, err := tx.Query(ctx, `SELECT l.kind, l.gateway_slug, count(DISTINCT l.withdrawal_id), sum(l.amount)::bigint
			FROM withdrawal_legs l JOIN withdrawals w ON w.id = l.withdrawal_id
			WHERE w.client_id = $1 AND w.currency = $2 AND l.status = 'paid' GROUP BY l.kind, l.gateway_slug`, w.ClientID, cur.Code)
		if err != nil {
			return err
		}
		var kind, slug string
		var n int
		var total int64
		out := map[string]*MethodTotal{}
		if _, err := pgx.ForEachRow(rows, []any{&kind, &slug, &n, &total}, func() error {
			name := map[string]string{string(LegCardRefund): "Card refunds", string(LegBank): "Bank transfers"}[kind]
			if name == "" {
				name = slug
			}
			out[name] = &MethodTotal{Method: name, Count: n, Total: money.Amount{Minor: total, Currency: cur}}
			sum.Withdrawn.Minor += total
			return nil
		}); err != nil {
			return err
		}
		sum.WithdrawalsByMethod = sorted(out)
		sum.Net = money.Amount{Minor: sum.Deposited.Minor - sum.Withdrawn.Minor, Currency: cur}
		if sum.Bonuses, err = s.o.Bonuses.OpenBonusesTx(ctx, tx, w.ClientID, cur.Code); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(sum(lots), 0) FROM withdrawal_trading WHERE client_id = $1 AND closed_at >= $2 AND NOT cancelled`,
			w.ClientID, s.o.Now().Add(-30*24*time.Hour)).Scan(&sum.Lots30d)
	})
	return sum, err
}

func sorted(m map[string]*MethodTotal) []MethodTotal {
	out := make([]MethodTotal, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b MethodTotal) int { return cmp.Compare(b.Total.Minor, a.Total.Minor) })
	return out
}
