package payments

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

func series(start time.Time, minor ...int64) []DayTotal {
	out := make([]DayTotal, len(minor))
	for i, m := range minor {
		out[i] = DayTotal{Day: start.AddDate(0, 0, i), Minor: m}
		if m > 0 {
			out[i].Count = int(m/100000) + 1
		}
	}
	return out
}

var barRE = regexp.MustCompile(`<rect class="bar" x="[0-9.]+" y="([0-9.]+)" width="[0-9.]+" height="([0-9.]+)" data-minor="([0-9]+)"/>`)

func TestDepositsChartDrawsBarsProportionalToTheAmountsWithLabelsAndTitles(t *testing.T) {
	t.Parallel()
	usd := money.MustLookup("USD")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// 30 days: nothing on most, 1,250.00 on the 2nd, 5,000.00 on the 11th (the highest), 2,500.00 on the last.
	minor := make([]int64, ChartDays)
	minor[1], minor[10], minor[29] = 125000, 500000, 250000
	svg := string(depositsChart(series(start, minor...), usd))

	bars := barRE.FindAllStringSubmatch(svg, -1)
	if len(bars) != 3 {
		t.Fatalf("%d bars, want one per day with deposits (3):\n%s", len(bars), svg)
	}
	// Heights proportional to the amounts: height/amount is one constant; every bar stands on the axis.
	var ratio float64
	baseline := ""
	for i, b := range bars {
		y, _ := strconv.ParseFloat(b[1], 64)
		h, _ := strconv.ParseFloat(b[2], 64)
		m, _ := strconv.ParseFloat(b[3], 64)
		if i == 0 {
			ratio = h / m
		} else if d := h/m - ratio; d > 1e-4*ratio || d < -1e-4*ratio {
			t.Errorf("bar %d: height %.2f for %.0f, not proportional (%.6f vs %.6f)", i, h, m, h/m, ratio)
		}
		bottom := strconv.FormatFloat(y+h, 'f', 1, 64)
		if baseline == "" {
			baseline = bottom
		} else if bottom != baseline {
			t.Errorf("bar %d ends at %s, the others at %s", i, bottom, baseline)
		}
	}
	// The highest bar reaches at least half the plot: the axis is not wastefully tall.
	if h, _ := strconv.ParseFloat(bars[1][2], 64); h < float64(chartHeight-chartTop-chartBottom)/2 {
		t.Errorf("the highest bar is %.2f high", h)
	}
	for _, want := range []string{
		`role="img"`,
		`aria-label="Completed deposits in USD per day from 1 Mar 2026 to 30 Mar 2026: 8,750.00 USD in 11 deposits; the highest day 11 Mar 2026 with 5,000.00 USD."`,
		// The y axis: ticks of a round 2,000 up to 8,000, written whole.
		">0</text>", ">2,000</text>", ">4,000</text>", ">6,000</text>", ">8,000</text>",
		// The x axis: every fifth day and the last.
		">1 Mar</text>", ">6 Mar</text>", ">26 Mar</text>", ">30 Mar</text>",
		// A title per day, for hover.
		"<title>Wed 11 Mar 2026: 5,000.00 USD in 6 deposits</title>",
		"<title>Thu 5 Mar 2026: 0.00 USD in 0 deposits</title>",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart has no %s", want)
		}
	}
	if n := strings.Count(svg, "<title>"); n != ChartDays {
		t.Errorf("%d titles, want one per day", n)
	}
	if strings.Contains(svg, ">2 Mar</text>") {
		t.Error("every day is labelled: the axis is unreadable")
	}
}

func TestDepositsChartOfNothingSaysSoAndDrawsNoBar(t *testing.T) {
	t.Parallel()
	jpy := money.MustLookup("JPY")
	svg := string(depositsChart(series(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), make([]int64, ChartDays)...), jpy))
	if barRE.MatchString(svg) || !strings.Contains(svg, `aria-label="Completed deposits in JPY per day from 1 Jan 2026 to 30 Jan 2026: none."`) ||
		!strings.Contains(svg, ">4</text>") {
		t.Errorf("an empty chart:\n%s", svg)
	}
}

func TestDepositsChartEscapesItsText(t *testing.T) {
	t.Parallel()
	cur := money.Currency{Code: `<b>`, Exponent: 2}
	svg := string(depositsChart(series(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 100), cur))
	if strings.Contains(svg, "<b>") {
		t.Errorf("unescaped text in the chart: %s", svg)
	}
}

func TestNiceStepIsOneTwoTwoAndAHalfOrFiveTimesAPowerOfTen(t *testing.T) {
	t.Parallel()
	usd, kwd := money.MustLookup("USD"), money.MustLookup("KWD")
	for _, tc := range []struct {
		peak int64
		cur  money.Currency
		want int64
	}{
		{0, usd, 100},        // nothing: 1.00 a tick
		{7, usd, 2},          // 0.07: ticks of 0.02
		{400, usd, 100},      // 4.00: ticks of 1.00
		{401, usd, 200},      // just above: the next step
		{125000, usd, 50000}, // 1,250.00: ticks of 500.00
		{999999, usd, 250000},
		{1000000, usd, 250000},
		{1000001, usd, 500000},
		{12345, kwd, 5000}, // 12.345 KWD: ticks of 5.000
	} {
		if got := niceStep(tc.peak, tc.cur); got != tc.want {
			t.Errorf("niceStep(%d %s) = %d, want %d", tc.peak, tc.cur.Code, got, tc.want)
		}
		if got := niceStep(tc.peak, tc.cur); got*chartTicks < tc.peak {
			t.Errorf("niceStep(%d) = %d: %d ticks do not reach the peak", tc.peak, got, chartTicks)
		}
	}
	if got := axisAmount(2500, money.MustLookup("KWD")); got != "2.500" {
		t.Errorf("a tick of 2.500 KWD reads %q", got)
	}
}
