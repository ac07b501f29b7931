package payments

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
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

// chartGeometry is the drawing's box, in SVG user units.
const (
	chartWidth, chartHeight = 720, 260
	chartLeft, chartRight   = 96, 12
	chartTop, chartBottom   = 14, 40
	chartTicks              = 4
)

// depositsChart draws days (consecutive, oldest first) of completed deposits in cur as an SVG bar chart: a bar per
// day with its figures in a <title> (shown on hover), the amounts on the y axis, every fifth date and the last on
// the x axis, and an aria-label that says what the chart shows for screen readers.
func depositsChart(days []DayTotal, cur money.Currency) template.HTML {
	var total, peak int64
	var count int
	peakDay := -1
	for i, d := range days {
		total += d.Minor
		count += d.Count
		if d.Minor > peak {
			peak, peakDay = d.Minor, i
		}
	}
	step := niceStep(peak, cur)
	top := step * chartTicks
	plotW := float64(chartWidth - chartLeft - chartRight)
	plotH := float64(chartHeight - chartTop - chartBottom)
	slot := plotW / float64(max(len(days), 1))

	var summary string
	switch {
	case len(days) == 0:
		summary = "No days to show."
	case count == 0:
		summary = fmt.Sprintf("Completed deposits in %s per day from %s to %s: none.", cur.Code, dayLabel(days[0].Day), dayLabel(days[len(days)-1].Day))
	default:
		summary = fmt.Sprintf("Completed deposits in %s per day from %s to %s: %s in %s; the highest day %s with %s.",
			cur.Code, dayLabel(days[0].Day), dayLabel(days[len(days)-1].Day), money.Amount{Minor: total, Currency: cur}, plural(count, "deposit"),
			dayLabel(days[peakDay].Day), money.Amount{Minor: peak, Currency: cur})
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="deposits-chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">`,
		html.EscapeString(summary), chartWidth, chartHeight)
	// The y axis: gridlines and amounts at each tick.
	for i := 0; i <= chartTicks; i++ {
		y := float64(chartTop) + plotH - plotH*float64(i)/chartTicks
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.2f" y2="%.2f"/>`, chartLeft, chartWidth-chartRight, y, y)
		fmt.Fprintf(&b, `<text class="y-label" x="%d" y="%.2f" text-anchor="end" dominant-baseline="middle">%s</text>`,
			chartLeft-6, y, html.EscapeString(axisAmount(step*int64(i), cur)))
	}
	fmt.Fprintf(&b, `<text class="axis-title" x="4" y="%d">%s</text>`, chartTop-2, html.EscapeString(cur.Code))
	for i, d := range days {
		x := float64(chartLeft) + slot*float64(i)
		h := 0.0
		if top > 0 {
			h = plotH * float64(d.Minor) / float64(top)
		}
		fmt.Fprintf(&b, `<g class="day"><title>%s: %s in %s</title><rect class="hit" x="%.2f" y="%d" width="%.2f" height="%.2f"/>`,
			html.EscapeString(d.Day.Format("Mon 2 Jan 2006")), html.EscapeString(money.Amount{Minor: d.Minor, Currency: cur}.String()),
			plural(d.Count, "deposit"), x, chartTop, slot, plotH)
		if d.Minor > 0 {
			fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" data-minor="%d"/>`,
				x+slot*0.15, float64(chartTop)+plotH-h, slot*0.7, h, d.Minor)
		}
		b.WriteString(`</g>`)
		if i%5 == 0 || i == len(days)-1 {
			fmt.Fprintf(&b, `<text class="x-label" x="%.2f" y="%d" text-anchor="middle">%s</text>`,
				x+slot/2, chartHeight-chartBottom+16, html.EscapeString(d.Day.Format("2 Jan")))
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%.2f" y2="%.2f"/>`, chartLeft, chartWidth-chartRight,
		float64(chartTop)+plotH, float64(chartTop)+plotH)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// niceStep is the y axis' tick step in minor units for a highest bar of peak: 1, 2, 2.5 or 5 times a power of ten,
// the smallest such that chartTicks steps reach peak (one major unit when there is nothing to draw).
func niceStep(peak int64, cur money.Currency) int64 {
	if peak <= 0 {
		return pow10(cur.Exponent)
	}
	need := (peak + chartTicks - 1) / chartTicks
	for base := int64(1); base <= math.MaxInt64/50; base *= 10 {
		for _, tenths := range []int64{10, 20, 25, 50} {
			if step := base * tenths / 10; step >= need {
				return step
			}
		}
	}
	return need
}

// axisAmount is a tick's amount: without decimals when it is whole ("2,500"), else as the currency writes it.
func axisAmount(minor int64, cur money.Currency) string {
	unit := pow10(cur.Exponent)
	if minor%unit == 0 {
		return money.Grouped(minor/unit, money.Currency{Code: cur.Code})
	}
	return money.Grouped(minor, cur)
}

func dayLabel(d time.Time) string { return d.Format("2 Jan 2006") }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
