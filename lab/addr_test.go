package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// The address plan: small labs keep 198.18.<ID>.0/24, large labs get a /21
// of 198.19.0.0/16; no two labs' subnets overlap, every host is inside its
// lab's subnet and none is the network, the controller or the broadcast.
func TestAddressPlan(t *testing.T) {
	tests := []struct {
		id, hosts   int
		subnet      string
		first, last string
	}{
		{id: 7, hosts: 3, subnet: "198.18.7.0/24", first: "198.18.7.10", last: "198.18.7.12"},
		{id: 254, hosts: SmallLabHosts, subnet: "198.18.254.0/24", first: "198.18.254.10", last: "198.18.254.249"},
		{id: 1, hosts: SmallLabHosts + 1, subnet: "198.19.0.0/21", first: "198.19.0.10", last: "198.19.0.250"},
		{id: 3, hosts: 1000, subnet: "198.19.16.0/21", first: "198.19.16.10", last: "198.19.19.241"},
		{id: LargeLabIDs, hosts: MaxHosts, subnet: "198.19.248.0/21", first: "198.19.248.10", last: "198.19.255.217"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("id%d-hosts%d", tc.id, tc.hosts), func(t *testing.T) {
			subnet := labSubnet(tc.id, tc.hosts)
			if subnet.String() != tc.subnet {
				t.Fatalf("subnet %s, want %s", subnet, tc.subnet)
			}
			l := &Lab{ID: tc.id, Subnet: subnet, Subnet6: subnet6For(tc.id)}
			hosts := planHosts(l, tc.hosts, 0)
			if got := hosts[0].Address.String(); got != tc.first {
				t.Errorf("first host %s, want %s", got, tc.first)
			}
			if got := hosts[len(hosts)-1].Address.String(); got != tc.last {
				t.Errorf("last host %s, want %s", got, tc.last)
			}
			controller := subnet.Addr().Next()
			seen := map[netip.Addr]bool{}
			macs := map[string]bool{bridgeMAC(tc.id): true}
			for _, h := range hosts {
				if !subnet.Contains(h.Address) || h.Address == controller || !subnet.Contains(h.Address.Next()) {
					t.Fatalf("%s: address %s is not a host address of %s", h.Name, h.Address, subnet)
				}
				if !l.Subnet6.Contains(h.Address6) || seen[h.Address] || seen[h.Address6] || macs[h.MAC] {
					t.Fatalf("%s: %s / %s / %s repeats or is outside the lab", h.Name, h.Address, h.Address6, h.MAC)
				}
				seen[h.Address], seen[h.Address6], macs[h.MAC] = true, true, true
				if l.AdminsNetwork().Contains(h.Address) {
					t.Fatalf("%s: %s is in the admins network %s", h.Name, h.Address, l.AdminsNetwork())
				}
				if len(h.Veth) > 15 || len(h.Namespace) > 64 {
					t.Fatalf("%s: veth %q or namespace %q too long", h.Name, h.Veth, h.Namespace)
				}
			}
		})
	}
}

func TestSubnetsNeverOverlap(t *testing.T) {
	var all []netip.Prefix
	for id := 1; id <= 254; id++ {
		all = append(all, subnetFor(id))
	}
	for id := 1; id <= LargeLabIDs; id++ {
		all = append(all, largeSubnetFor(id))
	}
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for i, a := range all {
		if !bench.Contains(a.Addr()) || a.Bits() < bench.Bits() {
			t.Errorf("%s is outside %s", a, bench)
		}
		for _, b := range all[i+1:] {
			if a.Overlaps(b) {
				t.Errorf("%s overlaps %s", a, b)
			}
		}
	}
}

// A lab with the large address plan, on the real kernel: SSH reaches its
// hosts in 198.19.0.0/16 over IPv4 and IPv6, both ends hold permanent
// neighbour entries (the machine's neighbour tables are not used up),
// and Down leaves nothing.
func TestLargeAddressPlan(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 2, Large: true})
	if l.ID > LargeLabIDs || l.Subnet != largeSubnetFor(l.ID) {
		t.Fatalf("lab %d has subnet %s, want %s", l.ID, l.Subnet, largeSubnetFor(l.ID))
	}
	ctx := context.Background()
	for _, h := range l.Hosts {
		if !netip.MustParsePrefix("198.19.0.0/16").Contains(h.Address) {
			t.Errorf("%s has address %s", h.Name, h.Address)
		}
		out := sshRun(t, l, h, "ip -o addr show dev eth0; ip neigh show dev eth0 nud permanent")
		for _, want := range []string{h.Address.String() + "/21", h.Address6.String() + "/64",
			l.Controller.String() + " lladdr " + bridgeMAC(l.ID) + " PERMANENT", l.Controller6.String() + " lladdr " + bridgeMAC(l.ID) + " PERMANENT"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", h.Name, want, out)
			}
		}
	}
	out, err := run(ctx, nil, "ip", "neigh", "show", "dev", l.Bridge, "nud", "permanent")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		for _, a := range []netip.Addr{h.Address, h.Address6} {
			if want := a.String() + " lladdr " + h.MAC + " PERMANENT"; !strings.Contains(string(out), want) {
				t.Errorf("bridge: no %q in\n%s", want, out)
			}
		}
	}
	loaded, err := Load(l.Dir)
	if err != nil || loaded.Subnet != l.Subnet {
		t.Fatalf("Load: %v, subnet %v", err, loaded)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
}
