package bench

import (
	"fmt"
	"strings"
)

// RepoFleet writes an inventory with n backup repositories (Linux and
// Windows), the servers that talk to them (a backup server, mount servers,
// proxies, gateways) and an admin network. Repositories reach each other
// (backup copy, scale-out extents), so every repository's rules name every
// other one: the inventory that grows with the square of the repositories.
// scattered puts each repository alone in its own /24, so no two addresses
// aggregate (the worst case); otherwise they are numbered densely, as
// repositories on a few storage subnets are.
func RepoFleet(n int, scattered bool) string {
	var b strings.Builder
	b.WriteString("settings {\n  platforms = [\"vsphere\"]\n}\n")
	b.WriteString("host \"vbr\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  roles = [\"backup_server\", \"mount_server\"]\n}\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "host \"proxy%d\" {\n  address = \"10.0.1.%d\"\n  os = \"windows\"\n  roles = [\"vmware_proxy\"]\n}\n", i, 10+i)
		fmt.Fprintf(&b, "host \"gw%d\" {\n  address = \"10.0.2.%d\"\n  os = \"linux\"\n  roles = [\"gateway_server\"]\n}\n", i, 10+i)
	}
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("10.%d.%d.%d", 1+i/65536, (i/256)%256, i%256)
		if scattered {
			addr = fmt.Sprintf("10.%d.%d.7", 100+i/250, i%250)
		}
		os := "linux"
		if i%4 == 3 {
			os = "windows"
		}
		fmt.Fprintf(&b, "host \"repo%d\" {\n  address = %q\n  os = %q\n  roles = [\"backup_repository\"]\n}\n", i, addr, os)
	}
	b.WriteString("network \"admins\" {\n  cidrs = [\"192.0.2.0/24\"]\n  roles = [\"console\", \"rest_client\"]\n}\n")
	return b.String()
}
