package staff_test

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
)

func TestStaffActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	svc := audit.NewService(nil)
	svc.Phrases(staff.Phrases()...)
	cases := []struct {
		actor audit.Ref
		after any
		want  string
	}{
		{audit.Ref{Name: "Ada Admin"}, map[string]any{"email": "rita@example.com", "roles": []string{"retention", "ib_manager"}},
			"Ada Admin invited Rita Retention as retention, ib manager"},
		{audit.Ref{Name: "BrokerDesk"}, map[string]any{"email": "owner@example.com"}, "BrokerDesk invited Rita Retention"},
	}
	for _, c := range cases {
		diff, err := audit.Diff(nil, c.after)
		if err != nil {
			t.Fatal(err)
		}
		told := svc.TellOne(audit.NewEvent(audit.Row{Action: staff.ActionInvited, Diff: diff}, c.actor, audit.Ref{Name: "Rita Retention"}))
		if got := told.Sentence.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
