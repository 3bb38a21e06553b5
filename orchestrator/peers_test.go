package orchestrator

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

// overlapInv has the cases the shared peer sets must get right: a host
// whose address a network of the same role covers (vbr: it stays in the
// sources of its own rule, the network names it; vbr2 is not covered),
// two hosts with one address (each is a source of the other's rules),
// hosts that play both ends, and
// hosts of one role on adjacent addresses (aggregated). The twins are DNS
// names that resolve to one address (the inventory refuses duplicate
// literal addresses, DNS cannot).
const overlapInv = `
host "vbr" {
  address = "10.0.0.1"
  os = "windows"
  roles = ["server", "console"]
}
host "repo1" {
  address = "10.0.0.10"
  os = "linux"
  roles = ["repo", "proxy"]
}
host "repo2" {
  address = "10.0.0.11"
  os = "linux"
  roles = ["repo"]
}
host "repo3" {
  address = "10.0.0.12"
  os = "linux"
  roles = ["repo"]
}
host "twin1" {
  address = "twin1.example"
  os = "linux"
  roles = ["repo"]
}
host "twin2" {
  address = "twin2.example"
  os = "linux"
  roles = ["repo"]
}
host "px" {
  address = "10.0.0.20"
  os = "windows"
  roles = ["proxy"]
}
host "vbr2" {
  address = "10.0.0.50"
  os = "windows"
  roles = ["server", "console"]
}
network "admins" {
  cidrs = ["10.0.0.0/28", "192.0.2.0/28", "2001:db8::/64"]
  roles = ["console"]
}
`

var twins = Addresses{"twin1": {netip.MustParseAddr("10.0.0.40")}, "twin2": {netip.MustParseAddr("10.0.0.40")}}

// TestComputeSourcesMatchReference: every rule's sources are exactly the
// aggregated addresses of the other hosts and the networks that play the
// rule's source roles (one by one, as before the peer sets were shared),
// on the test policy and on the examples with the built-in packs.
func TestComputeSourcesMatchReference(t *testing.T) {
	type tc struct {
		name string
		pol  *policies.Policy
		inv  *inventory.Inventory
		addr Addresses
	}
	tp := testPolicy(t)
	// A caller's Addresses may repeat an address, not necessarily next
	// to itself: it is still the host's own, not another member's.
	repeated := Addresses{"twin1": {netip.MustParseAddr("10.0.0.40"), netip.MustParseAddr("10.0.0.41"), netip.MustParseAddr("10.0.0.40")}, "twin2": {netip.MustParseAddr("10.0.0.43")}}
	cases := []tc{{"overlaps", tp, parseInv(t, tp, overlapInv), twins}, {"repeated addresses", tp, parseInv(t, tp, overlapInv), repeated}}
	for _, f := range []struct {
		file    string
		version int
	}{{"site.hcl", 12}, {"lab.hcl", 12}, {"vsphere-v13.hcl", 13}} {
		pol, diags := policies.LoadPack(f.version, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		inv, diags := inventory.LoadWith("../examples/"+f.file, pol, inventory.Options{UnknownSecrets: true})
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f.file, diags)
		}
		cases = append(cases, tc{f.file, pol, inv, nil})
	}
	checked := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Compute(c.inv, c.pol, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			members := func(role string, except *inventory.Host) []netip.Prefix {
				var out []netip.Prefix
				for _, hr := range got {
					if hr.Host != except && slices.Contains(hr.Roles, role) {
						for _, a := range c.addr.of(hr.Host) {
							out = append(out, netip.PrefixFrom(a, a.BitLen()))
						}
					}
				}
				for _, n := range c.inv.Networks {
					if slices.Contains(n.Roles, role) {
						out = append(out, n.CIDRs...)
					}
				}
				return out
			}
			for _, hr := range got {
				for _, r := range hr.Rules {
					var want []netip.Prefix
					for _, rs := range r.Reasons {
						want = append(want, members(rs.FromRole, hr.Host)...)
					}
					want = rule.AggregatePrefixes(want)
					if !slices.Equal(r.Sources, want) {
						t.Errorf("%s %s: sources %v, want %v", hr.Host.Name, r.Spec(), r.Sources, want)
					}
					checked++
				}
			}
		})
	}
	if checked < 50 {
		t.Fatalf("only %d rules checked: the cases prove little", checked)
	}
}

// The cases above hold what they claim: twin1 is a source of twin2's
// repo rule, vbr of its own console rule (a network names its address),
// vbr2 not of its own.
func TestComputeSourcesOverlapCases(t *testing.T) {
	pol := testPolicy(t)
	got, err := Compute(parseInv(t, pol, overlapInv), pol, twins)
	if err != nil {
		t.Fatal(err)
	}
	has := func(host, role, addr string) bool {
		for _, hr := range got {
			if hr.Host.Name != host {
				continue
			}
			for _, r := range hr.Rules {
				for _, rs := range r.Reasons {
					if rs.FromRole == role && slices.ContainsFunc(r.Sources, func(p netip.Prefix) bool { return p.Contains(netip.MustParseAddr(addr)) }) {
						return true
					}
				}
			}
		}
		return false
	}
	for _, c := range []struct {
		host, role, addr string
		want             bool
	}{
		{"twin2", "repo", "10.0.0.40", true},
		{"repo2", "repo", "10.0.0.11", false},
		{"repo2", "repo", "10.0.0.10", true},
		{"vbr", "console", "10.0.0.1", true},
		{"vbr2", "console", "10.0.0.50", false},
		{"vbr2", "console", "10.0.0.1", true},
	} {
		if got := has(c.host, c.role, c.addr); got != c.want {
			t.Errorf("%s has %s as a %s source: %v, want %v", c.host, c.addr, c.role, got, c.want)
		}
	}
}
