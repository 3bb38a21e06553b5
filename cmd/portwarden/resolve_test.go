package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// mapResolver answers from a map: no DNS query leaves the test.
type mapResolver map[string]string

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, errors.New("no such host")
}

func useResolver(t *testing.T, r mapResolver) {
	old := systemResolver
	systemResolver = r
	t.Cleanup(func() { systemResolver = old })
}

// TestUnresolvableAddress: one name that does not resolve is a diagnostic
// at its address; the hosts whose rules need it are left out and named,
// every other host has exactly the rules it has when the name resolves.
func TestUnresolvableAddress(t *testing.T) {
	src, err := os.ReadFile("../../examples/site.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, addr string
		line       int
		leftOut    bool // other hosts need its address
	}{
		{"hv01", "192.0.2.21", 64, true},
		{"dd01", "192.0.2.45", 86, false}, // an unmanaged peer nobody's rules need
	} {
		t.Run(tc.host, func(t *testing.T) {
			name := tc.host + ".corp.example"
			inv := filepath.Join(t.TempDir(), "site.hcl")
			if err := os.WriteFile(inv, []byte(strings.Replace(string(src), `"`+tc.addr+`"`, `"`+name+`"`, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			useResolver(t, mapResolver{name: tc.addr})
			out, errOut, code := runCLI(t, "rules", "--inventory", inv, "--format", "json")
			if code != 0 {
				t.Fatalf("resolving: code %d\n%s", code, errOut)
			}
			all := rulesByHost(t, out)

			useResolver(t, mapResolver{})
			out, errOut, code = runCLI(t, "rules", "--inventory", inv, "--format", "json")
			if code != 1 {
				t.Fatalf("code %d, want 1\n%s", code, errOut)
			}
			got := rulesByHost(t, out)
			var diags struct{ Diagnostics []jsonDiagnostic }
			if err := json.NewDecoder(strings.NewReader(errOut)).Decode(&diags); err != nil {
				t.Fatalf("stderr is not diagnostics JSON: %v\n%s", err, errOut)
			}
			var left []string
			for _, d := range diags.Diagnostics {
				switch d.Summary {
				case "Unresolvable address":
					if d.Range == nil || d.Range.Start.Line != tc.line || d.Range.Start.Column != 13 || !strings.Contains(d.Detail, name) {
						t.Errorf("diagnostic not at the address: %+v", d)
					}
				case "Host left out":
					left = append(left, regexp.MustCompile(`Host "([^"]+)"`).FindStringSubmatch(d.Detail)[1])
				}
			}
			for n, h := range all {
				needs := n == tc.host
				for _, r := range h.Rules {
					needs = needs || slices.Contains(r.Sources, tc.addr)
				}
				g, shown := got[n]
				switch {
				case needs && shown:
					t.Errorf("%s needs %s's address but was shown", n, tc.host)
				case needs && n != tc.host && !slices.Contains(left, n):
					t.Errorf("%s left out without a diagnostic naming it", n)
				case !needs && !shown:
					t.Errorf("%s does not need %s's address but was left out", n, tc.host)
				case !needs && !jsonEqual(g, h):
					t.Errorf("%s: rules differ from the resolved run", n)
				}
			}
			if (len(left) > 0) != tc.leftOut || len(got) < 3 {
				t.Fatalf("test inventory proves nothing: left out %v, shown %d", left, len(got))
			}
			// Text diagnostics carry the place.
			_, errOut, _ = runCLI(t, "rules", "--inventory", inv)
			if !strings.Contains(errOut, "on "+inv+" line "+strconv.Itoa(tc.line)) {
				t.Errorf("text diagnostic without the place:\n%s", errOut)
			}
		})
	}
}

func rulesByHost(t *testing.T, out string) map[string]jsonHostRules {
	t.Helper()
	var doc jsonRules
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := map[string]jsonHostRules{}
	for _, h := range doc.Hosts {
		m[h.Name] = h
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestRulesNeedNoSecrets: rules reads the inventory without the
// environment variables that hold connection secrets.
func TestRulesNeedNoSecrets(t *testing.T) {
	os.Unsetenv("PW_WINRM_PASSWORD")
	os.Unsetenv("PW_SUDO_PASSWORD")
	for _, inv := range []string{"../../examples/lab.hcl", "../../examples/site.hcl"} {
		out, errOut, code := runCLI(t, "rules", "--inventory", inv)
		if code != 0 || !strings.Contains(out, "roles:") {
			t.Errorf("%s: code %d\n%s", inv, code, errOut)
		}
	}
	// Nor the files: a file() secret that does not exist, an env() sudo
	// password that is not set.
	useResolver(t, mapResolver{"vbr01.lab.example": "192.0.2.10"})
	dir := writeFiles(t, map[string]string{"inv.hcl": validateInv, "id_test": "", "known_hosts": ""})
	if out, errOut, code := runCLI(t, "rules", "--inventory", filepath.Join(dir, "inv.hcl")); code != 0 || !strings.Contains(out, "repo01") {
		t.Errorf("rules without the secret files: code %d\n%s\n%s", code, out, errOut)
	}
}

// TestUnresolvableComputedAddressNotShown: an address computed by env()
// that does not resolve is reported at its place without its value (nor
// in the resolver's error), as every diagnostic treats computed values.
func TestUnresolvableComputedAddressNotShown(t *testing.T) {
	src, err := os.ReadFile("../../examples/site.hcl")
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(t.TempDir(), "site.hcl")
	if err := os.WriteFile(inv, []byte(strings.Replace(string(src), `"192.0.2.21"`, `env("PW_TEST_ADDR")`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	const marker = "pwmarkeraddr7q5.corp.example"
	t.Setenv("PW_TEST_ADDR", marker)
	useResolver(t, mapResolver{})
	for _, format := range []string{"text", "json"} {
		out, errOut, code := runCLI(t, "rules", "--inventory", inv, "--format", format)
		if code != 1 || !strings.Contains(errOut, "Unresolvable address") || !strings.Contains(errOut, `host \"hv01\"`) && !strings.Contains(errOut, `host "hv01"`) {
			t.Fatalf("%s: code %d, want 1 with the diagnostic for hv01:\n%s", format, code, errOut)
		}
		if strings.Contains(strings.ToLower(out+errOut), marker) {
			t.Errorf("%s: the computed address is shown:\n%s\n%s", format, out, errOut)
		}
		if format == "text" && !strings.Contains(errOut, "on "+inv+" line 64") {
			t.Errorf("text diagnostic without the place:\n%s", errOut)
		}
	}
	// The same name written out is shown: the check above can fail.
	if err := os.WriteFile(inv, []byte(strings.Replace(string(src), `"192.0.2.21"`, `"`+marker+`"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, _ := runCLI(t, "rules", "--inventory", inv); !strings.Contains(errOut, marker) {
		t.Errorf("a literal address is not shown:\n%s", errOut)
	}
}

// TestEveryHostUnresolved: when no host's name resolves, every command
// that would connect reports each host at its address and contacts none
// (the resolver answers nothing; no address is dialed).
func TestEveryHostUnresolved(t *testing.T) {
	useResolver(t, mapResolver{})
	dir := writeFiles(t, map[string]string{"id": "", "known_hosts": "", "inv.hcl": `
host "repo01" {
  address = "repo01.corp.example"
  os      = "linux"
  roles   = ["backup_repository"]
  ssh {
    private_key = "id"
    known_hosts = "known_hosts"
  }
}
`})
	inv := filepath.Join(dir, "inv.hcl")
	for _, args := range [][]string{
		{"plan"}, {"plan", "--format", "json"}, {"plan", "--format", "json", "--out", filepath.Join(dir, "plan.json")},
		{"apply", "--auto-approve"}, {"apply", "--auto-approve", "--format", "json", "--audit-log", filepath.Join(dir, "audit.log"), "--metrics-file", filepath.Join(dir, "m.prom")},
		{"verify"}, {"verify", "--format", "json"},
		{"report", "--format", "json", "--out", filepath.Join(dir, "r.json")},
	} {
		out, errOut, code := runCLI(t, append(args, "--inventory", inv)...)
		what := strings.Join(args, " ")
		if strings.Contains(errOut, "panic") || code == 0 && args[0] != "report" { // a report is written whatever the hosts say
			t.Errorf("%s: exit %d\n%s\n%s", what, code, out, errOut)
		}
		if !strings.Contains(out+errOut, "repo01") || !strings.Contains(out+errOut, "did not resolve") {
			t.Errorf("%s: repo01's unresolved name is not reported:\n%s\n%s", what, out, errOut)
		}
	}
}

// Two unresolved peers whose placeholders aggregate into one prefix are
// both named: the rule needs each of them.
func TestNeedsPlaceholderAggregated(t *testing.T) {
	a, b := &inventory.Host{Name: "a"}, &inventory.Host{Name: "b"}
	inv := &inventory.Inventory{Hosts: []*inventory.Host{a, b, {Name: "c"}}}
	addrs := orchestrator.Addresses{"a": {placeholderAddr(0)}, "b": {placeholderAddr(1)}}
	missing := map[string]bool{"a": true, "b": true}
	agg := rule.AggregatePrefixes([]netip.Prefix{netip.PrefixFrom(placeholderAddr(0), 128), netip.PrefixFrom(placeholderAddr(1), 128)})
	if len(agg) != 1 {
		t.Fatalf("placeholders did not aggregate: %v", agg)
	}
	hr := &orchestrator.HostRules{Host: &inventory.Host{Name: "c"}, Rules: []orchestrator.Rule{{Rule: rule.Rule{Protocol: "tcp", Sources: agg}}}}
	if got := needsPlaceholder(hr, inv, addrs, missing); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("needsPlaceholder = %v, want [a b]", got)
	}
}
