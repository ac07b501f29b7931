package operators

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Console permissions, declared on every console route.
const (
	PermTenantsRead   web.Permission = "console.tenants.read"
	PermTenantsManage web.Permission = "console.tenants.manage"
	PermJobs          web.Permission = "console.jobs"
	PermAccount       web.Permission = "console.account" // the operator's own sign-in settings (2FA)
)

// rolePermissions grants permissions to operator roles. Every operator is an "operator" today; a read-only role is
// the obvious next one.
var rolePermissions = map[string][]web.Permission{
	RoleOperator: {PermTenantsRead, PermTenantsManage, PermJobs, PermAccount},
}

// Allowed reports whether any of roles grants p.
func Allowed(roles []string, p web.Permission) bool {
	for _, r := range roles {
		for _, q := range rolePermissions[r] {
			if q == p {
				return true
			}
		}
	}
	return false
}

// Tenants is what the console does to tenants: list them, suspend and resume them through the provisioner, which
// records each change in platform.tenant_events with the operator as actor ("operator:<email>") and announces it
// (the platform audit row, AuditTenantStatus).
type Tenants struct {
	ops  *Service
	reg  *tenants.Registry
	prov *tenants.Provisioner
}

// NewTenants returns the console's tenant actions.
func NewTenants(ops *Service, reg *tenants.Registry, prov *tenants.Provisioner) *Tenants {
	return &Tenants{ops: ops, reg: reg, prov: prov}
}

// List returns every tenant that is not deleted, by slug.
func (t *Tenants) List(ctx context.Context) ([]tenants.Tenant, error) {
	return t.reg.List(ctx, tenants.ListFilter{})
}

// ErrReasonRequired refuses a status change without a reason: the reason is what the tenant's event log shows.
var ErrReasonRequired = errors.New("operators: a reason is required")

// Suspend blocks a tenant's hosts on behalf of operator.
func (t *Tenants) Suspend(ctx context.Context, operator uuid.UUID, slug, reason string) (tenants.Tenant, error) {
	return t.move(ctx, operator, slug, reason, t.prov.Suspend)
}

// Resume reopens a suspended tenant on behalf of operator.
func (t *Tenants) Resume(ctx context.Context, operator uuid.UUID, slug, reason string) (tenants.Tenant, error) {
	return t.move(ctx, operator, slug, reason, t.prov.Resume)
}

func (t *Tenants) move(ctx context.Context, operator uuid.UUID, slug, reason string,
	do func(context.Context, uuid.UUID, string, tenants.Actor) (tenants.Tenant, error)) (tenants.Tenant, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 || validation.SingleLine(reason) != "" {
		return tenants.Tenant{}, ErrReasonRequired
	}
	op, err := t.ops.ByID(ctx, operator)
	if err != nil {
		return tenants.Tenant{}, err
	}
	ten, err := t.reg.BySlug(ctx, slug)
	if err != nil {
		return tenants.Tenant{}, err
	}
	ten, err = do(ctx, ten.ID, reason, tenants.Actor{Operator: op.ID, Label: Actor(op.Email)})
	if err != nil {
		return ten, fmt.Errorf("%s: %w", slug, err)
	}
	return ten, nil
}

// Actor is how an operator appears in platform.tenant_events.
func Actor(email string) string { return "operator:" + email }
