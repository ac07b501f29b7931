package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

// DayChart draws a money amount per UTC day as an SVG bar chart on the server (no script, no library), so it shows
// with JavaScript off and prints. payments' deposits chart and partners' earnings chart both draw through it.
// Amounts stay integers in minor units up to the labels; only the bars' pixel geometry is computed in floating point.

// DayAmount is one day's amount (minor units) and how many items made it.
type DayAmount struct {
	Day   time.Time // midnight UTC
	Minor int64
	Count int
}

// ChartWords are what a chart says about its figures: Class is the svg element's CSS class, What the summary's
// subject ("Completed deposits"), Item one item's word ("deposit", pluralised with an s).
type ChartWords struct {
	Class, What, Item string
}

// The drawing's box, in SVG user units; ChartTicks is how many steps the y axis has.
const (
	chartWidth, ChartHeight = 720, 260
	chartLeft, chartRight   = 96, 12
	ChartTop, ChartBottom   = 14, 40
	ChartTicks              = 4
	chartHeight, chartTop   = ChartHeight, ChartTop
	chartBottom             = ChartBottom
)

// DayChart draws days (consecutive, oldest first) in cur: a bar per day with its figures in a <title> (shown on
// hover), the amounts on the y axis, every fifth date and the last on the x axis, and an aria-label that says what
// the chart shows for screen readers. A negative day (reversals exceeding earnings) draws no bar.
func DayChart(days []DayAmount, cur money.Currency, w ChartWords) template.HTML {
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
	step := ChartStep(peak, cur)
	top := step * ChartTicks
	plotW := float64(chartWidth - chartLeft - chartRight)
	plotH := float64(chartHeight - chartTop - chartBottom)
	slot := plotW / float64(max(len(days), 1))

	var summary string
	switch {
	case len(days) == 0:
		summary = "No days to show."
	case count == 0:
		summary = fmt.Sprintf("%s in %s per day from %s to %s: none.", w.What, cur.Code, dayLabel(days[0].Day), dayLabel(days[len(days)-1].Day))
	default:
		summary = fmt.Sprintf("%s in %s per day from %s to %s: %s in %s", w.What, cur.Code, dayLabel(days[0].Day),
			dayLabel(days[len(days)-1].Day), money.Amount{Minor: total, Currency: cur}, plural(count, w.Item))
		if peakDay >= 0 {
			summary += fmt.Sprintf("; the highest day %s with %s", dayLabel(days[peakDay].Day), money.Amount{Minor: peak, Currency: cur})
		}
		summary += "."
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="%s" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">`,
		html.EscapeString(w.Class), html.EscapeString(summary), chartWidth, chartHeight)
	// The y axis: gridlines and amounts at each tick.
	for i := 0; i <= ChartTicks; i++ {
		y := float64(chartTop) + plotH - plotH*float64(i)/ChartTicks
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.2f" y2="%.2f"/>`, chartLeft, chartWidth-chartRight, y, y)
		fmt.Fprintf(&b, `<text class="y-label" x="%d" y="%.2f" text-anchor="end" dominant-baseline="middle">%s</text>`,
			chartLeft-6, y, html.EscapeString(axisAmount(step*int64(i), cur)))
	}
	fmt.Fprintf(&b, `<text class="axis-title" x="4" y="%d">%s</text>`, chartTop-2, html.EscapeString(cur.Code))
	for i, d := range days {
		x := float64(chartLeft) + slot*float64(i)
		h := 0.0
		if top > 0 && d.Minor > 0 {
			h = plotH * float64(d.Minor) / float64(top)
		}
		fmt.Fprintf(&b, `<g class="day"><title>%s: %s in %s</title><rect class="hit" x="%.2f" y="%d" width="%.2f" height="%.2f"/>`,
			html.EscapeString(d.Day.Format("Mon 2 Jan 2006")), html.EscapeString(money.Amount{Minor: d.Minor, Currency: cur}.String()),
			html.EscapeString(plural(d.Count, w.Item)), x, chartTop, slot, plotH)
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

// ChartStep is the y axis' tick step in minor units for a highest bar of peak: 1, 2, 2.5 or 5 times a power of ten,
// the smallest such that ChartTicks steps reach peak (one major unit when there is nothing to draw).
func ChartStep(peak int64, cur money.Currency) int64 {
	if peak <= 0 {
		return pow10(cur.Exponent)
	}
	need := (peak + ChartTicks - 1) / ChartTicks
	for base := int64(1); base <= math.MaxInt64/50; base *= 10 {
		for _, tenths := range []int64{10, 20, 25, 50} {
			if step := base * tenths / 10; step >= need {
				return step
			}
		}
	}
	return need
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// ChartAxisAmount is a tick's amount: without decimals when it is whole ("2,500"), else as the currency writes it.
func ChartAxisAmount(minor int64, cur money.Currency) string { return axisAmount(minor, cur) }

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
