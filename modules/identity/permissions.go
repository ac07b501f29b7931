package identity

import (
	"slices"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
)

// Permissions named on routes. A module that adds routes adds its permissions here and to the role table below (and
// to docs/identity.md): a permission no role holds is one nobody can use. A module below identity (staff, audit)
// owns the constants of its own pages and routes; they are named here for the role table.
const (
	PermAccountRead     web.Permission = "account.read"   // one's own profile (GET /api/v1/me)
	PermAccount2FA      web.Permission = "account.2fa"    // enrol one's own second factor
	PermStaffRead       web.Permission = staff.PermRead   // "staff.read": the staff list (modules/staff)
	PermStaffManage     web.Permission = staff.PermManage // "staff.manage": invite staff, reset a user's 2FA
	PermClientsRead     web.Permission = "clients.read"
	PermClientsManage   web.Permission = "clients.manage"
	PermClientsStatus   web.Permission = "clients.status" // restrict, suspend, close or reinstate a client (a compliance decision)
	PermKYCReview       web.Permission = "kyc.review"
	PermKYCReassign     web.Permission = "kyc.reassign" // return a case another officer holds to the queue (modules/kyc)
	PermPaymentsRead    web.Permission = "payments.read"
	PermPaymentsApprove web.Permission = "payments.approve"
	PermTicketsManage   web.Permission = "tickets.manage"
	PermIBManage        web.Permission = "ib.manage"
	PermAuditRead       web.Permission = audit.PermRead // "audit.read": the audit trail (modules/audit)
	PermSettingsManage  web.Permission = "settings.manage"
	PermAPIKeysManage   web.Permission = "apikeys.manage"  // create, list and revoke the brokerage's API keys (apikeys.go)
	PermPrivacyManage   web.Permission = "privacy.manage"  // export a client's data, erase it when retention allows (modules/privacy)
	PermTradingRead     web.Permission = "trading.read"    // the trading desk: servers, their status, account types (modules/tradingdesk)
	PermTradingManage   web.Permission = "trading.manage"  // configure trading servers (and their credentials) and account types, ask for checks
	PermTradingApprove  web.Permission = "trading.approve" // approve or reject clients' changes that wait for the back office (swap-free, high leverage)
	// PermWithdrawalsReview: compliance's review of withdrawals a check flagged (modules/withdrawals): read them, clear or refuse.
	PermWithdrawalsReview web.Permission = "withdrawals.review"
)

// PermPortalAccount is a trader's own account (2FA enrolment). Traders hold no roles: every "portal.*" permission is
// granted to any valid portal token, and the owning module checks which objects are the trader's.
const PermPortalAccount web.Permission = "portal.account"

// AllPermissions lists every staff permission, in the order of the table in docs/identity.md.
var AllPermissions = []web.Permission{
	PermAccountRead, PermAccount2FA, PermStaffRead, PermStaffManage, PermClientsRead, PermClientsManage, PermClientsStatus,
	PermKYCReview, PermKYCReassign, PermPaymentsRead, PermPaymentsApprove, PermTicketsManage, PermIBManage, PermAuditRead, PermSettingsManage, PermAPIKeysManage,
	PermPrivacyManage, PermTradingRead, PermTradingManage, PermTradingApprove, PermWithdrawalsReview,
}

// RoleEnrolment is not a staff role: it is what an access token carries when the tenant requires 2FA and the user
// has not enrolled yet. It allows enrolling and nothing else, and comes without a refresh token.
const RoleEnrolment = "2fa_enrolment"

var self = []web.Permission{PermAccountRead, PermAccount2FA}

// rolePermissions is the role table. Roles are the staff module's; a user holding several roles has the union.
var rolePermissions = map[string][]web.Permission{
	"admin": AllPermissions,
	// Compliance decides the trading desk's approvals (swap-free status, leverage above the brokerage's level).
	"compliance": append(slices.Clone(self), PermStaffRead, PermClientsRead, PermClientsStatus, PermKYCReview, PermAuditRead,
		PermPrivacyManage, PermTradingRead, PermTradingApprove, PermWithdrawalsReview),
	// Account managers read deposits (their own clients' only, under managers_see_own_clients_only).
	// The trading desk is read by those who talk to clients about their accounts, money and tickets.
	"sales":       append(slices.Clone(self), PermClientsRead, PermClientsManage, PermPaymentsRead, PermTradingRead),
	"retention":   append(slices.Clone(self), PermClientsRead, PermClientsManage, PermPaymentsRead, PermTradingRead),
	"finance":     append(slices.Clone(self), PermClientsRead, PermPaymentsRead, PermPaymentsApprove, PermAuditRead, PermTradingRead),
	"support":     append(slices.Clone(self), PermClientsRead, PermTicketsManage, PermTradingRead),
	"ib_manager":  append(slices.Clone(self), PermClientsRead, PermIBManage),
	"readonly":    append(slices.Clone(self), PermStaffRead, PermClientsRead, PermPaymentsRead, PermAuditRead, PermTradingRead),
	RoleEnrolment: {PermAccount2FA},
}

// RolePermissions returns the permissions of one role (nil for an unknown role).
func RolePermissions(role string) []web.Permission { return slices.Clone(rolePermissions[role]) }

// Allowed reports whether any of roles grants p.
func Allowed(roles []string, p web.Permission) bool {
	for _, r := range roles {
		if slices.Contains(rolePermissions[r], p) {
			return true
		}
	}
	return false
}

// PermissionsOf returns the union of roles' permissions in AllPermissions order.
func PermissionsOf(roles []string) []string {
	var out []string
	for _, p := range AllPermissions {
		if Allowed(roles, p) {
			out = append(out, string(p))
		}
	}
	return out
}
