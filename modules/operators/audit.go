package operators

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
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
	// A tenant suspended, resumed or deleted (through the console or `brokerdesk tenants`): written by
	// AuditTenantStatus in the registry's transaction of the change, so the change never commits without its row.
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

// AuditTenantStatus subscribes the platform audit trail to tenants' status changes: a suspension, resumption or
// deletion is recorded in the registry's own transaction, by the operator who made it or, for the CLI and the
// platform's own work, by the system under its label. Provisioning's moves are not recorded here (its steps are
// in platform.tenant_events).
func AuditTenantStatus(h *events.Hall, trail *audit.Platform) {
	events.OnTx(h, "operators.audit_tenant_status", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e tenants.StatusChanged) error {
		var action string
		switch {
		case e.To == tenants.StatusSuspended:
			action = ActionTenantSuspended
		case e.To == tenants.StatusActive && e.From == tenants.StatusSuspended:
			action = ActionTenantResumed
		case e.To == tenants.StatusDeleted:
			action = ActionTenantDeleted
		default:
			return nil
		}
		by := audit.System(e.By.Label)
		if e.By.Operator != uuid.Nil {
			by = actor(e.By.Operator)
		}
		return trail.Record(ctx, tx, audit.Entry{Actor: by, Action: action, Target: audit.Target{Type: "tenant", ID: e.TenantID.String()},
			Before: map[string]any{"status": string(e.From)}, After: map[string]any{"status": string(e.To), "slug": e.Slug, "reason": e.Reason}})
	})
}
