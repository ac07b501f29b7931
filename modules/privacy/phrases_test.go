package privacy_test

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
)

func TestPrivacyActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	colin, ada := audit.Ref{Name: "Colin Compliance"}, audit.Ref{Name: "Ada Lovelace"}
	cases := []struct {
		action        string
		before, after any
		want          string
	}{
		{privacy.ActionExported, nil, nil, "Colin Compliance exported the personal data of Ada Lovelace"},
		{privacy.ActionErased, m{"erased": false}, m{"erased": true}, "Colin Compliance erased the personal data of Ada Lovelace"},
		{privacy.ActionErasureRefused, nil, m{"basis": "anti-money-laundering records are kept for 5 years", "retain_until": "2031-03-01T00:00:00Z"},
			"Colin Compliance asked to erase the personal data of Ada Lovelace: refused, anti-money-laundering records are kept for 5 years (kept until 2031-03-01)"},
		{privacy.ActionSettingsChanged, m{"retention_years": 5}, m{"retention_years": 7}, "Colin Compliance changed the data-protection settings"},
		{privacy.ActionSettingsWeakened, m{"retention_years": 7}, m{"retention_years": 5, audit.WeakenedKey: []string{"retention shortened from 7 to 5 years"}},
			"Colin Compliance weakened the data-protection settings: retention shortened from 7 to 5 years"},
	}
	svc := audit.NewService(nil)
	svc.Phrases(privacy.Phrases()...)
	for _, c := range cases {
		diff, err := audit.Diff(c.before, c.after)
		if err != nil {
			t.Fatal(err)
		}
		told := svc.TellOne(audit.NewEvent(audit.Row{Action: c.action, Diff: diff}, colin, ada))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}
