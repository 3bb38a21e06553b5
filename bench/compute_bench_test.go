package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
)

// fleet writes an inventory of n hosts spread over the common roles.
func fleet(n int) string {
	var b strings.Builder
	b.WriteString("host \"vbr\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  roles = [\"backup_server\", \"mount_server\"]\n}\n")
	kinds := []struct{ os, roles string }{
		{"linux", `["backup_repository"]`},
		{"windows", `["hyperv_host"]`},
		{"windows", `["gateway_server"]`},
		{"linux", `["guest_linux"]`},
		{"windows", `["guest_windows", "sql_guest"]`},
		{"windows", `["wan_accelerator"]`},
	}
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		fmt.Fprintf(&b, "host \"h%d\" {\n  address = \"10.%d.%d.%d\"\n  os = %q\n  roles = %s\n}\n", i, 1+i/65536, (i/256)%256, i%256, k.os, k.roles)
	}
	b.WriteString("network \"admins\" {\n  cidrs = [\"192.0.2.0/24\"]\n  roles = [\"console\", \"rest_client\"]\n}\n")
	return b.String()
}

func BenchmarkCompute(b *testing.B) {
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	for _, n := range []int{50, 500} {
		inv, diags := inventory.Parse([]byte(fleet(n)), "fleet.hcl", pol)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := orchestrator.Compute(inv, pol, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoadInventory(b *testing.B) {
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	src := []byte(fleet(500))
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := inventory.Parse(src, "fleet.hcl", pol); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
