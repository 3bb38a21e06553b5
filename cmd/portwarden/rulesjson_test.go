package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

// The one-pass writer gives the bytes encoding/json gives for the wire
// form, on every host of the examples and on hosts with strings that need
// escaping (HTML, line separators, control characters, invalid UTF-8),
// nil and empty lists, IPv6 and IPv4-mapped sources.
func TestAppendHostRulesJSONMatchesEncoding(t *testing.T) {
	var hosts []*orchestrator.HostRules
	for _, f := range []struct {
		file    string
		version int
	}{{"site.hcl", 12}, {"lab.hcl", 12}, {"vsphere-v13.hcl", 13}} {
		pol, diags := policies.LoadPack(f.version, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		inv, diags := inventory.LoadWith("../../examples/"+f.file, pol, inventory.Options{UnknownSecrets: true})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		hrs, err := orchestrator.Compute(inv, pol, nil)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, hrs...)
	}
	odd := "a <b> & \"c\" \u2028 \x01 \xff é \\ end"
	hosts = append(hosts,
		&orchestrator.HostRules{Host: &inventory.Host{Name: odd, Address: odd, OS: "linux"}},
		&orchestrator.HostRules{Host: &inventory.Host{Name: "x", Managed: true}, Roles: []string{}, Notes: []string{odd, ""},
			Rules: []orchestrator.Rule{
				{Rule: rule.Rule{Protocol: "tcp"}},
				{Rule: rule.Rule{Protocol: "udp", Ports: []rule.PortRange{{Lo: 53, Hi: 53}, {Lo: 1000, Hi: 2000}},
					Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
						netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("::ffff:192.0.2.9/128")}},
					Reasons: []orchestrator.Reason{{Pack: odd, Flow: "f", Description: odd}, {}}},
				{Rule: rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 1, Hi: 1}}}, Reasons: []orchestrator.Reason{}},
			}})
	if len(hosts) < 20 {
		t.Fatalf("only %d hosts: the examples prove little", len(hosts))
	}
	for _, hr := range hosts {
		want, err := json.MarshalIndent(hostRulesJSON(hr), "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := appendHostRulesJSON(&got, hr); err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want) {
			t.Errorf("%q:\ngot:\n%s\nwant:\n%s", hr.Host.Name, got.String(), want)
		}
	}
}
