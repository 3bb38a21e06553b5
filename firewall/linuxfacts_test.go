package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portwarden/portwarden/internal/golden"
	"github.com/portwarden/portwarden/rule"
)

// fixtureRoot replaces the temporary persist root in captured facts.
const fixtureRoot = "/srv/pwfw"

// loadFacts reads a captured facts fixture.
func loadFacts(t *testing.T, name string) Facts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "linux", "facts", name+".txt"))
	if err != nil {
		t.Fatalf("reading facts fixture (go test -update as root captures it): %v", err)
	}
	return ParseFacts(string(b))
}

// withSection returns a copy of f with one section replaced.
func withSection(f Facts, name, text string) Facts {
	out := Facts{}
	for k, v := range f {
		out[k] = v
	}
	out[name] = text
	return out
}

// withoutLines returns a copy of f whose section drops the lines that
// start with any of prefixes.
func withoutLines(f Facts, section string, prefixes ...string) Facts {
	var b strings.Builder
	for line := range strings.Lines(f[section]) {
		drop := false
		key := line
		if section == linuxSecTools {
			key = linuxToolLines(line) // "/usr/sbin/nft" reads as "nft=/usr/sbin/nft"
		}
		for _, p := range prefixes {
			if strings.HasPrefix(key, p) {
				drop = true
			}
		}
		if !drop {
			b.WriteString(line)
		}
	}
	return withSection(f, section, b.String())
}

func ports(ps ...uint16) []rule.PortRange {
	var out []rule.PortRange
	for i := 0; i < len(ps); i += 2 {
		out = append(out, rule.PortRange{Lo: ps[i], Hi: ps[i+1]})
	}
	return out
}

// lxDesired is the desired state the Linux tests apply. 10.99.0.2 and
// fd99::2 are the peer of link; the sources also hold prefixes that nft
// would merge in one set (two halves of a /24, a /24 and an address in
// it) to prove that they come back as they were.
func lxDesired(mode rule.Mode) Desired {
	d := Desired{
		Mode: mode,
		Rules: []rule.Rule{
			{Protocol: "tcp", Ports: ports(22, 22, 2500, 3300), Sources: pfx("10.99.0.2", "10.1.0.0/25", "10.1.0.128/25", "fd99::2", "2001:db8::/64"), Comment: "Veeam data movers"},
			{Protocol: "tcp", Ports: ports(6160, 6160, 6162, 6162), Sources: pfx("10.99.0.2", "10.1.2.0/24", "10.1.2.7"), Comment: "Veeam installer \"service\""},
			{Protocol: "udp", Ports: ports(111, 111), Sources: pfx("10.99.0.2")},
		},
		ManagementPort:    22,
		ManagementSources: pfx("10.99.0.3"),
	}
	return normalized(d)
}

// manyPorts is a rule with more ports than one multiport match takes.
func manyPorts() rule.Rule {
	r := rule.Rule{Protocol: "tcp", Sources: pfx("10.99.0.2", "fd99::2"), Comment: "many"}
	for p := uint16(1000); p < 1040; p += 2 {
		r.Ports = append(r.Ports, rule.PortRange{Lo: p, Hi: p})
	}
	r.Ports = append(r.Ports, rule.PortRange{Lo: 5000, Hi: 5100}, rule.PortRange{Lo: 6000, Hi: 6100})
	return r
}

func normalized(d Desired) Desired {
	for i, r := range d.Rules {
		d.Rules[i] = r.Normalize()
		d.Rules[i].Comment = CleanComment(r.Comment)
	}
	sortRules(d.Rules)
	return d
}

// checkState compares a read-back State with what applying d should give;
// Drift and Warnings are checked apart.
func checkState(t *testing.T, st State, d Desired) {
	t.Helper()
	want := State{Backend: st.Backend, Installed: true, Mode: d.Mode, Rules: normalized(d).Rules}
	if len(d.Rules) == 0 && d.Mode != rule.Enforce {
		want = State{Backend: st.Backend}
	}
	if d.Mode == rule.Enforce {
		m := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: d.ManagementPort, Hi: d.ManagementPort}}, Sources: d.ManagementSources}.Normalize()
		want.Management = &m
	}
	got := st
	got.Warnings, got.Drift = nil, nil
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("state differs from desired (-want +got):\n%s", diff)
	}
}

// checkCleanState is checkState for a read-back that must show no drift.
func checkCleanState(t *testing.T, st State, d Desired) {
	t.Helper()
	checkState(t, st, d)
	if len(st.Drift) > 0 {
		t.Errorf("drift: %q", st.Drift)
	}
}

// stateCase is a facts fixture and the Desired its State must equal.
type stateCase struct {
	facts string
	want  Desired
}

// checkStates parses each fixture with b and checks the State is clean.
func checkStates(t *testing.T, b Backend, cases []stateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.facts, func(t *testing.T) {
			st, err := b.State(loadFacts(t, tc.facts))
			if err != nil {
				t.Fatal(err)
			}
			checkCleanState(t, st, tc.want)
		})
	}
}

// rejectCase is an Apply that must fail.
type rejectCase struct {
	b Backend
	f Facts
	d Desired
}

// checkRejects fails for each case whose Apply is accepted.
func checkRejects(t *testing.T, cases map[string]rejectCase) {
	t.Helper()
	for name, tc := range cases {
		if _, err := tc.b.Apply(tc.f, tc.d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCleanComment(t *testing.T) {
	for in, want := range map[string]string{
		"Veeam data movers":           "Veeam data movers",
		`say "hi" \ now`:              `say 'hi' ' now`,
		"  tabs\tand\nnewlines  ":     "tabs and newlines",
		"portwarden:management":       "portwarden management",
		"ctl\x00chars\x7f":            "ctlchars",
		strings.Repeat("é", 80):       strings.Repeat("é", 50),
		"portwarden: is a tag, fine?": "portwarden  is a tag, fine?",
	} {
		if got := CleanComment(in); got != want {
			t.Errorf("CleanComment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLinuxRoot(t *testing.T) {
	for _, ok := range []string{"", "/", "/srv/lab/hosts/lnx01/root", "/tmp/x_y-z.1"} {
		if _, err := linuxRoot(ok); err != nil {
			t.Errorf("linuxRoot(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"relative", "/a/../b", "/a/", "/a b", "/a'b", `/a"b`, "/a$b"} {
		if _, err := linuxRoot(bad); err == nil {
			t.Errorf("linuxRoot(%q) accepted", bad)
		}
	}
}

func TestParseLinuxFactsRejects(t *testing.T) {
	good := loadFacts(t, "empty")
	if _, err := parseLinuxFacts(good); err != nil {
		t.Fatalf("good facts: %v", err)
	}
	noDone := withSection(good, "x", "")
	delete(noDone, linuxSecDone)
	noTools := withSection(good, "x", "")
	delete(noTools, linuxSecTools)
	for name, f := range map[string]Facts{
		"truncated":     noDone,
		"no tools":      noTools,
		"bad kv":        withSection(good, linuxSecTools, "nft /usr/sbin/nft\n"),
		"bad errors":    withSection(good, linuxSecErrors, "something odd\n"),
		"not a host":    ParseFacts("hello\n"),
		"windows facts": {"windows-rules": "[]", "windows-profiles": "[]"},
	} {
		if _, err := parseLinuxFacts(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLinuxFactsScriptNoTools runs the facts script with a PATH that has
// none of the firewall tools: it must still print every section and exit
// 0.
func TestLinuxFactsScriptNoTools(t *testing.T) {
	requireKernel(t)
	t.Parallel()
	ns := newNS(t)
	bin := t.TempDir()
	for _, tool := range []string{"mktemp", "rm", "grep", "tr", "cut", "head", "cat"} {
		p, err := findTool(tool)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	// The script prepends the sbin directories to PATH; replace them for
	// this run only by wrapping it.
	s := LinuxFactsScript
	s.Body = strings.Replace(s.Body, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH", "PATH="+bin, 1)
	f := ns.script(s)
	lf, err := parseLinuxFacts(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{linuxSecNFT, linuxSecIPT, linuxSecIP6T, linuxSecIPTLegacy, linuxSecIP6Legacy} {
		if _, ok := f[sec]; !ok {
			t.Errorf("section %s missing", sec)
		} else if strings.TrimSpace(f[sec]) != "" {
			t.Errorf("section %s = %q, want empty", sec, f[sec])
		}
	}
	if lf.has("nft") || lf.has("iptables") {
		t.Errorf("tools = %v, want none", lf.tools)
	}
	_, err = Detect(f, "auto", "")
	if ue, ok := err.(*UnsupportedError); !ok || !strings.Contains(ue.Error(), "neither nft nor iptables") {
		t.Errorf("Detect without tools: %v, want an *UnsupportedError about missing tools", err)
	}
}

// TestLinuxFactsScriptLargeRuleset runs the facts script where nft's
// listing is larger than what the script collects before writing (64 KB,
// then it writes the ruleset at once): the output holds every section
// once, in the parts' order, done last, and the whole ruleset.
func TestLinuxFactsScriptLargeRuleset(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	ns := newNS(t)
	var b strings.Builder
	b.WriteString("table inet pwbig {\n\tset peers {\n\t\ttype ipv4_addr\n\t\telements = { ")
	const n = 6000
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "10.%d.%d.1", i/250, i%250)
	}
	b.WriteString(" }\n\t}\n}\n")
	if out, errOut, code := ns.run("nft -f -", []byte(b.String())); code != 0 {
		t.Fatalf("loading the large set: %s%s", out, errOut)
	}
	out, errOut, code := ns.run(LinuxFactsScript.Body, nil)
	if code != 0 {
		t.Fatalf("facts script exited %d: %s", code, errOut)
	}
	f := ParseFacts(out)
	nft := f[linuxSecNFT]
	if len(nft) <= 65536 || !json.Valid([]byte(nft)) {
		t.Fatalf("nft section: %d bytes, valid JSON %v; want the whole listing, over 64 KB", len(nft), json.Valid([]byte(nft)))
	}
	if got := strings.Count(nft, `"10.`); got != n {
		t.Errorf("nft section lists %d of the set's %d addresses", got, n)
	}
	var order []string
	for line := range strings.Lines(out) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), SectionMarker); ok {
			order = append(order, name)
		}
	}
	want := []string{linuxSecSession, linuxSecOS, linuxSecTools, linuxSecServices, linuxSecNFT, linuxSecIPT, linuxSecIP6T,
		linuxSecIPTLegacy, linuxSecIP6Legacy, linuxSecPersist, linuxSecFirewalld,
		ufwSecRules, ufwSecRules6, ufwSecDefault, ufwSecRecord, linuxSecErrors, linuxSecDone}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}
	if strings.TrimSpace(f[linuxSecDone]) != "ok" {
		t.Errorf("done section %q", f[linuxSecDone])
	}
	if _, err := parseLinuxFacts(f); err != nil {
		t.Error(err)
	}
}

func findTool(name string) (string, error) {
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// TestCaptureLinuxFacts rewrites the facts fixtures from real namespaces
// with -update (as root). The persist root is replaced by fixtureRoot.
func TestCaptureLinuxFacts(t *testing.T) {
	if !golden.Update() {
		t.Skip("fixtures are captured only with -update")
	}
	requireKernel(t, "nft", "iptables", "ip6tables", "iptables-legacy")
	capture := func(name string, setup func(ns *testNS, root string)) {
		t.Run(name, func(t *testing.T) {
			ns := newNS(t)
			root := t.TempDir()
			setup(ns, root)
			fs, err := LinuxFactsScriptAt(root)
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, code := ns.run(fs.Body, nil)
			if code != 0 {
				t.Fatalf("facts script exited %d: %s", code, errOut)
			}
			out = strings.ReplaceAll(out, root, fixtureRoot)
			path := filepath.Join("testdata", "linux", "facts", name+".txt")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
	apply := func(ns *testNS, root, want string, d Desired) {
		fs, _ := LinuxFactsScriptAt(root)
		f := ns.script(fs)
		b, err := Detect(f, want, root)
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.Apply(f, d)
		if err != nil {
			t.Fatal(err)
		}
		ns.script(s)
	}
	capture("empty", func(*testNS, string) {})
	capture("nft-baseline-drop", func(ns *testNS, _ string) { ns.sh(nftLoad(baselineDrop)) })
	capture("nft-accepting", func(ns *testNS, _ string) { ns.sh(nftLoad(foreignAccepting)) })
	capture("nft-additive-jump", func(ns *testNS, root string) {
		ns.sh(nftLoad(baselineDrop))
		apply(ns, root, "nftables", lxDesired(rule.Additive))
	})
	capture("nft-enforce", func(ns *testNS, root string) {
		apply(ns, root, "nftables", lxDesired(rule.Enforce))
	})
	capture("iptables-input-drop", func(ns *testNS, _ string) { ns.sh(iptablesDrop) })
	capture("iptables-additive", func(ns *testNS, root string) {
		ns.sh(iptablesDrop)
		d := lxDesired(rule.Additive)
		d.Rules = append(d.Rules, manyPorts())
		apply(ns, root, "iptables", normalized(d))
	})
	capture("iptables-enforce", func(ns *testNS, root string) {
		apply(ns, root, "iptables", lxDesired(rule.Enforce))
	})
	capture("legacy-rules", func(ns *testNS, _ string) {
		ns.sh("iptables-legacy -A INPUT -s 192.0.2.1 -j DROP")
	})
}

// Both the facts script and the nftables read-back, which are joined from
// the same named parts, print every facts section: a missing one would
// make their output unparsable.
func TestLinuxFactsPartsPrintEverySection(t *testing.T) {
	secs := []string{linuxSecOS, linuxSecTools, linuxSecServices, linuxSecNFT, linuxSecIPT, linuxSecIP6T,
		linuxSecIPTLegacy, linuxSecIP6Legacy, linuxSecPersist, linuxSecErrors, linuxSecDone}
	for name, script := range map[string]string{"facts": linuxFactsSections, "nft read-back": linuxNFTReadback} {
		for _, sec := range secs {
			if !strings.Contains(script, "pw_section "+sec+"\n") && !strings.Contains(script, "pw_run "+sec+" ") {
				t.Errorf("%s script does not print section %s", name, sec)
			}
		}
	}
	// A part named after a section prints it, and no two parts share a
	// name.
	seen := map[string]bool{}
	for _, p := range linuxFactsParts {
		if seen[p.name] {
			t.Errorf("two parts named %s", p.name)
		}
		seen[p.name] = true
		if slices.Contains(secs, p.name) && !strings.Contains(p.shell, "pw_section "+p.name+"\n") && !strings.Contains(p.shell, "pw_run "+p.name+" ") {
			t.Errorf("part %s does not print its section", p.name)
		}
	}
	// The read-back runs no default iptables listing (the legacy one, where
	// the kernel has legacy tables, it does: State warns of their drops).
	for _, run := range []string{"pw_run " + linuxSecIPT + " ", "pw_run " + linuxSecIP6T + " ", "iptables -V"} {
		if strings.Contains(linuxNFTReadback, run) {
			t.Errorf("the nft read-back runs %q", run)
		}
	}
	if !strings.Contains(linuxNFTReadback, "pw_run "+linuxSecIPTLegacy+" ") || !strings.Contains(linuxNFTReadback, "pw_run "+linuxSecIP6Legacy+" ") {
		t.Error("the nft read-back does not list iptables-legacy")
	}
}

// The facts script names the iptables variant without running iptables
// where it can, and runs the iptables-nft listings only where nft's
// ruleset has a table of their family: what it prints is what iptables -V
// and iptables-save say.
func TestLinuxFactsIPTablesListings(t *testing.T) {
	requireKernel(t, "nft", "iptables", "ip6tables")
	t.Parallel()
	ns := newNS(t)
	variant := "legacy"
	if strings.Contains(ns.sh("iptables -V"), "nf_tables") {
		variant = "nf_tables"
	}
	lf, err := parseLinuxFacts(ns.script(LinuxFactsScript))
	if err != nil {
		t.Fatal(err)
	}
	if got := lf.iptablesVariant(); got != variant {
		t.Errorf("iptables_variant=%q, iptables -V says %q", got, variant)
	}
	if variant != "nf_tables" {
		t.Skip("the default iptables is not iptables-nft")
	}
	if strings.TrimSpace(lf.raw[linuxSecIPT]) != "" || strings.TrimSpace(lf.raw[linuxSecIP6T]) != "" || len(lf.errors) != 0 {
		t.Errorf("no iptables tables: sections %q, %q, errors %v", lf.raw[linuxSecIPT], lf.raw[linuxSecIP6T], lf.errors)
	}
	ns.sh("ip6tables -A INPUT -s 2001:db8::1 -j DROP")
	lf, err = parseLinuxFacts(ns.script(LinuxFactsScript))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(lf.raw[linuxSecIPT]) != "" {
		t.Errorf("no IPv4 iptables table: section %q", lf.raw[linuxSecIPT])
	}
	if !strings.Contains(lf.raw[linuxSecIP6T], "-A INPUT -s 2001:db8::1/128 -j DROP") {
		t.Errorf("ip6tables section misses the rule:\n%s", lf.raw[linuxSecIP6T])
	}
	ns.sh("iptables -A INPUT -s 192.0.2.1 -j DROP")
	lf, err = parseLinuxFacts(ns.script(LinuxFactsScript))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lf.raw[linuxSecIPT], "-A INPUT -s 192.0.2.1/32 -j DROP") {
		t.Errorf("iptables section misses the rule:\n%s", lf.raw[linuxSecIPT])
	}
}

// TestLinuxFactsScriptReadOnly: the facts script is marked read-only (it
// runs without the host-side timeout process); an apply script is not.
func TestLinuxFactsScriptReadOnly(t *testing.T) {
	at, err := LinuxFactsScriptAt("/srv/pw")
	if err != nil {
		t.Fatal(err)
	}
	if !LinuxFactsScript.ReadOnly || !at.ReadOnly {
		t.Errorf("facts scripts not read-only: %v, %v", LinuxFactsScript.ReadOnly, at.ReadOnly)
	}
}
