package partners

import (
	"html/template"
	"io"
	"testing"

	"github.com/google/uuid"
)

// The new pages' templates draw every part with data in it (the HTTP tests see them mostly empty): the report with
// groups, partner totals and the report's totals; the plan form with a refused line, a preview and versions; the
// partner page's forms with refusals.
func TestTheEditorReportAndChangeTemplatesDrawWithData(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	row := ReportRowResponse{Period: "2026-12", PartnerID: id.String(), Partner: "Atlas", Symbol: "XAUUSD", Level: 1, Currency: "USD", Deals: 2, Lots: "3",
		Paid: "30.00", Reversed: "-10.00", Net: "20.00"}
	for _, tc := range []struct {
		file string
		data any
	}{
		{"pages/partners_report.html", reportPage{PerShown: true, Cut: true, Error: "That filter is not valid:", Problems: []string{"per: x"},
			Partners: []option{{Value: id.String(), Label: "Atlas", Selected: true}}, Rows: []reportLine{{ReportRowResponse: row}, {ReportRowResponse: row, Total: true}},
			Totals: []ReportRowResponse{row}}},
		{"pages/partners_plan.html", planFormPage{Action: plansPath + "/x", Name: "Gold", Currency: "USD", Latest: 2, Shown: 1, Next: 3, Notice: "Saved",
			Problem: "Nothing was saved", Lines: []lineField{{Index: 0, Symbol: "EURUSD", PerLot: "5", Error: "per_lot.0: must be"}},
			Errors: map[string]string{"rules.groups": "bad", "deal.lots": "bad"}, Versions: []versionRow{{Version: "v1", Shown: true}, {Version: "v2"}},
			PayOns: payOnOptions("both"), Deals: []option{{Value: "partner=x", Label: "a deal"}}, Says: "this deal would pay Atlas 7.00 USD",
			Preview: []previewRow{{Level: 1, Partner: "Atlas", Plan: "this draft", Amount: "7.00 USD", Kind: "paid", Why: "1 lots x 7 a lot (default)"}}}},
		{"pages/partners_partner.html", partnerPage{Name: "Atlas", Actions: actionsView{Base: partnersPath + "/x", CanApprove: true, CanReject: true,
			Failed: "move", Errors: map[string]string{"reason": "is required", "": "the partner is active."}, Notice: "done",
			Plans: []option{{Value: "p", Label: "Plan"}}, Parents: []option{{Value: "", Label: "none"}}, Clients: []option{{Value: "c", Label: "Dora"}}}}},
	} {
		tpl, err := template.ParseFS(PageFiles, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := tpl.ExecuteTemplate(io.Discard, "content", struct{ Data any }{tc.data}); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}
