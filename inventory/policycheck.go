package inventory

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/portwarden/portwarden/policies"
)

func (d *decoder) checkRole(r, os, who string, rng hcl.Range, network bool) hcl.Diagnostics {
	role := d.pol.Roles[r]
	if role == nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown role",
			Detail:   fmt.Sprintf("The policy has no role %q (%s).%s", r, who, policies.Suggest(r, d.pol.RoleNames())),
			Subject:  rng.Ptr(),
		}}
	}
	if role.Derived() {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Derived role assigned",
			Detail: fmt.Sprintf("Role %q (%s) is derived by portwarden from the host's other roles (%s); do not assign it.",
				r, who, strings.Join(role.ImpliedBy, ", ")),
			Subject: rng.Ptr(),
		}}
	}
	if network && !role.Network {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Role cannot be a network",
			Detail:   fmt.Sprintf("Role %q (%s) is played by hosts, not by networks: declare a host for it.", r, who),
			Subject:  rng.Ptr(),
		}}
	}
	if ds := d.checkPlatform(role, who, rng); ds.HasErrors() {
		return ds
	}
	if os != "" && !role.AllowsOS(os) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Role does not fit the OS",
			Detail:   fmt.Sprintf("Role %q (%s) runs on %s, not on %s.", r, who, strings.Join(role.OS, " or "), os),
			Subject:  rng.Ptr(),
		}}
	}
	return nil
}
