package web

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

func TestDayChartSaysItsOwnWordsAndDrawsNoBarForANegativeDay(t *testing.T) {
	usd, _ := money.Lookup("USD")
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	svg := string(DayChart([]DayAmount{{Day: day, Minor: 2250, Count: 3}, {Day: day.AddDate(0, 0, 1), Minor: -700, Count: 0}}, usd,
		ChartWords{Class: "earnings-chart", What: "Commissions earned", Item: "paying deal"}))
	for _, want := range []string{`class="earnings-chart"`, "Commissions earned in USD per day from 1 Dec 2026 to 2 Dec 2026: 15.50 USD in 3 paying deals",
		`data-minor="2250"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q: %s", want, svg)
		}
	}
	if strings.Count(svg, `class="bar"`) != 1 {
		t.Errorf("a negative day drew a bar: %s", svg)
	}
}

func TestQRSVGIsAnSVGOfDarkModulesNamingItsTextEscaped(t *testing.T) {
	svg, err := QRSVG("https://demo.example/?ref=IB-ATLAS&x=<1>")
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, `<svg class="qr"`) || !strings.Contains(s, "ref=IB-ATLAS&amp;x=&lt;1&gt;") || strings.Count(s, "h1v1h-1z") < 100 ||
		strings.Contains(s, "<1>") {
		t.Errorf("the QR code: %.300s", s)
	}
}
