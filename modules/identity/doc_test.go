package identity_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
)

// permissionTable is the role table as docs/identity.md shows it: one row per permission, one column per role.
func permissionTable() string {
	var sb strings.Builder
	sb.WriteString("| permission |")
	for _, r := range staff.Roles {
		sb.WriteString(" " + string(r) + " |")
	}
	sb.WriteString("\n|---|")
	for range staff.Roles {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	for _, p := range identity.AllPermissions {
		sb.WriteString("| `" + string(p) + "` |")
		for _, r := range staff.Roles {
			if slices.Contains(identity.RolePermissions(string(r)), p) {
				sb.WriteString(" x |")
			} else {
				sb.WriteString("   |")
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// The role table in docs/identity.md is the code's: change one, and this fails until the other follows.
func TestDocsRoleTableMatchesTheCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/identity.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := permissionTable(); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/identity.md does not hold the current role table; paste this:\n%s", want)
	}
}

func TestEveryStaffRoleHasPermissionsAndOnlyAdminManagesSettings(t *testing.T) {
	t.Parallel()
	for _, r := range staff.Roles {
		perms := identity.RolePermissions(string(r))
		if !slices.Contains(perms, identity.PermAccountRead) {
			t.Errorf("role %s cannot read its own profile", r)
		}
		if slices.Contains(perms, identity.PermSettingsManage) != (r == staff.RoleAdmin) {
			t.Errorf("role %s: settings.manage = %v", r, !(r == staff.RoleAdmin))
		}
	}
	if identity.Allowed([]string{identity.RoleEnrolment}, identity.PermAccountRead) || !identity.Allowed([]string{identity.RoleEnrolment}, identity.PermAccount2FA) {
		t.Error("the enrolment pseudo-role must allow enrolling and nothing else")
	}
	if identity.Allowed([]string{"superuser"}, identity.PermStaffRead) {
		t.Error("an unknown role grants nothing")
	}
}
