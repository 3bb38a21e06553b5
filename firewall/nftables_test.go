package firewall

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/rule"
)

// baselineDrop is a hardened host's own ruleset: input policy drop, like
// the lab's --baseline drop.
const baselineDrop = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		meta l4proto ipv6-icmp accept
		tcp dport 22 accept
	}
}
`

// foreignAccepting is a foreign ruleset that does not drop inbound traffic
// as a whole: portwarden must leave it alone entirely.
const foreignAccepting = `table inet other {
	set blocked {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2 }
	}
	chain input {
		type filter hook input priority filter + 10; policy accept;
		ip saddr @blocked counter drop
		tcp dport 9 reject
	}
	chain helper {
		udp dport 53 accept comment "not portwarden's"
	}
}
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "pw0" masquerade
	}
}
`

func nftLoad(ruleset string) string {
	return "nft -f - <<'EOF'\n" + ruleset + "EOF\n"
}

// One rule per family carries every source as one set, touching and
// nested-free as AggregatePrefixes leaves them.
func TestNFTSourceRulesOneSetPerFamily(t *testing.T) {
	src := pfx("10.0.0.1", "10.0.0.2/31", "10.0.0.128/25", "10.99.0.2", "fd00::/64", "fd00:0:0:1::/64")
	got := nftSourceRules(src, "tcp", []rule.PortRange{{Lo: 22, Hi: 22}, {Lo: 2500, Hi: 3300}}, "c", true, true)
	want := []string{
		`ip saddr { 10.0.0.1, 10.0.0.2/31, 10.0.0.128/25, 10.99.0.2 } tcp dport { 22, 2500-3300 } accept comment "c"`,
		`ip6 saddr { fd00::/64, fd00:0:0:1::/64 } tcp dport { 22, 2500-3300 } accept comment "c"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("nftSourceRules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := nftSourceRules(pfx("10.0.0.1"), "udp", []rule.PortRange{{Lo: 53, Hi: 53}}, "", true, true); !slices.Equal(got, []string{"ip saddr 10.0.0.1 udp dport 53 accept"}) {
		t.Errorf("single source, no IPv6: %q", got)
	}
}

// Ranges that nft made of touching set elements read back as the prefixes
// that cover them; a range of the wrong family or upside down is refused.
func TestNFTParseAddrsRanges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v6   bool
		want []string
		bad  bool
	}{
		{in: `{"set": [{"range": ["10.0.0.1", "10.0.0.3"]}, {"prefix": {"addr": "10.0.0.8", "len": 29}}, "10.0.1.7"]}`, want: []string{"10.0.0.1", "10.0.0.2/31", "10.0.0.8/29", "10.0.1.7"}},
		{in: `{"set": [{"range": ["2001:db8::1", "2001:db8::3"]}]}`, v6: true, want: []string{"2001:db8::1", "2001:db8::2/127"}},
		{in: `{"range": ["10.0.0.0", "10.0.1.255"]}`, want: []string{"10.0.0.0/23"}},
		{in: `{"set": [{"range": ["10.0.0.3", "10.0.0.1"]}]}`, bad: true},
		{in: `{"set": [{"range": ["10.0.0.1", "2001:db8::1"]}]}`, bad: true},
		{in: `{"set": [{"range": ["10.0.0.1"]}]}`, bad: true},
		{in: `{"set": [{"range": ["10.0.0.1", "10.0.0.2"]}]}`, v6: true, bad: true},
	} {
		got, err := nftParseAddrs(json.RawMessage(tc.in), tc.v6)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted as %v", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if s := rule.PrefixStrings(got); !slices.Equal(s, tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, s, tc.want)
		}
	}
}

func nftBackend() *NFTables {
	return &NFTables{Root: fixtureRoot}
}

func TestNFTablesApplyGolden(t *testing.T) {
	many := lxDesired(rule.Additive)
	many.Rules = append(many.Rules, manyPorts())
	for _, tc := range []struct {
		name, facts string
		d           Desired
	}{
		{"additive", "empty", lxDesired(rule.Additive)},
		{"enforce", "empty", lxDesired(rule.Enforce)},
		{"additive-many-ports", "nft-accepting", normalized(many)},
		{"additive-foreign-drop", "nft-baseline-drop", lxDesired(rule.Additive)},
		{"additive-jump-kept", "nft-additive-jump", lxDesired(rule.Additive)},
		{"enforce-over-jump", "nft-additive-jump", lxDesired(rule.Enforce)},
		{"remove-with-jump", "nft-additive-jump", Desired{}},
		{"remove-nothing", "empty", Desired{Mode: rule.Additive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := nftBackend().Apply(loadFacts(t, tc.facts), tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if s.Shell != "sh" {
				t.Errorf("shell %q", s.Shell)
			}
			checkGolden(t, "linux", "nft/"+tc.name+".nft", string(s.Stdin))
			if tc.name == "additive" || tc.name == "remove-nothing" {
				checkGolden(t, "linux", "nft/"+tc.name+".sh", s.Body)
			}
			if strings.Contains(s.Body, "10.99.0.2") {
				t.Errorf("addresses belong on standard input, not in the script")
			}
		})
	}
}

func TestNFTablesApplyRejects(t *testing.T) {
	bad4in6 := lxDesired(rule.Additive)
	bad4in6.Rules[0].Sources = pfx("::ffff:10.0.0.1")
	dup := lxDesired(rule.Additive)
	dup.Rules = append(dup.Rules, dup.Rules[0])
	noSrc := lxDesired(rule.Additive)
	noSrc.Rules[0].Sources = nil
	noMgmt := lxDesired(rule.Enforce)
	noMgmt.ManagementSources = nil
	noPort := lxDesired(rule.Enforce)
	noPort.ManagementPort = 0
	badProto := lxDesired(rule.Additive)
	badProto.Rules[0].Protocol = "sctp"
	noMode := lxDesired(rule.Additive)
	noMode.Mode = ""
	checkRejects(t, map[string]rejectCase{
		"ipv4-mapped source":       {nftBackend(), loadFacts(t, "empty"), bad4in6},
		"duplicate rule":           {nftBackend(), loadFacts(t, "empty"), dup},
		"rule without sources":     {nftBackend(), loadFacts(t, "empty"), noSrc},
		"enforce without sources":  {nftBackend(), loadFacts(t, "empty"), noMgmt},
		"enforce without port":     {nftBackend(), loadFacts(t, "empty"), noPort},
		"protocol":                 {nftBackend(), loadFacts(t, "empty"), badProto},
		"rules without a mode":     {nftBackend(), loadFacts(t, "empty"), noMode},
		"unknown mode":             {nftBackend(), loadFacts(t, "empty"), Desired{Mode: "strict"}},
		"no facts":                 {&NFTables{}, nil, lxDesired(rule.Additive)},
		"relative root":            {&NFTables{Root: "srv"}, loadFacts(t, "empty"), lxDesired(rule.Additive)},
		"facts of a host sans nft": {&NFTables{}, withoutLines(loadFacts(t, "empty"), linuxSecTools, "nft="), lxDesired(rule.Additive)},
	})
}

func TestNFTablesState(t *testing.T) {
	checkStates(t, nftBackend(), []stateCase{
		{"empty", Desired{}},
		{"nft-baseline-drop", Desired{}},
		{"nft-additive-jump", lxDesired(rule.Additive)},
		{"nft-enforce", lxDesired(rule.Enforce)},
	})
}

// editRuleset rewrites the nft_ruleset section of f through fn, which
// gets and returns the items of the "nftables" array.
func editRuleset(t *testing.T, f Facts, fn func([]map[string]any) []map[string]any) Facts {
	t.Helper()
	var doc struct {
		Nftables []map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(f[linuxSecNFT]), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Nftables = fn(doc.Nftables)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return withSection(f, linuxSecNFT, string(b)+"\n")
}

// ruleIn matches rule items of a chain.
func ruleIn(item map[string]any, family, table, chain string) (map[string]any, bool) {
	r, ok := item["rule"].(map[string]any)
	if !ok {
		return nil, false
	}
	return r, r["family"] == family && r["table"] == table && r["chain"] == chain
}

func TestNFTablesStateDrift(t *testing.T) {
	base := loadFacts(t, "nft-additive-jump")
	noJump := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		return slices.DeleteFunc(items, func(it map[string]any) bool {
			r, ok := ruleIn(it, "inet", "filter", "input")
			return ok && r["comment"] == rule.Tag
		})
	})
	twoJumps := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		for i, it := range items {
			if r, ok := ruleIn(it, "inet", "filter", "input"); ok && r["comment"] == rule.Tag {
				dup := map[string]any{}
				for k, v := range r {
					dup[k] = v
				}
				dup["handle"] = 999
				return slices.Insert(items, i+1, map[string]any{"rule": dup})
			}
		}
		t.Fatal("no jump in fixture")
		return nil
	})
	jumpSecond := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		var jump map[string]any
		i := slices.IndexFunc(items, func(it map[string]any) bool {
			r, ok := ruleIn(it, "inet", "filter", "input")
			return ok && r["comment"] == rule.Tag
		})
		jump = items[i]
		items = slices.Delete(items, i, i+1)
		return slices.Insert(items, i+1, jump)
	})
	ownedShort := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		i := slices.IndexFunc(items, func(it map[string]any) bool {
			_, ok := ruleIn(it, "inet", "filter", nftOwnedChain)
			return ok
		})
		return slices.Delete(items, i, i+1)
	})
	policyAccept := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		for _, it := range items {
			if c, ok := it["chain"].(map[string]any); ok && c["table"] == "filter" && c["name"] == "input" {
				c["policy"] = "accept"
			}
		}
		return items
	})
	notPersisted := withSection(base, linuxSecPersist, strings.Replace(base[linuxSecPersist], "nft_file_exists=yes", "nft_file_exists=no", 1))
	notIncluded := withSection(base, linuxSecPersist, strings.Replace(base[linuxSecPersist], "nft_conf_includes=yes", "nft_conf_includes=no", 1))

	for _, tc := range []struct {
		name      string
		f         Facts
		drift     string // a substring of the one drift entry, "" for none
		warning   string
		rulesKept bool
	}{
		{"jump missing", noJump, "has no jump to portwarden_input", "", true},
		{"two jumps", twoJumps, "has 2 jumps", "", true},
		{"jump not first", jumpSecond, "", "not the first", true},
		{"owned chain differs", ownedShort, "differs from table inet portwarden", "", true},
		{"foreign chain stopped dropping", policyAccept, "is left over", "", true},
		{"file missing", notPersisted, "not persisted", "", true},
		{"include missing", notIncluded, "does not include", "", true},
		{"firewalld", withSection(base, linuxSecServices, "systemd=yes\nfirewalld=active\nnftables.enabled=enabled\n"), "", "firewalld is active", true},
		{"service disabled", withSection(base, linuxSecServices, "systemd=yes\nnftables.enabled=disabled\n"), "", "nftables.service is not enabled", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := (&NFTables{Root: fixtureRoot}).State(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			checkDriftWarning(t, st, tc.drift, tc.warning)
			checkState(t, st, lxDesired(rule.Additive))
		})
	}
}

// checkDriftWarning checks st has drift with the substring drift (none
// when drift is "") and, when warning is set, a warning with it.
func checkDriftWarning(t *testing.T, st State, drift, warning string) {
	t.Helper()
	if drift == "" && len(st.Drift) > 0 || drift != "" && !containsAll(st.Drift, drift) {
		t.Errorf("drift = %q, want %q", st.Drift, drift)
	}
	if warning != "" && !containsAll(st.Warnings, warning) {
		t.Errorf("warnings = %q, want one with %q", st.Warnings, warning)
	}
}

// containsAll reports whether exactly one of list contains sub... or, for
// drift lists with more entries, any.
func containsAll(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestNFTablesStateRejects(t *testing.T) {
	base := loadFacts(t, "nft-additive-jump")
	foreignRule := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		return append(items, map[string]any{"rule": map[string]any{
			"family": "inet", "table": "portwarden", "chain": "input", "handle": 500,
			"expr": []any{map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"meta": map[string]any{"key": "iifname"}}, "right": "eth0"}}, map[string]any{"accept": nil}},
		}})
	})
	rangeSource := editRuleset(t, base, func(items []map[string]any) []map[string]any {
		return append(items, map[string]any{"rule": map[string]any{
			"family": "inet", "table": "portwarden", "chain": "input", "handle": 501,
			"expr": []any{
				map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"payload": map[string]any{"protocol": "ip", "field": "saddr"}}, "right": map[string]any{"range": []any{"10.0.0.9", "10.0.0.1"}}}},
				map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"payload": map[string]any{"protocol": "tcp", "field": "dport"}}, "right": 80}},
				map[string]any{"accept": nil}},
		}})
	})
	for name, f := range map[string]Facts{
		"not json":          withSection(base, linuxSecNFT, "table inet portwarden {\n"),
		"no nftables array": withSection(base, linuxSecNFT, `{"tables": []}`),
		"nft failed":        withSection(base, linuxSecErrors, "nft_ruleset: exit status 1: Operation not permitted\n"),
		"unknown rule":      foreignRule,
		"reversed range":    rangeSource,
		"truncated":         withSection(ParseFacts(strings.Split(factsText(base), "### portwarden:iptables")[0]), "x", ""),
	} {
		if _, err := (&NFTables{}).State(f); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// factsText renders facts back into script output.
func factsText(f Facts) string {
	var names []string
	for k := range f {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		if n == linuxSecDone {
			continue
		}
		b.WriteString(SectionMarker + n + "\n" + f[n])
	}
	if v, ok := f[linuxSecDone]; ok {
		b.WriteString(SectionMarker + linuxSecDone + "\n" + v)
	}
	return b.String()
}

// The kernel tests.

// nftHost is a namespace host with its own persist root.
type kernelHost struct {
	ns   *testNS
	root string
	want string // the inventory's firewall value
}

// expectEnforced checks what lxDesired(rule.Enforce), applied on h
// (listening on 22, 2500 and 8080), lets through from peer and loopback.
func expectEnforced(t *testing.T, h *kernelHost, peer *testNS) {
	t.Helper()
	// 10.99.0.2 is a rule source, 10.99.0.3 the controller.
	expectReach(t, peer, "10.99.0.2", "10.99.0.1", true, 22, 2500)
	expectReach(t, peer, "10.99.0.2", "10.99.0.1", false, 8080)
	expectReach(t, peer, "10.99.0.3", "10.99.0.1", true, 22)
	expectReach(t, peer, "10.99.0.3", "10.99.0.1", false, 2500, 8080)
	// IPv6 needs neighbor discovery through the drop policy.
	expectReach(t, peer, "fd99::2", "fd99::1", true, 2500)
	expectReach(t, peer, "fd99::2", "fd99::1", false, 8080)
	// Loopback stays open.
	expectReach(t, h.ns, "", "127.0.0.1", true, 8080)
}

func newKernelHost(t *testing.T, want string) *kernelHost {
	return &kernelHost{ns: newNS(t), root: t.TempDir(), want: want}
}

func (h *kernelHost) facts() Facts {
	h.ns.t.Helper()
	fs, err := LinuxFactsScriptAt(h.root)
	if err != nil {
		h.ns.t.Fatal(err)
	}
	return h.ns.script(fs)
}

// detect gathers fresh facts and detects the backend from them.
func (h *kernelHost) detect() (Backend, Facts) {
	h.ns.t.Helper()
	f := h.facts()
	return h.backend(f), f
}

func (h *kernelHost) backend(f Facts) Backend {
	h.ns.t.Helper()
	b, err := Detect(f, h.want, h.root)
	if err != nil {
		h.ns.t.Fatal(err)
	}
	if b.Name() != h.want && h.want != "auto" {
		h.ns.t.Fatalf("Detect chose %s, want %s", b.Name(), h.want)
	}
	return b
}

// apply gathers facts, applies d and returns the script and the State
// read back from the script's own output.
func (h *kernelHost) apply(d Desired) (Script, State) {
	t := h.ns.t
	t.Helper()
	b, f := h.detect()
	s, err := b.Apply(f, d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.State(h.ns.script(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Drift) > 0 {
		t.Errorf("drift right after apply: %q", st.Drift)
	}
	return s, st
}

// state reads the state with fresh facts.
func (h *kernelHost) state() State {
	t := h.ns.t
	t.Helper()
	f := h.facts()
	st, err := h.backend(f).State(f)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNFTablesKernelRoundTrip(t *testing.T) {
	requireKernel(t, "nft", "iptables")
	t.Parallel()
	for _, mode := range []rule.Mode{rule.Additive, rule.Enforce} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newKernelHost(t, "nftables")
			h.ns.sh(nftLoad(foreignAccepting))
			h.ns.sh("iptables -A INPUT -s 192.0.2.9 -j DROP && iptables -N OTHER && iptables -A OTHER -p udp --dport 53 -j ACCEPT")
			foreign := "nft list table inet other; nft list table ip nat; iptables-save | grep -v '^#'"
			before := h.ns.sh(foreign)

			d := lxDesired(mode)
			s1, st := h.apply(d)
			checkState(t, st, d)

			// A second apply renders the same script and changes nothing.
			s2, st2 := h.apply(d)
			if s1.Body != s2.Body || string(s1.Stdin) != string(s2.Stdin) {
				t.Errorf("second apply renders a different script:\n%s\n---\n%s", s1.Stdin, s2.Stdin)
			}
			checkState(t, st2, d)
			checkState(t, h.state(), d)

			if after := h.ns.sh(foreign); after != before {
				t.Errorf("foreign rules changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestNFTablesKernelRemoveRule(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	h := newKernelHost(t, "nftables")
	h.ns.sh(nftLoad(baselineDrop))
	before := h.ns.sh("nft list table inet filter")
	d := lxDesired(rule.Additive)
	h.apply(d)
	d.Rules = d.Rules[1:]
	d.Rules[0].Sources = d.Rules[0].Sources[1:]
	_, st := h.apply(d)
	checkState(t, st, d)

	// Removing everything leaves the foreign table as it was.
	_, st = h.apply(Desired{})
	checkState(t, st, Desired{})
	if after := h.ns.sh("nft list table inet filter"); after != before {
		t.Errorf("foreign table not restored:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out := h.ns.sh("nft list tables"); strings.Contains(out, rule.Tag) {
		t.Errorf("table left after removal: %s", out)
	}
	conf, err := os.ReadFile(filepath.Join(h.root, "etc/nftables.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "include") {
		t.Errorf("nftables.conf still includes portwarden's file:\n%s", conf)
	}
}

// TestNFTablesKernelForeignDrop proves with real TCP that an additive
// opening passes a foreign chain whose policy is drop, and that the jump
// is kept, repaired and removed as it should.
func TestNFTablesKernelForeignDrop(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	h := newKernelHost(t, "nftables")
	peer := newNS(t)
	link(t, h.ns, peer)
	h.ns.sh(nftLoad(baselineDrop))
	h.ns.listen("::", 2500, 3300, 6160, 8080)
	before := h.ns.sh("nft list table inet filter")
	chainBefore := h.ns.sh("nft list chain inet filter input")

	expectReach(t, peer, "", "10.99.0.1", false, 2500)
	d := lxDesired(rule.Additive)
	_, st := h.apply(d)
	checkState(t, st, d)
	// The foreign chain is as it was but for the jump; re-applies render
	// the same script once the jump is there.
	var kept strings.Builder
	for line := range strings.Lines(h.ns.sh("nft list chain inet filter input")) {
		if !strings.Contains(line, "jump "+nftOwnedChain) {
			kept.WriteString(line)
		}
	}
	if kept.String() != chainBefore {
		t.Errorf("foreign chain changed beyond the jump:\nbefore:\n%s\nafter:\n%s", chainBefore, kept.String())
	}
	s2, _ := h.apply(d)
	s3, st3 := h.apply(d)
	if s2.Body != s3.Body || string(s2.Stdin) != string(s3.Stdin) {
		t.Errorf("re-applies render different scripts:\n%s\n---\n%s", s2.Stdin, s3.Stdin)
	}
	checkState(t, st3, d)
	expectReach(t, peer, "", "10.99.0.1", true, 2500, 3300, 6160)
	expectReach(t, peer, "", "fd99::1", true, 2500, 3300)
	expectReach(t, peer, "", "fd99::1", false, 6160) // only 10.99.0.2 may
	expectReach(t, peer, "", "10.99.0.1", false, 8080)

	jumps := func() int {
		return strings.Count(h.ns.sh("nft list chain inet filter input"), "jump "+nftOwnedChain)
	}
	if n := jumps(); n != 1 {
		t.Fatalf("%d jumps after apply, want 1", n)
	}

	// Drift: the jump deleted by hand is reported, and apply restores it.
	h.ns.sh(`nft -a list chain inet filter input | sed -n 's/.*jump portwarden_input.*# handle \([0-9]*\)$/\1/p' | while read -r n; do nft delete rule inet filter input handle "$n"; done`)
	expectReach(t, peer, "", "10.99.0.1", false, 2500)
	if st := h.state(); !containsAll(st.Drift, "no jump") {
		t.Errorf("missing jump not reported: drift %q", st.Drift)
	}
	h.apply(d)
	expectReach(t, peer, "", "10.99.0.1", true, 2500)

	// A second jump added by hand is reported, and apply keeps one.
	h.ns.sh("nft insert rule inet filter input jump portwarden_input")
	if st := h.state(); !containsAll(st.Drift, "2 jumps") {
		t.Errorf("two jumps not reported: drift %q", st.Drift)
	}
	h.apply(d)
	if n := jumps(); n != 1 {
		t.Errorf("%d jumps after repair, want 1", n)
	}

	// Removal removes the jump and the chain.
	h.apply(Desired{})
	expectReach(t, peer, "", "10.99.0.1", false, 2500)
	if after := h.ns.sh("nft list table inet filter"); after != before {
		t.Errorf("foreign table not restored:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNFTablesKernelEnforce(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	h := newKernelHost(t, "nftables")
	peer := newNS(t)
	link(t, h.ns, peer, "10.99.0.3/24")
	h.ns.listen("::", 22, 2500, 8080)
	expectReach(t, peer, "10.99.0.2", "10.99.0.1", true, 8080)

	d := lxDesired(rule.Enforce)
	_, st := h.apply(d)
	checkState(t, st, d)
	expectEnforced(t, h, peer)

	// Back to additive: everything is open again.
	h.apply(lxDesired(rule.Additive))
	expectReach(t, peer, "10.99.0.3", "10.99.0.1", true, 2500, 8080)
}

// TestNFTablesKernelPersist restores the rules in fresh namespaces from
// the persisted files alone.
func TestNFTablesKernelPersist(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	t.Run("file alone", func(t *testing.T) {
		h := newKernelHost(t, "nftables")
		d := lxDesired(rule.Enforce)
		h.apply(d)
		fresh := &kernelHost{ns: newNS(t), root: h.root, want: "nftables"}
		fresh.ns.sh("nft -f " + filepath.Join(h.root, nftPersistPath))
		st := fresh.state()
		checkCleanState(t, st, d)
	})
	t.Run("configuration after a foreign ruleset", func(t *testing.T) {
		h := newKernelHost(t, "nftables")
		conf := filepath.Join(h.root, "etc/nftables.conf")
		if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, []byte("#!/usr/sbin/nft -f\n\nflush ruleset\n\n"+baselineDrop), 0o644); err != nil {
			t.Fatal(err)
		}
		h.ns.sh("nft -f " + conf)
		d := lxDesired(rule.Additive)
		h.apply(d)
		h.apply(d) // the include line is added once
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "include"); n != 1 {
			t.Errorf("%d include lines in nftables.conf, want 1:\n%s", n, b)
		}
		fresh := &kernelHost{ns: newNS(t), root: h.root, want: "nftables"}
		fresh.ns.sh("nft -f " + conf)
		st := fresh.state()
		checkCleanState(t, st, d)
		// Loading the configuration again (a reload) changes nothing.
		fresh.ns.sh("nft -f " + conf)
		if st := fresh.state(); len(st.Drift) > 0 {
			t.Errorf("drift after a reload: %q", st.Drift)
		}
	})
}

// TestNFTablesKernelStaleFacts: an apply rendered from facts that are no
// longer true (a jump it deletes by handle is gone) is refused as a
// whole.
func TestNFTablesKernelStaleFacts(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	h := newKernelHost(t, "nftables")
	h.ns.sh(nftLoad(baselineDrop))
	d1 := lxDesired(rule.Additive)
	h.apply(d1)
	h.ns.sh("nft insert rule inet filter input jump portwarden_input")
	b, f := h.detect() // two jumps: the apply deletes both by handle
	h.ns.sh(`nft -a list chain inet filter input | sed -n 's/.*jump portwarden_input # handle \([0-9]*\)$/\1/p' | while read -r n; do nft delete rule inet filter input handle "$n"; done`)
	before := h.ns.sh("nft list ruleset")

	s, err := b.Apply(f, lxDesired(rule.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := h.ns.run(s.Body, s.Stdin)
	if code == 0 || !strings.Contains(errOut, "refused") {
		t.Fatalf("stale apply: exit %d, stderr %q", code, errOut)
	}
	if after := h.ns.sh("nft list ruleset"); after != before {
		t.Errorf("a refused apply changed the ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	st, err := b.State(ParseFacts(out))
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, st, d1)
	// The persisted file still holds the old rules.
	file, err := os.ReadFile(filepath.Join(h.root, nftPersistPath))
	if err != nil || strings.Contains(string(file), "policy drop") {
		t.Errorf("a refused apply persisted its rules: %v", err)
	}
}

// TestNFTablesKernelTruncatedInput: a ruleset cut short on its way to the
// host (a dropped connection) is refused whole; nothing changes.
func TestNFTablesKernelTruncatedInput(t *testing.T) {
	requireKernel(t, "nft")
	h := newKernelHost(t, "nftables")
	b, f := h.detect()
	s, err := b.Apply(f, lxDesired(rule.Additive))
	if err != nil {
		t.Fatal(err)
	}
	cut := s.Stdin[:bytes.Index(s.Stdin, []byte(nftEndMarker))]
	_, stderr, code := h.ns.run(s.Body, cut)
	if code == 0 || !strings.Contains(stderr, "incomplete") {
		t.Fatalf("truncated ruleset: exit %d, stderr %q", code, stderr)
	}
	if st := h.state(); st.Installed || len(st.Rules) > 0 {
		t.Errorf("a truncated apply changed the host: %+v", st)
	}
	// The whole input applies.
	if _, stderr, code := h.ns.run(s.Body, s.Stdin); code != 0 {
		t.Fatalf("full ruleset: exit %d: %s", code, stderr)
	}
	checkState(t, h.state(), lxDesired(rule.Additive))
}

// Sources are sets: one nft rule per policy rule and family, whatever the
// number of peers, touching prefixes read back through nft's ranges, and
// the second apply changes nothing.
func TestNFTablesKernelLargeSets(t *testing.T) {
	requireKernel(t, "nft")
	t.Parallel()
	h := checkLargeSets(t, "nftables")
	out := h.ns.sh("nft list chain inet portwarden input")
	if n := strings.Count(out, " saddr "); n != 5 { // tcp v4 + v6, udp v4, management v4, the DHCPv6 preamble
		t.Errorf("%d source matches, want 5 (one per rule and family):\n%.2000s", n, out)
	}
	if !strings.Contains(out, "10.0.0.1-10.0.0.7") {
		t.Errorf("touching prefixes are not one range element:\n%.2000s", out)
	}
}

// The read-back of an nftables apply still lists iptables-legacy where the
// kernel has legacy tables: the warning of a legacy drop that the plan
// showed is in the State read back after the apply too.
func TestNFTablesKernelLegacyDropReadback(t *testing.T) {
	requireKernel(t, "nft", "iptables-legacy", "iptables-legacy-save")
	t.Parallel()
	h := newKernelHost(t, "nftables")
	h.ns.sh("iptables-legacy -P INPUT DROP")
	want := "the IPv4 iptables-legacy chain INPUT drops inbound traffic"
	has := func(st State) bool {
		return slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.HasPrefix(w, want) })
	}
	if !has(h.state()) {
		t.Fatalf("facts: no warning %q", want)
	}
	d := lxDesired(rule.Additive)
	_, st := h.apply(d)
	checkState(t, st, d)
	if !has(st) {
		t.Errorf("read-back after the apply: no warning %q; warnings: %q", want, st.Warnings)
	}
}
