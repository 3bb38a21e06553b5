package orchestrator

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

func testPolicy(t *testing.T) *policies.Policy {
	t.Helper()
	pol, diags := policies.LoadDirs([]string{"testdata/policy"}, false)
	if diags.HasErrors() {
		t.Fatalf("loading test policy: %s", diags)
	}
	return pol
}

func parseInv(t *testing.T, pol *policies.Policy, src string) *inventory.Inventory {
	t.Helper()
	inv, diags := inventory.Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() {
		t.Fatalf("parsing inventory: %s", diags)
	}
	return inv
}

const baseInv = `
host "vbr" {
  address = "10.0.0.1"
  os = "windows"
  roles = ["server"]
}
host "repo1" {
  address = "10.0.0.10"
  os = "linux"
  roles = ["repo"]
}
host "repo2" {
  address = "10.0.0.11"
  os = "linux"
  roles = ["repo"]
}
host "px" {
  address = "10.0.0.20"
  os = "windows"
  roles = ["proxy"]
}
host "px2" {
  address = "2001:db8::20"
  os = "linux"
  roles = ["proxy"]
  managed = false
}
host "nas1" {
  address = "10.0.0.30"
  os = "linux"
  roles = ["nas"]
  managed = false
}
network "admins" {
  cidrs = ["192.0.2.0/28"]
  roles = ["console"]
}
`

type ruleView struct {
	Proto, Ports, Sources string
	Flows                 []string
}

func viewRules(hr *HostRules) []ruleView {
	var out []ruleView
	for _, r := range hr.Rules {
		var srcs []string
		for _, s := range r.Sources {
			srcs = append(srcs, rule.PrefixString(s))
		}
		var flows []string
		for _, rs := range r.Reasons {
			flows = append(flows, rs.Flow+":"+rs.FromRole+">"+rs.ToRole)
		}
		out = append(out, ruleView{r.Protocol, rule.PortsString(r.Ports), strings.Join(srcs, ","), flows})
	}
	return out
}

func TestCompute(t *testing.T) {
	pol := testPolicy(t)
	tests := []struct {
		name     string
		settings string
		host     string
		want     []ruleView
		notes    []string // substrings, one per note, in order
	}{
		{
			name: "repository merges flows with the same ports and never lists itself",
			host: "repo1",
			want: []ruleView{
				{"tcp", "22", "10.0.0.1", []string{"ssh:server>linux_server"}},
				{"tcp", "2500-3300,6162", "10.0.0.1,10.0.0.20,2001:db8::20", []string{"movers-from-proxy:proxy>repo", "movers-from-server:server>repo"}},
				{"tcp", "6164", "10.0.0.11", []string{"repo-to-repo:repo>repo"}},
			},
		},
		{
			name:     "upgraded install widens the data mover range; a set port variable activates its flow for both protocols",
			settings: "settings {\n upgraded = true\n extra_port = 20048\n}\n",
			host:     "repo2",
			want: []ruleView{
				{"tcp", "22", "10.0.0.1", []string{"ssh:server>linux_server"}},
				{"tcp", "2500-5000,6162", "10.0.0.1,10.0.0.20,2001:db8::20", []string{"movers-from-proxy:proxy>repo", "movers-from-server:server>repo"}},
				{"tcp", "6164", "10.0.0.10", []string{"repo-to-repo:repo>repo"}},
				{"tcp", "20048", "10.0.0.1", []string{"extra:server>repo"}},
				{"udp", "20048", "10.0.0.1", []string{"extra:server>repo"}},
			},
		},
		{
			name: "server: network sources, local flows and endpoints are notes",
			host: "vbr",
			want: []ruleView{
				{"tcp", "9392", "192.0.2.0/28", []string{"console:console>server"}},
			},
			notes: []string{"outbound tcp/443 to updates.example.com", "tcp/9501 is used locally"},
		},
		{
			name:     "a bool condition turns a flow on",
			settings: "settings {\n feature = true\n}\n",
			host:     "vbr",
			want: []ruleView{
				{"tcp", "9392", "192.0.2.0/28", []string{"console:console>server"}},
				{"tcp", "10003", "192.0.2.0/28", []string{"feature:console>server"}},
			},
			notes: []string{"outbound tcp/443", "tcp/9501 is used locally"},
		},
		{
			name:  "a destination that cannot carry a rule becomes a note on the source",
			host:  "px",
			notes: []string{"open tcp+udp/111,2049 on nas1 (nas) from this host"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := parseInv(t, pol, tt.settings+baseInv)
			hrs, err := Compute(inv, pol, nil)
			if err != nil {
				t.Fatal(err)
			}
			var hr *HostRules
			for _, h := range hrs {
				if h.Host.Name == tt.host {
					hr = h
				}
			}
			if diff := cmp.Diff(tt.want, viewRules(hr)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if len(hr.Notes) != len(tt.notes) {
				t.Fatalf("notes = %q, want %d matching %q", hr.Notes, len(tt.notes), tt.notes)
			}
			for i, n := range tt.notes {
				if !strings.Contains(hr.Notes[i], n) {
					t.Errorf("note %d = %q, want it to contain %q", i, hr.Notes[i], n)
				}
			}
		})
	}
}

func TestComputeIsDeterministic(t *testing.T) {
	pol := testPolicy(t)
	inv := parseInv(t, pol, baseInv)
	first, err := Compute(inv, pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := Compute(inv, pol, nil)
		for j := range first {
			if diff := cmp.Diff(viewRules(first[j]), viewRules(again[j])); diff != "" {
				t.Fatalf("run %d differs for %s:\n%s", i, first[j].Host.Name, diff)
			}
		}
	}
}

func TestEffectiveRolesDerivesByOS(t *testing.T) {
	pol := testPolicy(t)
	inv := parseInv(t, pol, `
host "l" {
  address = "10.0.0.1"
  os = "linux"
  roles = ["repo"]
}
host "w" {
  address = "10.0.0.2"
  os = "windows"
  roles = ["repo"]
}
`)
	if got := EffectiveRoles(inv.Hosts[0], pol); !cmp.Equal(got, []string{"linux_server", "repo"}) {
		t.Errorf("linux repo roles = %v", got)
	}
	if got := EffectiveRoles(inv.Hosts[1], pol); !cmp.Equal(got, []string{"repo"}) {
		t.Errorf("windows repo roles = %v", got)
	}
}

func TestComputeNeedsAddressesForDNSNames(t *testing.T) {
	pol := testPolicy(t)
	inv := parseInv(t, pol, `
host "vbr" {
  address = "vbr.example.com"
  os = "windows"
  roles = ["server"]
}
host "r" {
  address = "10.0.0.2"
  os = "linux"
  roles = ["repo"]
}
`)
	if _, err := Compute(inv, pol, nil); err == nil || !strings.Contains(err.Error(), "vbr.example.com") {
		t.Fatalf("Compute without resolved address: err = %v, want one naming the host", err)
	}
	hrs, err := Compute(inv, pol, Addresses{"vbr": {netip.MustParseAddr("10.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := viewRules(hrs[1])[0].Sources; got != "10.0.0.1" {
		t.Errorf("sources = %q, want the resolved address", got)
	}
}

func TestPolicyEvaluateRejectsBadSettings(t *testing.T) {
	pol := testPolicy(t)
	_, diags := pol.Evaluate(map[string]cty.Value{"extra_port": cty.StringVal("abc")})
	if !diags.HasErrors() {
		t.Fatal("a non-numeric port setting evaluated without error")
	}
}

// TestComputeNotesFlowsBetweenRolesOfOneHost checks that a flow whose only
// source is the destination host itself (it plays both roles) becomes a
// note instead of vanishing.
func TestComputeNotesFlowsBetweenRolesOfOneHost(t *testing.T) {
	pol := testPolicy(t)
	inv := parseInv(t, pol, `
host "aio" {
  address = "10.0.0.1"
  os = "windows"
  roles = ["server", "repo"]
}
host "repo2" {
  address = "10.0.0.2"
  os = "linux"
  roles = ["repo"]
}
`)
	hrs, err := Compute(inv, pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	aio, repo2 := hrs[0], hrs[1]
	var self []string
	for _, n := range aio.Notes {
		if strings.Contains(n, "stays on this host") {
			self = append(self, n)
		}
	}
	want := []string{
		"tcp/2500-3300,6162 from server to repo stays on this host, which plays both roles: no inbound rule needed [Repo, flow movers-from-server]",
	}
	if diff := cmp.Diff(want, self); diff != "" {
		t.Errorf("self notes (-want +got):\n%s\nall notes: %q", diff, aio.Notes)
	}
	// repo-to-repo has another source (repo2): a rule, no note.
	if got := viewRules(aio); !slices.ContainsFunc(got, func(r ruleView) bool { return r.Ports == "6164" && r.Sources == "10.0.0.2" }) {
		t.Errorf("aio rules = %v, want tcp/6164 from repo2", got)
	}
	for _, n := range repo2.Notes {
		if strings.Contains(n, "stays on this host") {
			t.Errorf("repo2 plays one role, yet has a self note: %q", n)
		}
	}
}

// TestComputeUnmanagedDestinationWithoutSources checks that a destination
// that cannot carry a rule gets a note only when some source plays the
// flow's from role: with no proxy, the NAS has nothing to open.
func TestComputeUnmanagedDestinationWithoutSources(t *testing.T) {
	pol := testPolicy(t)
	src := `
host "nas1" {
  address = "10.0.0.30"
  os = "linux"
  roles = ["nas"]
  managed = false
}
`
	hrs, err := Compute(parseInv(t, pol, src), pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hrs[0].Notes) != 0 {
		t.Errorf("nas1 without proxies has notes %q", hrs[0].Notes)
	}
	src += "host \"px\" {\n  address = \"10.0.0.20\"\n  os = \"windows\"\n  roles = [\"proxy\"]\n}\n"
	hrs, err = Compute(parseInv(t, pol, src), pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hrs[0].Notes) != 1 || !strings.Contains(hrs[0].Notes[0], "cannot carry a host firewall rule: tcp+udp/111,2049") {
		t.Errorf("nas1 with a proxy: notes %q", hrs[0].Notes)
	}
}
