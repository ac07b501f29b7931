// Package tenants is the room for brokerages as tenants of the platform: the registry in the platform schema, the
// provisioning state machine, host -> tenant resolution, and the ONE gate through which any code runs SQL against a
// tenant's schema (Gate.Scope). Modules never open tenant transactions any other way.
package tenants

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Status is where a tenant is in its life.
type Status string

const (
	StatusRequested    Status = "requested"
	StatusProvisioning Status = "provisioning"
	StatusActive       Status = "active"
	StatusFailed       Status = "failed"
	StatusSuspended    Status = "suspended"
	StatusDeleted      Status = "deleted"
)

// transitions lists every allowed status change; anything else is refused.
var transitions = map[Status][]Status{
	StatusRequested:    {StatusProvisioning},
	StatusProvisioning: {StatusActive, StatusFailed},
	StatusFailed:       {StatusProvisioning, StatusDeleted},
	StatusActive:       {StatusSuspended, StatusDeleted},
	StatusSuspended:    {StatusActive, StatusDeleted},
}

// CanMove reports whether a tenant may go from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Tenant is one brokerage's registry row.
type Tenant struct {
	ID           uuid.UUID
	Slug         string
	DisplayName  string
	Status       Status
	StatusReason string
	Schema       string // tenant_<slug with '-' as '_'>
	Role         string // the Postgres role that owns Schema; the same name as the schema
	Cluster      string // the database cluster the schema lives on
	AdminEmail   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Errors callers branch on; the HTTP and CLI layers map them to messages.
var (
	ErrNotFound         = errors.New("tenant not found")
	ErrSlugTaken        = errors.New("slug already taken")
	ErrInvalidSlug      = errors.New("invalid slug")
	ErrInvalidInput     = errors.New("invalid tenant request")
	ErrBadTransition    = errors.New("status change not allowed")
	ErrSuspended        = errors.New("tenant suspended")
	ErrNotActive        = errors.New("tenant not active")
	ErrProvisioningBusy = errors.New("tenant is being provisioned by another process")
)

// slugShaped reports whether s is 3 to 40 of lowercase letters, digits and '-', starting with a letter and not
// ending with '-' (the pattern ^[a-z][a-z0-9-]{1,38}[a-z0-9]$). It is written out rather than a regexp because
// the gate checks it on every tenant read.
func slugShaped(s string) bool {
	if len(s) < 3 || len(s) > 40 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// reservedSlugs are names that are, or may become, hosts of the platform itself.
var reservedSlugs = map[string]bool{
	"console": true, "www": true, "api": true, "admin": true, "app": true, "mail": true, "smtp": true,
	"static": true, "assets": true, "cdn": true, "status": true, "help": true, "support": true, "docs": true,
	"billing": true, "signup": true, "login": true, "auth": true, "platform": true, "system": true, "public": true,
	"postgres": true, "root": true, "test": true, "staging": true, "dev": true, "internal": true, "metrics": true,
}

// ValidateSlug checks a slug is usable as a subdomain and a schema name and is not reserved.
func ValidateSlug(slug string) error {
	switch {
	case len(slug) < 3 || len(slug) > 40:
		return fmt.Errorf("%w: %q must be 3 to 40 characters", ErrInvalidSlug, slug)
	case !slugShaped(slug):
		return fmt.Errorf("%w: %q must be lowercase letters, digits and '-', start with a letter and not end with '-'", ErrInvalidSlug, slug)
	case strings.Contains(slug, "--"):
		return fmt.Errorf("%w: %q must not contain '--'", ErrInvalidSlug, slug)
	case reservedSlugs[slug]:
		return fmt.Errorf("%w: %q is reserved", ErrInvalidSlug, slug)
	}
	return nil
}

// SchemaName is the tenant's schema (and role) name for a valid slug. '-' cannot appear in an unquoted identifier
// and '_' cannot appear in a slug, so the mapping is one to one.
func SchemaName(slug string) string {
	return "tenant_" + strings.ReplaceAll(slug, "-", "_")
}
