package firewall

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/rule"
)

func firewalldDesired(mode rule.Mode) Desired {
	d := Desired{Mode: mode, Rules: []rule.Rule{
		{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2500, Hi: 3300}}, Sources: []netip.Prefix{
			netip.MustParsePrefix("198.18.229.0/29"), netip.MustParsePrefix("198.18.229.1/32"), netip.MustParsePrefix("fd70:7764:0:e5::/64")}, Comment: "data movers"},
		{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 6162, Hi: 6162}, {Lo: 10006, Hi: 10006}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.229.1/32")}},
	}}
	if mode == rule.Enforce {
		d.ManagementPort = 22
		d.ManagementSources = []netip.Prefix{netip.MustParsePrefix("198.18.229.1/32")}
	}
	return d
}

// TestFirewalldApplyGolden pins the objects an apply writes.
func TestFirewalldApplyGolden(t *testing.T) {
	for _, mode := range []rule.Mode{rule.Additive, rule.Enforce} {
		t.Run(string(mode), func(t *testing.T) {
			s, err := (&Firewalld{}).Apply(nil, firewalldDesired(mode))
			if err != nil {
				t.Fatal(err)
			}
			var pretty map[string]any
			if err := json.Unmarshal(s.Stdin, &pretty); err != nil {
				t.Fatal(err)
			}
			out, _ := json.MarshalIndent(pretty, "", "  ")
			checkGolden(t, "linux", filepath.Join("firewalld", string(mode)+".json"), string(out)+"\n")
			if !strings.Contains(s.Body, `"$pw_fwpy" -c "$pw_fwprog" apply`) || !strings.Contains(s.Body, "pw_section firewalld") {
				t.Errorf("the apply script does not run firewalld.py apply and print its view")
			}
		})
	}
	if s, err := (&Firewalld{}).Apply(nil, Desired{Mode: rule.Additive}); err != nil || string(s.Stdin) != `{"policy":null,"ipsets":{}}` {
		t.Errorf("removing everything: %s, %v", s.Stdin, err)
	}
	if _, err := (&Firewalld{}).Apply(nil, Desired{Mode: rule.Enforce, Rules: firewalldDesired(rule.Additive).Rules}); err == nil {
		t.Error("enforce without management port accepted")
	}
}

// firewalldView builds firewalld.py's output for the objects an apply of
// d writes, as both permanent and runtime.
func firewalldView(t *testing.T, d Desired) (fwdObjects, Facts) {
	t.Helper()
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		t.Fatal(err)
	}
	o := firewalldObjects(dd)
	return o, firewalldFacts(t, o, o)
}

func firewalldFacts(t *testing.T, perm, rt fwdObjects) Facts {
	t.Helper()
	b, err := json.Marshal(fwdReadback{Permanent: &perm, Runtime: &rt})
	if err != nil {
		t.Fatal(err)
	}
	return withSection(withSection(loadFacts(t, "empty"), linuxSecFirewalld, string(b)+"\n"), linuxSecNFT, `{"nftables": []}`)
}

// TestFirewalldRoundTrip: what Apply writes reads back as the desired
// rules, mode and management rule, without drift, also with sources
// inside other sources (split into layers).
func TestFirewalldRoundTrip(t *testing.T) {
	for _, mode := range []rule.Mode{rule.Additive, rule.Enforce} {
		d := firewalldDesired(mode)
		_, f := firewalldView(t, d)
		st, err := (&Firewalld{}).State(f)
		if err != nil {
			t.Fatal(err)
		}
		dd, _ := prepareLinuxDesired(d)
		if !st.Installed || st.Mode != mode || len(st.Drift) > 0 {
			t.Fatalf("%s: state %+v", mode, st)
		}
		if len(st.Rules) != len(dd.Rules) {
			t.Fatalf("%s: rules %+v, want %+v", mode, st.Rules, dd.Rules)
		}
		for i := range st.Rules {
			if st.Rules[i].Key() != dd.Rules[i].Key() || !slices.Equal(st.Rules[i].Sources, dd.Rules[i].Sources) || st.Rules[i].Comment != dd.Rules[i].Comment {
				t.Errorf("%s: rule %d = %+v, want %+v", mode, i, st.Rules[i], dd.Rules[i])
			}
		}
		if (mode == rule.Enforce) != (st.Management != nil) || st.Management != nil && st.Management.Key() != "tcp/22" {
			t.Errorf("%s: management %+v", mode, st.Management)
		}
	}
}

func TestFirewalldStateDrift(t *testing.T) {
	o, _ := firewalldView(t, firewalldDesired(rule.Enforce))
	clone := func() fwdObjects {
		var c fwdObjects
		b, _ := json.Marshal(o)
		json.Unmarshal(b, &c)
		return c
	}
	rtMissing := clone()
	set := rtMissing.IPSets["portwarden-1"]
	set.Entries = set.Entries[1:]
	rtMissing.IPSets["portwarden-1"] = set
	foreign := clone()
	foreign.Policy.RichRules = append(foreign.Policy.RichRules, `rule family="ipv4" source address="0.0.0.0/0" accept`)
	retarget := clone()
	retarget.Policy.Target = "ACCEPT"
	noRule := clone()
	noRule.Policy.RichRules = noRule.Policy.RichRules[1:]
	noPolicy := clone()
	noPolicy.Policy = nil
	kernel := firewalldFacts(t, o, o)
	kernel[linuxSecNFT] = `{"nftables": [{"table": {"family": "inet", "name": "firewalld"}}, {"set": {"family": "inet", "table": "firewalld", "name": "portwarden-1", "elem": ["198.18.229.1"]}}]}`
	for _, tc := range []struct {
		name  string
		f     Facts
		drift string
	}{
		{"runtime entry removed", firewalldFacts(t, o, rtMissing), "runtime configuration"},
		{"foreign rich rule", firewalldFacts(t, foreign, foreign), "does not write"},
		{"target changed", firewalldFacts(t, retarget, retarget), `target "ACCEPT"`},
		{"rich rule removed", firewalldFacts(t, noRule, noRule), "not used by policy"},
		{"policy removed", firewalldFacts(t, noPolicy, noPolicy), "policy portwarden is missing"},
		{"kernel lacks the chain and sets", kernel, "no chain for policy portwarden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := (&Firewalld{}).State(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !containsAll(st.Drift, tc.drift) {
				t.Errorf("drift %q, want one with %q", st.Drift, tc.drift)
			}
		})
	}
	empty := loadFacts(t, "empty")
	if _, err := (&Firewalld{}).State(empty); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Errorf("state without firewalld's view: %v", err)
	}
	if _, err := (&Firewalld{}).State(withSection(empty, linuxSecFirewalld, "{")); err == nil {
		t.Error("garbage view accepted")
	}
	if st, err := (&Firewalld{}).State(firewalldFacts(t, fwdObjects{IPSets: map[string]fwdIPSet{}}, fwdObjects{IPSets: map[string]fwdIPSet{}})); err != nil || st.Installed || len(st.Drift) > 0 {
		t.Errorf("clean host: %+v %v", st, err)
	}
}

func TestFirewalldLayers(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		in   []netip.Prefix
		want int
	}{
		{nil, 0},
		{[]netip.Prefix{p("10.0.0.0/24"), p("10.0.1.0/24")}, 1},
		{[]netip.Prefix{p("10.0.0.0/16"), p("10.0.0.0/24"), p("10.0.0.5/32"), p("10.1.0.0/24")}, 3},
	} {
		got := firewalldLayers(tc.in)
		if len(got) != tc.want {
			t.Errorf("layers(%v) = %v, want %d layers", tc.in, got, tc.want)
		}
		n := 0
		for _, l := range got {
			n += len(l)
			for i := range l {
				for j := range l {
					if i != j && l[i].Overlaps(l[j]) {
						t.Errorf("layer %v overlaps", l)
					}
				}
			}
		}
		if n != len(tc.in) {
			t.Errorf("layers(%v) lost sources: %v", tc.in, got)
		}
	}
}
