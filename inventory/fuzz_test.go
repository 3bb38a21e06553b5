package inventory

import (
	"testing"
)

// FuzzInventory: any bytes load without a panic or a hang, and an
// inventory without errors has every host named and addressed.
func FuzzInventory(f *testing.F) {
	pol := builtin(&testing.T{})
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, diags := Parse(src, "fuzz.hcl", pol)
		if diags.HasErrors() {
			return
		}
		for _, h := range inv.Hosts {
			if h.Name == "" || h.Address == "" {
				t.Errorf("host without a name or an address: %+v", h)
			}
			if h.Addr.Zone() != "" {
				t.Errorf("host %s kept a zone", h.Name)
			}
		}
	})
}
