package withdrawals

import (
	"reflect"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// The rules' page writes the rules as lines of decimals and reads them back to the same rules; a line it cannot
// read is told under its field.
func TestTheRulesFormReadsBackWhatItWrites(t *testing.T) {
	st := DefaultSettings()
	st.Tiers["vip"] = Limits{DailyCount: 10, Amounts: map[string]AmountLimits{"JPY": {Min: 100, Max: 0, Daily: 5_000_000}}}
	var f validation.Fields
	got := parseSettings(settingsFormOf(st), &f)
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, st)
	}
	d := settingsFormOf(st)
	if d.Amounts[:len("* EUR 10.00 50000.00 100000.00")] != "* EUR 10.00 50000.00 100000.00" {
		t.Errorf("amounts start %q", d.Amounts)
	}
	d.Amounts += "\nvip USD 10.001 0 0\ngold XXX 1 2 3\n* USD 1"
	d.DailyCounts += "\ngold three"
	d.SecondApproval = "USD"
	d.SLAHours = "a day"
	f = validation.Fields{}
	parseSettings(d, &f)
	v, _ := validation.As(f.Err())
	fields := map[string]int{}
	for _, fe := range v.Fields {
		fields[fe.Field]++
	}
	if fields["tiers"] != 3 || fields["daily_counts"] != 1 || fields["second_approval"] != 1 || fields["sla_hours"] != 1 {
		t.Errorf("refused fields %v", v.Fields)
	}
}
