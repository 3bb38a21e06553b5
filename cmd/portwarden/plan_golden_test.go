package main

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// TestPlanTextGolden pins the human plan view for fixed host plans: the
// changes come from orchestrator.Diff of a fixed desired and current state,
// so no host or lab is needed.
func TestPlanTextGolden(t *testing.T) {
	tests := []struct {
		name  string
		plans []*orchestrator.HostPlan
	}{
		{"no-changes", []*orchestrator.HostPlan{
			goldenPlan("vbr", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{proxyRule("198.18.0.7", "198.18.0.4")}}),
		}},
		{"changes", []*orchestrator.HostPlan{
			// A new host: every rule is added.
			goldenPlan("proxy", rule.Additive, firewall.State{Backend: "iptables"}),
			// One source more and one less, a stale rule to remove.
			goldenPlan("repo", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{
				proxyRule("198.18.0.9"),
				{Protocol: "udp", Ports: []rule.PortRange{{Lo: 111, Hi: 111}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}},
			}}),
		}},
		{"enforce-drift-warning", []*orchestrator.HostPlan{
			goldenPlan("hardened", rule.Enforce, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive,
				Rules:    []rule.Rule{proxyRule("198.18.0.4")},
				Drift:    []string{"chain inet portwarden input: policy accept, want drop"},
				Warnings: []string{"firewalld is running and will overwrite these rules on reload"}}),
		}},
		{"failures", []*orchestrator.HostPlan{
			goldenPlan("vbr", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{proxyRule("198.18.0.4")}}),
			failedPlan("offline", errors.New("connecting to offline (198.18.0.30:22): dial tcp: i/o timeout\nthe host did not answer")),
		}},
		// A failed host before the first host with changes: the header
		// still comes first (apply streams this view host by host).
		{"failure-first", []*orchestrator.HostPlan{
			failedPlan("offline", errors.New("connecting to offline (198.18.0.30:22): dial tcp: i/o timeout")),
			goldenPlan("vbr", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{proxyRule("198.18.0.4")}}),
		}},
		{"all-failed", []*orchestrator.HostPlan{
			failedPlan("offline", errors.New("connecting to offline (198.18.0.30:22): dial tcp: i/o timeout")),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writePlanText(&b, tt.plans)
			golden(t, "plan/"+tt.name+".txt", b.String())
		})
	}
}

// goldenHostRules is what every golden host should have: the Veeam data
// movers' port range from one proxy with its reason.
func goldenHostRules(name string, mode rule.Mode) *orchestrator.HostRules {
	h := &inventory.Host{Name: name, Address: "198.18.0." + map[string]string{"vbr": "2", "proxy": "4", "repo": "5", "hardened": "6", "offline": "30"}[name],
		OS: "linux", Managed: true, Mode: mode}
	return &orchestrator.HostRules{Host: h, Roles: []string{"repository"}, Rules: []orchestrator.Rule{{
		Rule: proxyRule("198.18.0.4", "198.18.0.7"),
		Reasons: []orchestrator.Reason{{Pack: "veeam-v13", Flow: "data_movers", FromRole: "proxy", ToRole: "repository",
			Description: "Veeam Data Mover", Section: "Backup Proxy Connections"}},
	}}}
}

func proxyRule(srcs ...string) rule.Rule {
	r := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2500, Hi: 3300}}}
	for _, s := range srcs {
		r.Sources = append(r.Sources, netip.PrefixFrom(netip.MustParseAddr(s), 32))
	}
	return r.Normalize()
}

func goldenPlan(name string, mode rule.Mode, cur firewall.State) *orchestrator.HostPlan {
	hr := goldenHostRules(name, mode)
	want := hr.Desired()
	if mode == rule.Enforce {
		want.ManagementPort = 22
		want.ManagementSources = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32")}
	}
	backend := cur.Backend
	return &orchestrator.HostPlan{Host: hr.Host, Rules: hr, Backend: backend, Desired: want, Current: cur,
		Changes: orchestrator.Diff(hr, want, cur)}
}

func failedPlan(name string, err error) *orchestrator.HostPlan {
	hr := goldenHostRules(name, rule.Additive)
	return &orchestrator.HostPlan{Host: hr.Host, Rules: hr, Err: err}
}

// The golden views must say what they are about: a changed golden file
// that lost the summary or the host would otherwise be accepted by -update.
func TestPlanTextGoldenShape(t *testing.T) {
	var b bytes.Buffer
	writePlanText(&b, []*orchestrator.HostPlan{goldenPlan("proxy", rule.Additive, firewall.State{Backend: "iptables"})})
	got := b.String()
	for _, want := range []string{"# proxy (198.18.0.4) — iptables, additive", "+ tcp/2500-3300 from 198.18.0.4, 198.18.0.7", "Plan: 1 to add, 0 to change, 0 to remove on 1 host."} {
		if !strings.Contains(got, want) {
			t.Errorf("plan view lacks %q:\n%s", want, got)
		}
	}
}

// planText streams: a host with changes is written when it is added (with
// the hosts held before it), and the whole is the view writePlanText
// writes at once.
func TestPlanTextStreams(t *testing.T) {
	plans := []*orchestrator.HostPlan{
		failedPlan("offline", errors.New("connecting to offline (198.18.0.30:22): dial tcp: i/o timeout")),
		goldenPlan("proxy", rule.Additive, firewall.State{Backend: "iptables"}),
		goldenPlan("vbr", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{proxyRule("198.18.0.4", "198.18.0.7")}}),
	}
	var b bytes.Buffer
	pt := &planText{w: &b}
	pt.add(plans[0])
	if b.Len() != 0 {
		t.Fatalf("a failed host before any change was written before the header: %q", b.String())
	}
	pt.add(plans[1])
	if got := b.String(); !strings.HasPrefix(got, "portwarden will change these hosts") || !strings.Contains(got, "✗ offline") || !strings.Contains(got, "# proxy") {
		t.Fatalf("after the first host with changes: %q", got)
	}
	pt.add(plans[2])
	pt.close(plans)
	var whole bytes.Buffer
	writePlanText(&whole, plans)
	if b.String() != whole.String() || !strings.HasSuffix(b.String(), "Could not plan 1 host: offline.\n") {
		t.Errorf("streamed view:\n%s\nwhole view:\n%s", b.String(), whole.String())
	}
}
