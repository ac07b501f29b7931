package privacy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
)

func TestAssessAllowsErasureOnlyWhenNoRetentionApplies(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	closedOn := func(at time.Time) []clients.HistoryEntry {
		return []clients.HistoryEntry{{To: clients.StatusRegistered}, {From: clients.StatusRegistered, To: clients.StatusEmailVerified},
			{From: clients.StatusEmailVerified, To: clients.StatusKYCSubmitted}, {From: clients.StatusKYCSubmitted, To: clients.StatusKYCApproved},
			{From: clients.StatusKYCApproved, To: clients.StatusClosed, At: at}}
	}
	approved := now.AddDate(-7, 0, 0)
	erased := now.AddDate(0, -1, 0)
	for _, tc := range []struct {
		name      string
		rec       clients.Record
		years     int
		allowed   bool
		until     string // YYYY-MM-DD, "" for none
		basisHint string
	}{
		{"registered, never submitted KYC", clients.Record{Client: clients.Client{Status: clients.StatusRegistered},
			History: []clients.HistoryEntry{{To: clients.StatusRegistered}}}, 5, true, "", "No customer due diligence"},
		{"email verified, never submitted KYC", clients.Record{Client: clients.Client{Status: clients.StatusEmailVerified}}, 5, true, "", "No customer due diligence"},
		{"approved and active", clients.Record{Client: clients.Client{Status: clients.StatusKYCApproved, KYCApprovedAt: &approved}}, 5, false, "", "relationship is active"},
		{"submitted KYC, then asked for more", clients.Record{Client: clients.Client{Status: clients.StatusKYCMoreInfo},
			History: []clients.HistoryEntry{{To: clients.StatusKYCSubmitted}}}, 5, false, "", "relationship is active"},
		{"suspended", clients.Record{Client: clients.Client{Status: clients.StatusSuspended, KYCApprovedAt: &approved}}, 5, false, "", "close the account first"},
		{"closed a year ago", clients.Record{Client: clients.Client{Status: clients.StatusClosed, KYCApprovedAt: &approved},
			History: closedOn(now.AddDate(-1, 0, 0))}, 5, false, "2035-06-01", "EU Directive 2015/849"},
		{"closed a day short of five years", clients.Record{Client: clients.Client{Status: clients.StatusClosed, KYCApprovedAt: &approved},
			History: closedOn(now.AddDate(-5, 0, 1))}, 5, false, "2031-06-02", "kept until 2 June 2031"},
		{"closed exactly five years ago", clients.Record{Client: clients.Client{Status: clients.StatusClosed, KYCApprovedAt: &approved},
			History: closedOn(now.AddDate(-5, 0, 0))}, 5, true, "2031-06-01", "has run out"},
		{"closed two years ago, tenant keeps one year", clients.Record{Client: clients.Client{Status: clients.StatusClosed, KYCApprovedAt: &approved},
			History: closedOn(now.AddDate(-2, 0, 0))}, 1, true, "2030-06-01", "has run out"},
		{"closed without a history row: the status change time counts", clients.Record{Client: clients.Client{Status: clients.StatusClosed,
			KYCApprovedAt: &approved, StatusChangedAt: now.AddDate(-3, 0, 0)}}, 5, false, "2033-06-01", "kept until"},
		{"closed before any due diligence", clients.Record{Client: clients.Client{Status: clients.StatusClosed},
			History: []clients.HistoryEntry{{To: clients.StatusRegistered}, {From: clients.StatusRegistered, To: clients.StatusClosed, At: now}}}, 5, true, "", "No customer due diligence"},
		{"already erased", clients.Record{Client: clients.Client{Status: clients.StatusClosed}, ErasedAt: &erased}, 5, true, "", "was erased on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := privacy.Assess(tc.rec, tc.years, now)
			if a.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v (%s)", a.Allowed, tc.allowed, a.Basis)
			}
			got := ""
			if a.Until != nil {
				got = a.Until.Format(time.DateOnly)
			}
			if got != tc.until {
				t.Errorf("until = %q, want %q", got, tc.until)
			}
			if !strings.Contains(a.Basis, tc.basisHint) {
				t.Errorf("basis %q does not say %q", a.Basis, tc.basisHint)
			}
		})
	}
}
