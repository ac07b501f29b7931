package clients_test

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// lifecycleTable is the transition table as docs/clients.md shows it.
func lifecycleTable() string {
	var sb strings.Builder
	sb.WriteString("| from | to | why |\n|---|---|---|\n")
	for _, tr := range clients.Transitions {
		sb.WriteString("| `" + string(tr.From) + "` | `" + string(tr.To) + "` | " + tr.Why + " |\n")
	}
	return sb.String()
}

// gateTable is the policy gate under the default rules as docs/clients.md shows it.
func gateTable() string {
	var sb strings.Builder
	sb.WriteString("| status |")
	for _, a := range clients.Actions {
		sb.WriteString(" " + string(a) + " |")
	}
	sb.WriteString("\n|---|")
	for range clients.Actions {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	rules := clients.DefaultSettings()
	for _, st := range clients.Statuses {
		sb.WriteString("| `" + string(st) + "` |")
		for _, a := range clients.Actions {
			d := clients.Decide(clients.Input{Action: a, Status: st, KYCApproved: st == clients.StatusRestricted,
				Rules: clients.Rules{AllowDepositsBeforeKYC: rules.AllowDepositsBeforeKYC, DemoFromEmailVerified: rules.DemoFromEmailVerified}})
			if d.Allowed {
				sb.WriteString(" yes |")
			} else {
				sb.WriteString(" no |")
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// The tables in docs/clients.md are the code's: change one, and this fails until the other follows.
func TestDocsLifecycleAndGateTablesMatchTheCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, table := range map[string]string{"lifecycle": lifecycleTable(), "gate": gateTable()} {
		if !strings.Contains(string(doc), table) {
			t.Errorf("docs/clients.md lacks the %s table as the code has it:\n%s", name, table)
		}
	}
}
