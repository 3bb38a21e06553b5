package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portwarden/portwarden/bench"
	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// The streamed document is byte for byte what json.Encoder writes for the
// whole value, for no host, one and several, with and without a tail
// (HTML-escaped text included).
func TestWriteHostsJSONMatchesEncoder(t *testing.T) {
	type host struct {
		Name  string   `json:"name"`
		Notes []string `json:"notes"`
	}
	type doc struct {
		FormatVersion string         `json:"format_version"`
		Hosts         []host         `json:"hosts"`
		Summary       map[string]int `json:"summary,omitempty"`
	}
	for _, tt := range []struct {
		name  string
		hosts []host
		tail  bool
	}{
		{"none", []host{}, false},
		{"none with tail", []host{}, true},
		{"one", []host{{"a", []string{"<b> & c"}}}, false},
		{"several with tail", []host{{"a", nil}, {"b", []string{}}, {"c", []string{"x", "y"}}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := doc{FormatVersion: formatVersion, Hosts: tt.hosts}
			var tail []jsonField
			if tt.tail {
				d.Summary = map[string]int{"add": 1, "remove": 2}
				tail = []jsonField{{"summary", d.Summary}}
			}
			var want, got bytes.Buffer
			if writeJSON(&want, io.Discard, d) != 0 {
				t.Fatal("writeJSON failed")
			}
			if writeHostsJSON(&got, io.Discard, len(tt.hosts), func(i int) any { return tt.hosts[i] }, tail) != 0 {
				t.Fatal("writeHostsJSON failed")
			}
			if got.String() != want.String() {
				t.Errorf("streamed:\n%s\nencoder:\n%s", got.String(), want.String())
			}
		})
	}
}

// resultDoc is the whole result document as one value: the oracle the
// streamed writers are checked against.
func resultDoc(plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, withApply bool) any {
	out := planJSON(plans)
	for i, p := range plans {
		out.Hosts[i] = hostResultJSON(p, withApply)
	}
	return struct {
		jsonPlan
		Probes []jsonProbe `json:"probes,omitempty"`
	}{out, probesJSON(probes)}
}

// The streamed plan and result documents are the documents as one value,
// byte for byte, for plans with changes, failures, apply results and
// probes.
func TestStreamedPlanDocuments(t *testing.T) {
	plans := []*orchestrator.HostPlan{
		goldenPlan("proxy", rule.Additive, firewall.State{Backend: "iptables"}),
		goldenPlan("repo", rule.Additive, firewall.State{Backend: "nftables", Installed: true, Mode: rule.Additive, Rules: []rule.Rule{proxyRule("198.18.0.9")}}),
		failedPlan("offline", errors.New("connecting to offline: i/o timeout")),
	}
	plans[0].Applied, plans[0].Left = true, orchestrator.LeftApplied
	plans[1].ApplyErr, plans[1].Left, plans[1].Remaining = errors.New("read-back differs"), orchestrator.LeftUnknown, plans[1].Changes
	probes := []*orchestrator.Probe{{From: "proxy", To: "repo", Addr: netip.MustParseAddr("198.18.0.9"), Proto: "tcp", Port: 2500, RuleKey: "tcp/2500-3300"}}
	check := func(name string, want any, write func(w io.Writer) int) {
		t.Helper()
		var a, b bytes.Buffer
		if writeJSON(&a, io.Discard, want) != 0 || write(&b) != 0 {
			t.Fatalf("%s: writing failed", name)
		}
		if a.String() != b.String() {
			t.Errorf("%s: streamed:\n%s\nwhole:\n%s", name, b.String(), a.String())
		}
	}
	// plan's own stream (runPlan), and the saved plan it keeps.
	stream := func(w io.Writer) *planStream {
		ps := newPlanStream(w, true)
		for _, p := range plans {
			ps.add(p)
		}
		return ps
	}
	check("plan", planJSON(plans), func(w io.Writer) int { return stream(w).close(io.Discard, plans) })
	if diff := cmp.Diff(planJSON(plans), stream(io.Discard).doc(plans)); diff != "" {
		t.Errorf("the saved plan kept from the stream differs from planJSON:\n%s", diff)
	}
	for _, withApply := range []bool{false, true} {
		for _, ps := range [][]*orchestrator.Probe{nil, probes} {
			check("result", resultDoc(plans, ps, withApply), func(w io.Writer) int { return writeResultDoc(w, io.Discard, plans, ps, withApply) })
		}
	}
}

// Output larger than one write, with characters of several bytes, comes
// through stdout's terminal-safety filter unescaped (no \xe2... in the
// middle of a reason), wherever a write ends.
func TestStreamedOutputKeepsCharactersWhole(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "fleet.hcl")
	if err := os.WriteFile(inv, []byte(bench.RepoFleet(400, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		out, errOut, code := runCLI(t, "rules", "--inventory", inv, "--format", format)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", format, code, errOut)
		}
		if len(out) < 4*hostsFlushAt {
			t.Fatalf("%s: %d bytes prove nothing", format, len(out))
		}
		if i := strings.Index(out, `\x`); i >= 0 {
			t.Errorf("%s: an escape in the output: %q", format, out[max(0, i-80):min(len(out), i+40)])
		}
		if format == "text" && !strings.Contains(out, "→") {
			t.Errorf("text view without an arrow: the test proves nothing")
		}
	}
}
