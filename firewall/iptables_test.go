package firewall

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/rule"
)

// iptablesDrop is a host managed with iptables whose INPUT drops.
const iptablesDrop = `iptables -P INPUT DROP &&
iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT &&
iptables -A INPUT -i lo -j ACCEPT &&
iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
iptables -N LOGDROP && iptables -A LOGDROP -j DROP &&
ip6tables -P INPUT DROP &&
ip6tables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT &&
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT &&
ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT
`

func TestIptSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`-s 10.0.0.1/32 -j ACCEPT`:                     {"-s", "10.0.0.1/32", "-j", "ACCEPT"},
		`-m comment --comment "a b" -j ACCEPT`:         {"-m", "comment", "--comment", "a b", "-j", "ACCEPT"},
		`-m comment --comment "say \"hi\"" -j DROP`:    {"-m", "comment", "--comment", `say "hi"`, "-j", "DROP"},
		`-m comment --comment portwarden -j X`:         {"-m", "comment", "--comment", "portwarden", "-j", "X"},
		`--comment "" -j X`:                            {"--comment", "", "-j", "X"},
		`  -p   tcp  `:                                 {"-p", "tcp"},
		`-m comment --comment "back\\slash" -j ACCEPT`: {"-m", "comment", "--comment", `back\slash`, "-j", "ACCEPT"},
	} {
		got, err := iptSplit(in)
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("iptSplit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := iptSplit(`--comment "open`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

// Source lists stay under the parameter length iptables-restore reads and
// add up to the sources, in order.
func TestIptSourceChunks(t *testing.T) {
	if got := iptSourceChunks(nil); got != nil {
		t.Errorf("no sources: %q", got)
	}
	if got := iptSourceChunks(pfx("10.0.0.1", "10.1.0.0/16")); !slices.Equal(got, []string{"10.0.0.1/32,10.1.0.0/16"}) {
		t.Errorf("two sources: %q", got)
	}
	var src []string
	for i := range 500 {
		src = append(src, fmt.Sprintf("10.%d.%d.7", i/250, i%250), fmt.Sprintf("fd00::%x/128", i))
	}
	chunks := iptSourceChunks(pfx(src...))
	var all []string
	for _, c := range chunks {
		if len(c) > iptMaxParam {
			t.Errorf("chunk of %d characters", len(c))
		}
		all = append(all, strings.Split(c, ",")...)
	}
	want := make([]string, len(src))
	for i, p := range pfx(src...) {
		want[i] = p.String()
	}
	if !slices.Equal(all, want) || len(chunks) < 10 {
		t.Errorf("%d chunks do not add up to the %d sources", len(chunks), len(src))
	}
}

func TestIptPortChunks(t *testing.T) {
	r := manyPorts()
	chunks := iptPortChunks(r.Ports)
	var all []rule.PortRange
	for _, c := range chunks {
		n := 0
		for _, p := range c {
			n++
			if p.Hi != p.Lo {
				n++
			}
		}
		if n > iptMultiport {
			t.Errorf("chunk %v takes %d ports", c, n)
		}
		all = append(all, c...)
	}
	if fmt.Sprint(all) != fmt.Sprint(r.Ports) || len(chunks) != 2 {
		t.Errorf("chunks %v do not add up to %v in 2 parts", chunks, r.Ports)
	}
}

func TestParseIptablesSaveRejects(t *testing.T) {
	for name, text := range map[string]string{
		"rule outside a table": "-A INPUT -j ACCEPT\n",
		"undeclared chain":     "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n",
		"no commit":            "*filter\n:INPUT ACCEPT [0:0]\n",
		"garbage":              "*filter\nhello\nCOMMIT\n",
		"bad chain line":       "*filter\n:INPUT\nCOMMIT\n",
	} {
		if _, err := parseIptablesSave(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func iptBackend() *IPTables {
	return &IPTables{Root: fixtureRoot}
}

func iptManyDesired() Desired {
	d := lxDesired(rule.Additive)
	d.Rules = append(d.Rules, manyPorts())
	return normalized(d)
}

func TestIPTablesApplyGolden(t *testing.T) {
	for _, tc := range []struct {
		name, facts string
		d           Desired
	}{
		{"additive", "empty", lxDesired(rule.Additive)},
		{"enforce", "empty", lxDesired(rule.Enforce)},
		{"additive-foreign-drop", "iptables-input-drop", iptManyDesired()},
		{"additive-jump-kept", "iptables-additive", iptManyDesired()},
		{"enforce-over-jump", "iptables-additive", lxDesired(rule.Enforce)},
		{"remove-with-jump", "iptables-additive", Desired{}},
		{"remove-nothing", "empty", Desired{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := iptBackend().Apply(loadFacts(t, tc.facts), tc.d)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "linux", "iptables/"+tc.name+".rules", string(s.Stdin))
			if tc.name == "additive" || tc.name == "remove-nothing" {
				checkGolden(t, "linux", "iptables/"+tc.name+".sh", s.Body)
			}
		})
	}
}

func TestIPTablesApplyRejects(t *testing.T) {
	no6 := withoutLines(loadFacts(t, "empty"), linuxSecTools, "ip6tables")
	checkRejects(t, map[string]rejectCase{
		"no facts":                {&IPTables{}, nil, lxDesired(rule.Additive)},
		"ipv6 without ip6tables":  {&IPTables{}, no6, lxDesired(rule.Additive)},
		"no iptables":             {&IPTables{}, withoutLines(loadFacts(t, "empty"), linuxSecTools, "iptables"), lxDesired(rule.Additive)},
		"enforce without sources": {iptBackend(), loadFacts(t, "empty"), Desired{Mode: rule.Enforce, ManagementPort: 22}},
	})
}

func TestIPTablesState(t *testing.T) {
	checkStates(t, iptBackend(), []stateCase{
		{"empty", Desired{}},
		{"iptables-input-drop", Desired{}},
		{"iptables-additive", iptManyDesired()},
		{"iptables-enforce", lxDesired(rule.Enforce)},
	})
}

// editSave rewrites the lines of one iptables-save section.
func editSave(f Facts, section string, fn func(line string) []string) Facts {
	var b strings.Builder
	for line := range strings.Lines(f[section]) {
		for _, l := range fn(strings.TrimRight(line, "\n")) {
			b.WriteString(l + "\n")
		}
	}
	return withSection(f, section, b.String())
}

const iptJumpLine = "-A INPUT -m comment --comment portwarden -j PORTWARDEN-INPUT"

func TestIPTablesStateDrift(t *testing.T) {
	base := loadFacts(t, "iptables-additive")
	noJump := editSave(base, linuxSecIPT, func(l string) []string {
		if l == iptJumpLine {
			return nil
		}
		return []string{l}
	})
	twoJumps := editSave(base, linuxSecIP6T, func(l string) []string {
		if l == iptJumpLine {
			return []string{l, l}
		}
		return []string{l}
	})
	jumpSecond := editSave(base, linuxSecIPT, func(l string) []string {
		if l == iptJumpLine {
			return []string{"-A INPUT -s 192.0.2.7/32 -j ACCEPT", l}
		}
		return []string{l}
	})
	lostPart := editSave(base, linuxSecIPT, func(l string) []string {
		if strings.Contains(l, "--dports 1000,") && strings.Contains(l, "10.99.0.2/32") {
			return nil
		}
		return []string{l}
	})
	noV6 := editSave(base, linuxSecIP6T, func(l string) []string {
		if strings.Contains(l, "PORTWARDEN-INPUT") {
			return nil
		}
		return []string{l}
	})
	notPersisted := withSection(base, linuxSecPersist, strings.Replace(base[linuxSecPersist], "rules_v4_owned=yes", "rules_v4_owned=no", 1))
	for _, tc := range []struct {
		name    string
		f       Facts
		drift   string
		warning string
	}{
		{"jump missing", noJump, "no jump", ""},
		{"two jumps", twoJumps, "2 jumps", ""},
		{"jump not first", jumpSecond, "", "not the first"},
		{"part of a split rule missing", lostPart, "different sources", ""},
		{"ipv6 chain missing", noV6, "IPv6 chain PORTWARDEN-INPUT is missing", ""},
		{"not persisted", notPersisted, "not persisted", ""},
		{"ufw", withSection(withSection(base, linuxSecServices, "systemd=no\nufw.conf_ENABLED=yes\n"), linuxSecIP6T, strings.Replace(base[linuxSecIP6T], "*filter\n", "*filter\n:ufw-user-input - [0:0]\n", 1)), "", "ufw is active"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := (&IPTables{Root: fixtureRoot}).State(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			checkDriftWarning(t, st, tc.drift, tc.warning)
		})
	}
}

func TestIPTablesStateRejects(t *testing.T) {
	base := loadFacts(t, "iptables-additive")
	for name, f := range map[string]Facts{
		"garbage": withSection(base, linuxSecIPT, "*filter\nwhat is this\nCOMMIT\n"),
		"foreign rule in owned chain": editSave(base, linuxSecIPT, func(l string) []string {
			if l == iptJumpLine {
				return []string{l, "-A PORTWARDEN-INPUT -i eth0 -j ACCEPT"}
			}
			return []string{l}
		}),
		"save failed": withSection(base, linuxSecErrors, "iptables: exit status 4: Permission denied\n"),
		"no done":     func() Facts { f := withSection(base, "x", ""); delete(f, linuxSecDone); return f }(),
	} {
		if _, err := (&IPTables{}).State(f); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// Kernel tests.

func TestIPTablesKernelRoundTrip(t *testing.T) {
	requireKernel(t, "iptables", "ip6tables", "nft")
	t.Parallel()
	for _, mode := range []rule.Mode{rule.Additive, rule.Enforce} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newKernelHost(t, "iptables")
			h.ns.sh(iptablesDrop)
			h.ns.sh(nftLoad(foreignAccepting))
			foreignNFT := "nft list table inet other; nft list table ip nat"
			nftBefore := h.ns.sh(foreignNFT)
			saveBefore := stable(h.ns.sh("iptables-save; ip6tables-save"))

			d := lxDesired(mode)
			d.Rules = append(d.Rules, manyPorts())
			d = normalized(d)
			s1, st := h.apply(d)
			checkState(t, st, d)
			s2, st2 := h.apply(d)
			// The first apply inserts the jumps, the second keeps them:
			// nothing else differs.
			insert := "-I INPUT 1 -m comment --comment portwarden -j PORTWARDEN-INPUT\n"
			if s1.Body != s2.Body || strings.ReplaceAll(string(s1.Stdin), insert, "") != string(s2.Stdin) {
				t.Errorf("second apply renders more than the kept jump differently:\n%s\n---\n%s", s1.Stdin, s2.Stdin)
			}
			checkState(t, st2, d)
			s3, _ := h.apply(d)
			if string(s3.Stdin) != string(s2.Stdin) {
				t.Errorf("third apply differs from the second")
			}

			if after := h.ns.sh(foreignNFT); after != nftBefore {
				t.Errorf("foreign nftables rules changed")
			}
			// The foreign iptables rules are all there, in order, after
			// portwarden's jump.
			after := stable(h.ns.sh("iptables-save; ip6tables-save"))
			var kept []string
			for line := range strings.Lines(after) {
				if !strings.Contains(line, iptChain) {
					kept = append(kept, line)
				}
			}
			if strings.Join(kept, "") != saveBefore {
				t.Errorf("foreign iptables rules changed:\nbefore:\n%s\nafter:\n%s", saveBefore, after)
			}
		})
	}
}

func TestIPTablesKernelForeignDropAndRemove(t *testing.T) {
	requireKernel(t, "iptables", "ip6tables")
	t.Parallel()
	h := newKernelHost(t, "iptables")
	peer := newNS(t)
	link(t, h.ns, peer)
	h.ns.sh(iptablesDrop)
	h.ns.listen("::", 2500, 3300, 6160, 8080)
	before := stable(h.ns.sh("iptables-save; ip6tables-save"))

	expectReach(t, peer, "", "10.99.0.1", false, 2500)
	d := lxDesired(rule.Additive)
	_, st := h.apply(d)
	checkState(t, st, d)
	expectReach(t, peer, "", "10.99.0.1", true, 2500, 3300, 6160)
	expectReach(t, peer, "", "fd99::1", true, 2500)
	expectReach(t, peer, "", "fd99::1", false, 6160)
	expectReach(t, peer, "", "10.99.0.1", false, 8080)

	// Drift: the jump deleted by hand.
	h.ns.sh("iptables -D INPUT -m comment --comment portwarden -j PORTWARDEN-INPUT")
	if st := h.state(); !containsAll(st.Drift, "no jump") {
		t.Errorf("missing jump not reported: %q", st.Drift)
	}
	expectReach(t, peer, "", "10.99.0.1", false, 2500)
	h.apply(d)
	expectReach(t, peer, "", "10.99.0.1", true, 2500)

	// A rule removed.
	d.Rules = d.Rules[:1]
	_, st = h.apply(d)
	checkState(t, st, d)
	expectReach(t, peer, "", "10.99.0.1", false, 6160)

	// Everything removed: the host's own rules are as they were.
	_, st = h.apply(Desired{})
	checkState(t, st, Desired{})
	if after := stable(h.ns.sh("iptables-save; ip6tables-save")); after != before {
		t.Errorf("iptables not restored:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	expectReach(t, peer, "", "10.99.0.1", false, 2500)
}

func TestIPTablesKernelEnforce(t *testing.T) {
	requireKernel(t, "iptables", "ip6tables")
	t.Parallel()
	h := newKernelHost(t, "iptables")
	peer := newNS(t)
	link(t, h.ns, peer, "10.99.0.3/24")
	h.ns.listen("::", 22, 2500, 8080)
	d := lxDesired(rule.Enforce)
	_, st := h.apply(d)
	checkState(t, st, d)
	expectEnforced(t, h, peer)
	if out := h.ns.sh("iptables -S INPUT | head -n 1"); !strings.Contains(out, "-P INPUT ACCEPT") {
		t.Errorf("enforce changed the INPUT policy: %s", out)
	}
}

func TestIPTablesKernelPersist(t *testing.T) {
	requireKernel(t, "iptables", "ip6tables")
	t.Parallel()
	h := newKernelHost(t, "iptables")
	h.ns.sh(iptablesDrop)
	d := iptManyDesired()
	h.apply(d)
	fresh := &kernelHost{ns: newNS(t), root: h.root, want: "iptables"}
	fresh.ns.sh(fmt.Sprintf("iptables-restore < %s && ip6tables-restore < %s",
		filepath.Join(h.root, iptPersistV4), filepath.Join(h.root, iptPersistV6)))
	st := fresh.state()
	checkCleanState(t, st, d)
	if _, err := os.Stat(filepath.Join(h.root, "etc/nftables.conf")); err == nil {
		t.Errorf("the iptables backend wrote nftables.conf")
	}
}

// TestIPTablesKernelLegacy: on a host whose rules are in iptables-legacy,
// auto detection picks the legacy tools, and the opening works through
// the legacy INPUT drop.
func TestIPTablesKernelLegacy(t *testing.T) {
	requireKernel(t, "iptables", "iptables-legacy-save", "iptables-legacy-restore", "ip6tables-legacy-save", "ip6tables-legacy-restore")
	t.Parallel()
	h := newKernelHost(t, "auto")
	peer := newNS(t)
	link(t, h.ns, peer)
	h.ns.sh("iptables-legacy -P INPUT DROP && iptables-legacy -A INPUT -i lo -j ACCEPT")
	h.ns.listen("::", 2500)
	expectReach(t, peer, "", "10.99.0.1", false, 2500)

	f := h.facts()
	b, err := Detect(f, "auto", h.root)
	if err != nil {
		t.Fatal(err)
	}
	if ipt, ok := b.(*IPTables); !ok || !ipt.Legacy {
		t.Fatalf("Detect chose %#v, want iptables with the legacy tools", b)
	}
	d := lxDesired(rule.Additive)
	_, st := h.apply(d)
	checkState(t, st, d)
	expectReach(t, peer, "", "10.99.0.1", true, 2500)
	if out := h.ns.sh("iptables-legacy-save"); !strings.Contains(out, iptChain) {
		t.Errorf("chain not in the legacy tables:\n%s", out)
	}
	if out := h.ns.sh("iptables-save 2>/dev/null"); strings.Contains(out, iptChain) {
		t.Errorf("chain in the nf_tables tables too:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(h.root, iptPersistV4)); err != nil || !strings.Contains(string(b), iptChain) {
		t.Errorf("rules.v4 does not hold the legacy rules: %v\n%s", err, b)
	}
}

// TestIPTablesKernelStaleFacts: an apply rendered from facts that are no
// longer true (the jump it deletes is gone) is refused as a whole, in
// both families.
func TestIPTablesKernelStaleFacts(t *testing.T) {
	requireKernel(t, "iptables", "ip6tables")
	t.Parallel()
	h := newKernelHost(t, "iptables")
	d1 := lxDesired(rule.Additive)
	h.apply(d1)
	h.ns.sh("iptables -I INPUT -m comment --comment portwarden -j PORTWARDEN-INPUT")
	b, f := h.detect() // two jumps: the apply deletes both
	h.ns.sh("iptables -D INPUT -m comment --comment portwarden -j PORTWARDEN-INPUT")
	save := func() string { return stable(h.ns.sh("iptables-save; ip6tables-save")) }
	before := save()

	s, err := b.Apply(f, lxDesired(rule.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := h.ns.run(s.Body, s.Stdin)
	if code == 0 || !strings.Contains(errOut, "refused") {
		t.Fatalf("stale apply: exit %d, stderr %q", code, errOut)
	}
	if after := save(); after != before {
		t.Errorf("a refused apply changed the rules:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	st, err := b.State(ParseFacts(out))
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, st, d1)
}

// Without ipset (docs/iptables.md: sources as sets), a rule of a large
// fleet is one iptables rule per aggregated prefix and port chunk: it
// reads back equal and the second apply changes nothing.
func TestIPTablesKernelLargeSets(t *testing.T) {
	requireKernel(t, "iptables-save", "iptables-restore")
	t.Parallel()
	h := checkLargeSets(t, "iptables")
	d := largeSetsDesired()
	want := 0
	for _, r := range d.Rules {
		s4, _ := rule.SplitFamilies(r.Sources)
		want += len(s4) * len(iptPortChunks(r.Ports))
	}
	out := h.ns.sh("iptables-save -t filter | grep -c -- '-A PORTWARDEN-INPUT -s .* -j ACCEPT' || true")
	if got := strings.TrimSpace(out); got != fmt.Sprint(want+1) { // + the management rule
		t.Errorf("%s source rules, want %d", got, want+1)
	}
}
