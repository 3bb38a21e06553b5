package orchestrator

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
)

func mkRule(proto, ports string, srcs ...string) rule.Rule {
	r := rule.Rule{Protocol: proto}
	for _, p := range splitComma(ports) {
		pr, err := rule.ParsePortRange(p)
		if err != nil {
			panic(err)
		}
		r.Ports = append(r.Ports, pr)
	}
	for _, s := range srcs {
		r.Sources = append(r.Sources, netip.MustParsePrefix(s))
	}
	return r.Normalize()
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

type changeView struct {
	Action string
	Kind   string
	Key    string
}

func viewChanges(cs []Change) []changeView {
	out := []changeView{}
	for _, c := range cs {
		out = append(out, changeView{string(c.Action), string(c.Kind), c.Key})
	}
	return out
}

func TestDiff(t *testing.T) {
	a := mkRule("tcp", "22", "10.0.0.1/32")
	b := mkRule("tcp", "2500-3300,6162", "10.0.0.1/32", "10.0.0.2/32")
	bMore := mkRule("tcp", "2500-3300,6162", "10.0.0.1/32", "10.0.0.3/32")
	u := mkRule("udp", "111", "10.0.0.1/32")
	tests := []struct {
		name string
		want firewall.Desired
		cur  firewall.State
		out  []changeView
	}{
		{"fresh host", firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{a, b}},
			firewall.State{}, []changeView{{"+", "rule", "tcp/22"}, {"+", "rule", "tcp/2500-3300,6162"}}},
		{"converged host has no changes", firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{a, b}},
			firewall.State{Installed: true, Mode: rule.Additive, Rules: []rule.Rule{a, b}}, []changeView{}},
		{"changed sources are one update, stale rules are removed", firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{bMore}},
			firewall.State{Installed: true, Mode: rule.Additive, Rules: []rule.Rule{b, u}},
			[]changeView{{"~", "rule", "tcp/2500-3300,6162"}, {"-", "rule", "udp/111"}}},
		{"mode change comes first", firewall.Desired{Mode: rule.Enforce, Rules: []rule.Rule{a}},
			firewall.State{Installed: true, Mode: rule.Additive, Rules: []rule.Rule{a}},
			[]changeView{{"~", "mode", "mode"}}},
		{"enforce on a fresh host is a mode change", firewall.Desired{Mode: rule.Enforce},
			firewall.State{}, []changeView{{"~", "mode", "mode"}}},
		{"drift of owned objects forces a re-apply", firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{a}},
			firewall.State{Installed: true, Mode: rule.Additive, Rules: []rule.Rule{a}, Drift: []string{"jump rule missing"}},
			[]changeView{{"~", "drift", "jump rule missing"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := viewChanges(Diff(nil, tt.want, tt.cur))
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSourceDeltaAndSummary(t *testing.T) {
	b := mkRule("tcp", "6162", "10.0.0.1/32", "10.0.0.2/32")
	bMore := mkRule("tcp", "6162", "10.0.0.1/32", "10.0.0.3/32")
	cs := Diff(nil, firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{bMore, mkRule("tcp", "22", "10.0.0.1/32")}},
		firewall.State{Installed: true, Mode: rule.Additive, Rules: []rule.Rule{b, mkRule("udp", "53", "10.0.0.9/32")}})
	var upd Change
	for _, c := range cs {
		if c.Action == Update {
			upd = c
		}
	}
	add, rm := SourceDelta(upd)
	if len(add) != 1 || add[0].String() != "10.0.0.3/32" || len(rm) != 1 || rm[0].String() != "10.0.0.2/32" {
		t.Errorf("SourceDelta = +%v -%v", add, rm)
	}
	sum := Summarize([]*HostPlan{{Changes: cs}, {Changes: []Change{}}})
	if sum != (Summary{Add: 1, Change: 1, Remove: 1, Hosts: 1}) {
		t.Errorf("Summarize = %+v", sum)
	}
}

func TestParseProbeOutput(t *testing.T) {
	ps := []*Probe{{}, {}, {}}
	err := parseProbeOutput("1 open\n2 refused\n3 blocked no answer in 3s\n", ps)
	if err != nil {
		t.Fatal(err)
	}
	got := []Outcome{ps[0].Outcome, ps[1].Outcome, ps[2].Outcome}
	if diff := cmp.Diff([]Outcome{Open, Refused, Blocked}, got); diff != "" {
		t.Error(diff)
	}
	if !Open.Passed() || !Refused.Passed() || Blocked.Passed() || NotProbed.Passed() {
		t.Error("Passed: only open and refused prove the firewall passed a SYN")
	}
	for _, bad := range []string{"7 open\n", "1 maybe\n", "x open\n", "0 error bash not found\n"} {
		if err := parseProbeOutput(bad, []*Probe{{}}); err == nil {
			t.Errorf("parseProbeOutput(%q) accepted nonsense", bad)
		}
	}
}

func TestSamplePortsTakesRangeEnds(t *testing.T) {
	got := samplePorts([]rule.PortRange{{Lo: 22, Hi: 22}, {Lo: 2500, Hi: 3300}})
	if diff := cmp.Diff([]uint16{22, 2500, 3300}, got); diff != "" {
		t.Error(diff)
	}
}

func TestDiffManagementRule(t *testing.T) {
	a := mkRule("tcp", "22", "10.0.0.1/32")
	mgmt := mkRule("tcp", "22", "198.18.0.1/32")
	want := firewall.Desired{Mode: rule.Enforce, Rules: []rule.Rule{a}, ManagementPort: 22,
		ManagementSources: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32")}}
	cur := firewall.State{Installed: true, Mode: rule.Enforce, Rules: []rule.Rule{a}, Management: &mgmt}
	if cs := Diff(nil, want, cur); len(cs) != 0 {
		t.Errorf("same management rule: %+v", cs)
	}
	moved := want
	moved.ManagementSources = []netip.Prefix{netip.MustParsePrefix("198.18.0.2/32")}
	cs := Diff(nil, moved, cur)
	if len(cs) != 1 || cs[0].Key != "management" || !strings.Contains(cs[0].Detail, "198.18.0.2") {
		t.Errorf("a moved controller must change the management rule: %+v", cs)
	}
}

func TestPlanProbes(t *testing.T) {
	mk := func(name, addr string, managed bool, os string) *inventory.Host {
		return &inventory.Host{Name: name, Address: addr, Addr: netip.MustParseAddr(addr), Managed: managed, OS: os}
	}
	repo := mk("repo", "10.0.0.10", true, "linux")
	peer := mk("peer", "10.0.0.11", true, "linux")
	other := mk("other", "10.0.0.12", true, "linux")
	win := mk("win", "10.0.0.13", true, "windows")
	vbr := mk("vbr", "10.0.0.1", false, "windows")
	hosts := []*inventory.Host{repo, peer, other, win, vbr}
	plan := func(mode rule.Mode) *HostPlan {
		return &HostPlan{Host: repo, Desired: firewall.Desired{Mode: mode, ManagementPort: 22,
			ManagementSources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
			Rules: []rule.Rule{
				mkRule("tcp", "2500-3300", "10.0.0.11/32", "10.0.0.13/32", "10.0.0.1/32"),
				mkRule("udp", "111", "10.0.0.11/32"),
			}}}
	}
	type pv struct {
		From    string
		Port    uint16
		Blocked bool
		Outcome Outcome
	}
	view := func(ps []*Probe) []pv {
		var out []pv
		for _, p := range ps {
			out = append(out, pv{p.From, p.Port, p.Blocked, p.Outcome})
		}
		return out
	}
	// Additive: only managed Linux sources probe, both range ends; UDP is
	// listed as not probed; Windows and unmanaged sources cannot probe.
	got := view(PlanProbes([]*HostPlan{plan(rule.Additive)}, hosts, nil))
	want := []pv{{"peer", 2500, false, ""}, {"peer", 3300, false, ""}, {"peer", 0, false, NotProbed}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("additive (-want +got):\n%s", diff)
	}
	// Enforce adds a negative probe from a managed Linux peer no rule names.
	got = view(PlanProbes([]*HostPlan{plan(rule.Enforce)}, hosts, nil))
	want = append(want[:2:2], pv{"other", 2500, true, ""}, want[2])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enforce (-want +got):\n%s", diff)
	}
	// A rule that names the controller is probed from it too.
	withCtl := plan(rule.Additive)
	withCtl.Controller = netip.MustParseAddr("10.0.0.1")
	got = view(PlanProbes([]*HostPlan{withCtl}, hosts, nil))
	want = []pv{{"peer", 2500, false, ""}, {"peer", 3300, false, ""}, {"", 2500, false, ""}, {"", 3300, false, ""}, {"peer", 0, false, NotProbed}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controller probes (-want +got):\n%s", diff)
	}
	neg := &Probe{Blocked: true, Outcome: Blocked}
	pos := &Probe{Outcome: Refused}
	if !neg.OK() || !pos.OK() || (&Probe{Blocked: true, Outcome: Open}).OK() || (&Probe{Outcome: Blocked}).OK() {
		t.Error("OK: a negative probe wants a drop, a positive one a pass")
	}
}
