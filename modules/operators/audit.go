package operators

import (
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// Actions of the platform audit trail (audit.Platform), recorded in the transaction of the change they describe.
const (
	ActionSignedIn     = "operator.signed_in"
	ActionSignInFailed = "operator.sign_in_failed"
	ActionLockedOut    = "operator.locked_out"
	ActionCreated      = "operator.created"
	ActionDisabled     = "operator.disabled"
	ActionEnabled      = "operator.enabled"
	ActionTOTPEnrolled = "operator.totp_enrolled"
	ActionTOTPReset    = "operator.totp_reset"
	// A tenant's status change through the console. The provisioner commits the change (and its
	// platform.tenant_events row) in its own transaction; this row follows it in another, so a crash between the
	// two leaves the change without its row here (tenant_events still has it).
	ActionTenantSuspended = "tenant.suspended"
	ActionTenantResumed   = "tenant.resumed"
	ActionTenantDeleted   = "tenant.deleted" // `brokerdesk tenants delete` only: the console has no delete button
)

// auditTarget is the target type of an operator.
const auditTarget = "operator"

// CLIActor is who acts through `brokerdesk operators ...`: the command has no operator identity of its own (whoever
// runs it holds the deployment's configuration, which is the control), so its changes are the system's, labelled.
var CLIActor = audit.System("cli")

func actor(id uuid.UUID) audit.Actor { return audit.Actor{Kind: audit.ActorOperator, ID: id.String()} }

func target(id uuid.UUID) audit.Target { return audit.Target{Type: auditTarget, ID: id.String()} }
