package payments

import (
	"context"
	"fmt"
	"html/template"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The 30-day deposits chart: completed deposits per day in one currency, drawn on the server as SVG (no script, no
// library), so it shows with JavaScript off and prints. Amounts stay integers in minor units up to the labels;
// only the bars' pixel geometry is computed in floating point.

// ChartDays is how many days the deposits chart shows, today included.
const ChartDays = 30

// DayTotal is one UTC day's completed deposits in one currency.
type DayTotal struct {
	Day   time.Time // midnight UTC
	Minor int64
	Count int
}

// dailyCompleted sums t's completed deposits in cur per UTC day of completion over the ChartDays days ending at
// now's day, every day present (zero when nothing completed). clientIDs limits it to those clients (nil: all).
func (s *Service) dailyCompleted(ctx context.Context, t tenants.Tenant, cur money.Currency, clientIDs []uuid.UUID) ([]DayTotal, error) {
	now := s.o.Now().UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(ChartDays - 1))
	// created_at bounds the scan to the deposits_status index's range: a deposit completes within days of its
	// start (a manual one waiting for its second approval included); 30 days more is a wide margin.
	q := `SELECT (completed_at AT TIME ZONE 'UTC')::date, sum(amount)::bigint, count(*) FROM deposits
		WHERE status = 'completed' AND currency = $1 AND created_at >= $2 AND completed_at >= $3`
	args := []any{cur.Code, first.AddDate(0, 0, -30), first}
	if clientIDs != nil {
		q += ` AND client_id = ANY($4)`
		args = append(args, clientIDs)
	}
	q += ` GROUP BY 1`
	byDay := map[time.Time]DayTotal{}
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d DayTotal
			if err := rows.Scan(&d.Day, &d.Minor, &d.Count); err != nil {
				return err
			}
			d.Day = time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, time.UTC)
			byDay[d.Day] = d
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("payments: deposits per day: %w", err)
	}
	out := make([]DayTotal, ChartDays)
	for i := range out {
		day := first.AddDate(0, 0, i)
		out[i] = byDay[day]
		out[i].Day = day
	}
	return out, nil
}

// chartTicks and niceStep are the shared chart's (web.DayChart), named here for this module's tests.
const (
	chartTicks, chartHeight, chartTop, chartBottom = web.ChartTicks, web.ChartHeight, web.ChartTop, web.ChartBottom
)

var niceStep, axisAmount = web.ChartStep, web.ChartAxisAmount

// depositsChart draws days (consecutive, oldest first) of completed deposits in cur through the shared SVG day
// chart (infra/web's DayChart).
func depositsChart(days []DayTotal, cur money.Currency) template.HTML {
	in := make([]web.DayAmount, len(days))
	for i, d := range days {
		in[i] = web.DayAmount(d)
	}
	return web.DayChart(in, cur, web.ChartWords{Class: "deposits-chart", What: "Completed deposits", Item: "deposit"})
}
