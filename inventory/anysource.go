package inventory

import (
	"fmt"
	"net/netip"

	"github.com/hashicorp/hcl/v2"
)

// AllowAnySourceSetting is the settings attribute that lets a network's
// cidrs or management_sources be the whole address space (0.0.0.0/0,
// ::/0). Without it such a source is refused: rules would open repository
// data ports to the whole internet.
const AllowAnySourceSetting = "allow_any_source"

// anySource returns the first prefix of ps that matches every address of
// its family.
func anySource(ps []netip.Prefix) (netip.Prefix, bool) {
	for _, p := range ps {
		if p.Bits() == 0 {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// checkAnySource refuses a source list that contains "any", unless the
// inventory opts in with allow_any_source = true.
func (d *decoder) checkAnySource(v *value, ps []netip.Prefix, what string) hcl.Diagnostics {
	p, ok := anySource(ps)
	if !ok || d.inv.AllowAnySource {
		return nil
	}
	return hcl.Diagnostics{attrDiag(v, "Source is the whole internet",
		fmt.Sprintf("%s: %s matches every address, so every rule from it would be open to anyone. "+
			"List the networks that really need access, or, if you mean it, set %s = true in the settings block.",
			what, p, AllowAnySourceSetting))}
}
