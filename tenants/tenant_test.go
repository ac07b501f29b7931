package tenants_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/tenants"
)

func TestValidateSlug(t *testing.T) {
	t.Parallel()
	cases := []struct {
		slug string
		ok   bool
	}{
		{"demo", true},
		{"abc", true},
		{"fx-prime-2", true},
		{strings.Repeat("a", 40), true},
		{"ab", false},
		{strings.Repeat("a", 41), false},
		{"Demo", false},
		{"2fast", false},
		{"demo-", false},
		{"de--mo", false},
		{"de_mo", false},
		{"dé-mo", false},
		{"console", false},
		{"www", false},
		{"api", false},
	}
	for _, c := range cases {
		err := tenants.ValidateSlug(c.slug)
		if (err == nil) != c.ok {
			t.Errorf("ValidateSlug(%q) = %v, want ok=%v", c.slug, err, c.ok)
		}
		if err != nil && !errors.Is(err, tenants.ErrInvalidSlug) {
			t.Errorf("ValidateSlug(%q) error %v is not ErrInvalidSlug", c.slug, err)
		}
	}
}

func TestSchemaNameIsOneToOne(t *testing.T) {
	t.Parallel()
	if got := tenants.SchemaName("fx-prime"); got != "tenant_fx_prime" {
		t.Fatalf("SchemaName(fx-prime) = %q", got)
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	allowed := [][2]tenants.Status{
		{tenants.StatusRequested, tenants.StatusProvisioning},
		{tenants.StatusProvisioning, tenants.StatusActive},
		{tenants.StatusProvisioning, tenants.StatusFailed},
		{tenants.StatusFailed, tenants.StatusProvisioning},
		{tenants.StatusActive, tenants.StatusSuspended},
		{tenants.StatusSuspended, tenants.StatusActive},
		{tenants.StatusActive, tenants.StatusDeleted},
		{tenants.StatusSuspended, tenants.StatusDeleted},
	}
	refused := [][2]tenants.Status{
		{tenants.StatusRequested, tenants.StatusActive},
		{tenants.StatusDeleted, tenants.StatusActive},
		{tenants.StatusSuspended, tenants.StatusProvisioning},
		{tenants.StatusProvisioning, tenants.StatusSuspended},
	}
	for _, c := range allowed {
		if !tenants.CanMove(c[0], c[1]) {
			t.Errorf("%s -> %s refused, want allowed", c[0], c[1])
		}
	}
	for _, c := range refused {
		if tenants.CanMove(c[0], c[1]) {
			t.Errorf("%s -> %s allowed, want refused", c[0], c[1])
		}
	}
}
