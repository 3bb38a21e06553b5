package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/portwarden/portwarden/internal/golden"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// golden compares got with testdata/NAME, or rewrites it with
// go test ./cmd/portwarden -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

// TestRulesGolden pins the rules of the example inventories, in both views.
func TestRulesGolden(t *testing.T) {
	t.Setenv("PW_WINRM_PASSWORD", "not-used")
	t.Setenv("PW_SUDO_PASSWORD", "not-used")
	for _, ex := range []string{"lab", "site", "vsphere-v13"} {
		t.Run(ex, func(t *testing.T) {
			inv := filepath.Join("..", "..", "examples", ex+".hcl")
			out, errOut, code := runCLI(t, "rules", "--inventory", inv, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "rules/"+ex+".json", out)
			var doc jsonRules
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.FormatVersion != "1" || len(doc.Hosts) == 0 {
				t.Fatalf("not a rules document: %v", err)
			}
			text, _, code := runCLI(t, "rules", "--inventory", inv)
			if code != 0 {
				t.Fatalf("text view exit %d", code)
			}
			golden(t, "rules/"+ex+".txt", text)
		})
	}
}

// TestRulesInvariants checks properties every computed rule must have,
// whatever the policy says: never "any", never the host itself, sorted.
func TestRulesInvariants(t *testing.T) {
	t.Setenv("PW_WINRM_PASSWORD", "x")
	t.Setenv("PW_SUDO_PASSWORD", "x")
	for ex, pack := range map[string]string{"site": "veeam-v12", "vsphere-v13": "veeam-v13"} {
		out, errOut, code := runCLI(t, "rules", "--inventory", "../../examples/"+ex+".hcl", "--format", "json")
		if code != 0 {
			t.Fatal(errOut)
		}
		var doc jsonRules
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		for _, h := range doc.Hosts {
			for _, r := range h.Rules {
				if len(r.Sources) == 0 || len(r.Reasons) == 0 || len(r.Ports) == 0 {
					t.Errorf("%s %s: rule %v has no sources, ports or reasons", ex, h.Name, r)
				}
				for _, s := range r.Sources {
					if s == h.Address || s == "0.0.0.0/0" || s == "::/0" {
						t.Errorf("%s %s: rule %s/%v allows %s", ex, h.Name, r.Protocol, r.Ports, s)
					}
				}
				for _, rs := range r.Reasons {
					if rs.Pack != pack {
						t.Errorf("%s %s: reason %s comes from pack %q, want %q", ex, h.Name, rs.Flow, rs.Pack, pack)
					}
				}
			}
		}
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"backup_repo\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badVersion := filepath.Join(dir, "version.hcl")
	if err := os.WriteFile(badVersion, []byte("settings {\n  veeam_version = 14\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v12Role := filepath.Join(dir, "v12role.hcl")
	if err := os.WriteFile(v12Role, []byte("host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"backup_server\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v13Role := filepath.Join(dir, "v13role.hcl")
	if err := os.WriteFile(v13Role, []byte("settings {\n  veeam_version = 13\n}\nhost \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"backup_server\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"veeam_version without a pack", []string{"rules", "--inventory", badVersion}, 1, "on " + badVersion + " line 2"},
		{"Linux backup server is v13 only", []string{"rules", "--inventory", v12Role}, 1, "runs on windows, not on linux"},
		{"Linux backup server with veeam_version = 13", []string{"rules", "--inventory", v13Role}, 0, "flow update-repository]"},
		{"no command", nil, 1, "Usage: portwarden"},
		{"unknown command", []string{"frobnicate"}, 1, `unknown command "frobnicate"`},
		{"help", []string{"rules", "--help"}, 0, "--inventory"},
		{"missing inventory flag", []string{"rules"}, 1, "--inventory is required"},
		{"bad format", []string{"rules", "--inventory", bad, "--format", "yaml"}, 1, "--format must be text or json"},
		{"missing file", []string{"rules", "--inventory", filepath.Join(dir, "nope.hcl")}, 1, "Cannot read inventory"},
		{"diagnostic with source", []string{"rules", "--inventory", bad}, 1, "on " + bad + " line 4"},
		{"diagnostic suggests", []string{"rules", "--inventory", bad}, 1, `Did you mean "backup_repository"?`},
		{"unknown host filter", []string{"rules", "--inventory", "../../examples/lab.hcl", "--host", "repo1"}, 1, `Did you mean "repo01"?`},
		{"plan with bad inventory changes nothing", []string{"plan", "--inventory", bad}, 1, "nothing was changed on any host"},
		{"bad parallel", []string{"apply", "--inventory", bad, "--parallel", "-1"}, 1, "--parallel must be 0 (from the machine) or more"},
		{"bad max-handshakes", []string{"plan", "--inventory", bad, "--max-handshakes", "0"}, 1, "--max-handshakes must be at least 1"},
	}
	t.Setenv("PW_WINRM_PASSWORD", "x")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if !strings.Contains(out+errOut, tt.want) {
				t.Errorf("output does not contain %q:\n%s%s", tt.want, out, errOut)
			}
		})
	}
}

func TestDiagnosticsJSON(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("host \"a\" {\n  address = \"10.0.0.300\"\n  os = \"linux\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "rules", "--inventory", bad, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Valid       bool             `json:"valid"`
		Diagnostics []jsonDiagnostic `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(errOut), &doc); err != nil {
		t.Fatalf("diagnostics are not JSON: %v\n%s", err, errOut)
	}
	if doc.Valid || len(doc.Diagnostics) != 1 {
		t.Fatalf("got %+v", doc)
	}
	d := doc.Diagnostics[0]
	if d.Summary != "Invalid address" || d.Range == nil || d.Range.Filename != bad || d.Range.Start.Line != 2 || d.Range.Start.Column != 13 {
		t.Errorf("diagnostic = %+v range %+v", d, d.Range)
	}
}

// TestExtraPolicy: --policy DIR adds roles and flows on top of the built-in
// Veeam policy, and its mistakes are diagnostics like the inventory's.
func TestExtraPolicy(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("policy/monitoring.hcl", `
role "monitoring" {
  description = "Prometheus server"
  os          = ["linux"]
}
flow "node-exporter" {
  section     = "Local: monitoring"
  description = "Prometheus scrapes node_exporter"
  from        = ["monitoring"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [9100]
}
`)
	inv := write("inv.hcl", `
host "prom" {
  address = "192.0.2.5"
  os      = "linux"
  roles   = ["monitoring"]
}
host "repo" {
  address = "192.0.2.30"
  os      = "linux"
  roles   = ["backup_repository"]
}
`)
	out, errOut, code := runCLI(t, "rules", "--inventory", inv, "--policy", pol, "--host", "repo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "9100") || !strings.Contains(out, "192.0.2.5") || !strings.Contains(out, "Prometheus scrapes") {
		t.Errorf("the extra flow is missing:\n%s", out)
	}
	// Without the extra policy the role is unknown.
	if _, errOut, code := runCLI(t, "rules", "--inventory", inv); code != 1 || !strings.Contains(errOut, `no role "monitoring"`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
	// A broken policy file is a diagnostic with its place.
	write("policy/broken.hcl", "flow \"x\" {\n  section = \"s\"\n  description = \"d\"\n  from = [\"monitoring\"]\n  to = [\"nosuchrole\"]\n  protocol = \"tcp\"\n  ports = [1]\n}\n")
	_, errOut, code = runCLI(t, "rules", "--inventory", inv, "--policy", pol)
	if code != 1 || !strings.Contains(errOut, "broken.hcl line 1") || !strings.Contains(errOut, "nosuchrole") {
		t.Errorf("broken policy: exit %d:\n%s", code, errOut)
	}
}

func TestProgressJSONEvents(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "json", "text")
	p.HostStart("repo01", "apply")
	p.HostDone("repo01", "apply", errors.New("nft refused it"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 events, got %q", lines)
	}
	var ev progressEvent
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Host != "repo01" || ev.Phase != "apply" || ev.Event != "failed" || ev.Error != "nft refused it" || ev.FormatVersion != "1" {
		t.Errorf("event = %+v", ev)
	}
}

func TestComparePlans(t *testing.T) {
	ch := func(ports ...string) []jsonChange {
		return []jsonChange{{Action: "create", Kind: "rule", Protocol: "tcp", Ports: ports, Sources: []string{"10.0.0.1"}}}
	}
	base := jsonPlan{FormatVersion: "1", Hosts: []jsonHostPlan{
		{Name: "a", Changes: ch("22")}, {Name: "b", Changes: []jsonChange{}},
	}}
	tests := []struct {
		name string
		now  jsonPlan
		want []string // substrings, one per difference
	}{
		{"same", base, nil},
		{"a's change differs", jsonPlan{Hosts: []jsonHostPlan{{Name: "a", Changes: ch("23")}, {Name: "b", Changes: []jsonChange{}}}},
			[]string{"a changed since"}},
		{"b drifted since", jsonPlan{Hosts: []jsonHostPlan{{Name: "a", Changes: ch("22")}, {Name: "b", Changes: ch("22")}}},
			[]string{"b changed since"}},
		{"a is down now", jsonPlan{Hosts: []jsonHostPlan{{Name: "a", Error: "connecting: refused", Changes: []jsonChange{}}, {Name: "b", Changes: []jsonChange{}}}},
			[]string{"a cannot be planned now"}},
		{"a new host with changes", jsonPlan{Hosts: []jsonHostPlan{{Name: "a", Changes: ch("22")}, {Name: "b", Changes: []jsonChange{}}, {Name: "c", Changes: ch("1")}}},
			[]string{"c has changes that the saved plan does not have"}},
		{"a left out of this run", jsonPlan{Hosts: []jsonHostPlan{{Name: "b", Changes: []jsonChange{}}}},
			[]string{"a has changes in the saved plan but is not part of this run"}},
		// A plan saved before sources were aggregated lists peers one by
		// one: the same set, so no difference; another set differs.
		{"saved one by one, now aggregated", func() jsonPlan {
			old := jsonPlan{Hosts: []jsonHostPlan{{Name: "a", Changes: ch("22")}, {Name: "b", Changes: []jsonChange{}}}}
			old.Hosts[0].Changes[0].Sources = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.0"}
			return old
		}(), []string{"a changed since"}},
	}
	// The saved plan of an earlier release: 10.0.0.0/30 one by one.
	saved := jsonPlan{FormatVersion: "1", Hosts: []jsonHostPlan{{Name: "a", Changes: ch("22")}, {Name: "b", Changes: []jsonChange{}}}}
	saved.Hosts[0].Changes[0].Sources = []string{"10.0.0.3", "10.0.0.0", "10.0.0.1", "10.0.0.2"}
	now := jsonPlan{FormatVersion: "1", Hosts: []jsonHostPlan{{Name: "a", Changes: ch("22")}, {Name: "b", Changes: []jsonChange{}}}}
	now.Hosts[0].Changes[0].Sources = []string{"10.0.0.0/30"}
	if d := comparePlans(saved, now); len(d) != 0 {
		t.Errorf("a saved plan listing the same sources one by one differs: %q", d)
	}
	if saved.Hosts[0].Changes[0].Sources[0] != "10.0.0.3" {
		t.Errorf("comparePlans modified the saved plan")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := comparePlans(base, tt.now)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d differences", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("difference %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

func TestSavedPlanFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{\"format_version\": \"9\"}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPlan(bad); err == nil || !strings.Contains(err.Error(), "format_version") {
		t.Errorf("loadPlan(wrong version) = %v", err)
	}
	if _, err := loadPlan(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("loadPlan(missing file) succeeded")
	}
}

func TestGroupFilter(t *testing.T) {
	t.Setenv("PW_WINRM_PASSWORD", "x")
	t.Setenv("PW_SUDO_PASSWORD", "x")
	out, errOut, code := runCLI(t, "rules", "--inventory", "../../examples/site.hcl", "--group", "hyperv", "--host", "repo01", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc jsonRules
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range doc.Hosts {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "hv01,hv02,repo01" {
		t.Errorf("--group hyperv --host repo01 selected %v", names)
	}
	_, errOut, code = runCLI(t, "rules", "--inventory", "../../examples/site.hcl", "--group", "hyper")
	if code != 1 || !strings.Contains(errOut, `Did you mean "hyperv"?`) {
		t.Errorf("unknown group: exit %d: %s", code, errOut)
	}
}
