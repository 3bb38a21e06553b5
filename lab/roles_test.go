package lab

import (
	"testing"

	"github.com/portwarden/portwarden/policies"
)

// TestRolesFitThePolicy: every role the lab deals out runs on the OS of the
// hosts it is dealt to, so the example inventory is always valid.
func TestRolesFitThePolicy(t *testing.T) {
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	check := func(role, os string) {
		r := pol.Roles[role]
		if r == nil || r.Derived() || !r.AllowsOS(os) {
			t.Errorf("the lab gives %s hosts role %q, which the policy does not allow there", os, role)
		}
	}
	for _, r := range linuxRoles {
		check(r, Linux)
	}
	for i := 0; i < 8; i++ {
		for _, r := range windowsRoles(i) {
			check(r, Windows)
		}
	}
}
