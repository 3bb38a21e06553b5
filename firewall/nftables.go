package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NFTables is the nftables backend. It owns the table "inet portwarden",
// whose base chain "input" (type filter, hook input, priority filter)
// holds the rules: policy accept in additive mode; policy drop in enforce
// mode, after a preamble that accepts established and related traffic,
// loopback, essential ICMP and ICMPv6 (neighbor discovery included),
// DHCPv6 replies and the management port from the controller.
//
// # Foreign chains that drop
//
// In nftables an accept ends a packet's trip through one base chain only:
// every other base chain on the same hook still sees the packet, and a
// foreign chain whose policy is drop (or whose last rule drops or rejects
// unconditionally) drops it whatever portwarden's table says. The
// priority of portwarden's chain cannot change that, so it stays at
// "filter" (0), the usual place of filter chains. On such a host Apply
// also puts the same rules into a regular chain "portwarden_input" that
// it creates inside each such foreign table (only the families that table
// sees), and inserts one jump to it, commented "portwarden", as the first
// rule of each dropping input chain. A re-apply flushes and refills that
// chain and keeps the jump if it is the only one and first; otherwise it
// deletes every jump by handle and inserts one again. Removing everything
// (an additive Desired without rules) deletes the jumps and those chains
// too. Tables managed by iptables-nft are never touched (writing native
// rules into them breaks the iptables tools); their drops are reported as
// Warnings, as are drops in iptables-legacy.
//
// State reports what is missing or wrong around the rules as Drift, so
// that the plan re-applies the host: no jump, or more than one, in a
// foreign chain that drops; a portwarden_input chain that is missing,
// differs from the table's rules, or is left over; the table's chain with
// another hook, type or priority; an enforce preamble that is incomplete;
// the ruleset not persisted. A jump that is present but not first is only
// a Warning: rules above it may well be harmless (fail2ban inserts its
// own at the top), and Apply moves it back to the top whenever it runs.
//
// # Facts
//
// Apply needs the facts gathered before it (Facts, which Detect fills in)
// to find the foreign chains that drop and the handles of existing jumps.
// A transaction built from facts that are no longer true (a jump deleted
// meanwhile, a foreign table gone) fails as a whole in nft and changes
// nothing; gathering facts again and re-applying then succeeds.
//
// # Persistence
//
// The apply script writes the ruleset to ROOT/etc/portwarden/portwarden.nft
// and makes sure the nftables service's configuration (ROOT/etc/nftables.conf,
// or ROOT/etc/sysconfig/nftables.conf where only that exists) includes it:
// it appends one line `include "FILE" # portwarden` if no include of FILE
// is there, and creates a minimal configuration if there is none. The file
// must load after the foreign tables it jumps from, which the appended
// include does. It is self-contained: it recreates the table with the
// add-then-delete idiom, and for the foreign part it adds the foreign table
// and chain if missing (empty, without a hook, so a missing foreign
// ruleset cannot make the boot-time load fail). Removing everything
// empties the file (it is kept in case an untagged include names it) and
// removes the tagged include line.
type NFTables struct {
	// Root replaces "/" for the persisted files: "" or "/" on a real host;
	// the lab gives each namespace host its own, since namespaces share
	// the machine's file system.
	Root string
	// Facts are the host's facts from before the apply.
	Facts Facts
}

// Name implements Backend.
func (*NFTables) Name() string { return "nftables" }

const (
	nftFamily     = "inet"
	nftTable      = Tag // table inet portwarden
	nftInputChain = "input"
	nftOwnedChain = Tag + "_input" // in foreign tables
	// nftPersistPath is in a directory of its own: configurations that
	// include /etc/nftables.d/*.nft would load the file twice.
	nftPersistPath = "/etc/portwarden/portwarden.nft"
	// nftPersistMarker separates the live transaction from the persisted
	// file on the apply script's standard input; nftEndMarker ends it,
	// so that a truncated input is refused.
	nftPersistMarker = "# portwarden:persist"
	nftEndMarker     = "# portwarden:end"
)

// nftICMPTypes and nftICMPv6Types are what enforce mode lets in besides
// established and related traffic: the errors that path MTU discovery and
// diagnostics need, ping, and for IPv6 neighbor discovery and multicast
// listener queries, without which IPv6 stops working on the link.
var (
	nftICMPTypes   = []string{"destination-unreachable", "echo-request", "time-exceeded", "parameter-problem"}
	nftICMPv6Types = []string{"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
		"echo-request", "mld-listener-query", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"}
)

// The JSON of nft -j list ruleset, the parts portwarden reads.

type nftRuleset struct {
	tables []*nftTableInfo
	chains map[nftChainID]*nftChain
}

type nftTableInfo struct {
	Family string      `json:"family"`
	Name   string      `json:"name"`
	chains []*nftChain // in listing order
	// iptables is true for tables that iptables-nft manages.
	iptables bool
}

type nftChainID struct{ family, table, chain string }

type nftChain struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Handle int    `json:"handle"`
	Type   string `json:"type"`
	Hook   string `json:"hook"`
	Prio   *int   `json:"prio"`
	Policy string `json:"policy"`
	rules  []*nftRule
}

type nftRule struct {
	Family  string                       `json:"family"`
	Table   string                       `json:"table"`
	Chain   string                       `json:"chain"`
	Handle  int                          `json:"handle"`
	Comment string                       `json:"comment"`
	Expr    []map[string]json.RawMessage `json:"expr"`
}

func (c *nftChain) String() string { return c.Family + " " + c.Table + " " + c.Name }

// parseNFTRuleset parses nft -j list ruleset.
func parseNFTRuleset(text string) (*nftRuleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("parsing nft -j list ruleset output: %w", err)
	}
	if doc.Nftables == nil {
		return nil, fmt.Errorf("parsing nft -j list ruleset output: no \"nftables\" array")
	}
	rs := &nftRuleset{chains: map[nftChainID]*nftChain{}}
	tables := map[[2]string]*nftTableInfo{}
	for _, item := range doc.Nftables {
		for kind, raw := range item {
			switch kind {
			case "table":
				t := &nftTableInfo{}
				if err := json.Unmarshal(raw, t); err != nil {
					return nil, fmt.Errorf("parsing nft table: %w", err)
				}
				tables[[2]string{t.Family, t.Name}] = t
				rs.tables = append(rs.tables, t)
			case "chain":
				c := &nftChain{}
				if err := json.Unmarshal(raw, c); err != nil {
					return nil, fmt.Errorf("parsing nft chain: %w", err)
				}
				t := tables[[2]string{c.Family, c.Table}]
				if t == nil {
					return nil, fmt.Errorf("parsing nft ruleset: chain %s listed before its table", c)
				}
				t.chains = append(t.chains, c)
				rs.chains[nftChainID{c.Family, c.Table, c.Name}] = c
			case "rule":
				r := &nftRule{}
				if err := json.Unmarshal(raw, r); err != nil {
					return nil, fmt.Errorf("parsing nft rule: %w", err)
				}
				c := rs.chains[nftChainID{r.Family, r.Table, r.Chain}]
				if c == nil {
					return nil, fmt.Errorf("parsing nft ruleset: rule handle %d listed before its chain %s %s %s", r.Handle, r.Family, r.Table, r.Chain)
				}
				c.rules = append(c.rules, r)
			}
		}
	}
	for _, t := range rs.tables {
		t.iptables = nftIsIptablesTable(t)
	}
	return rs, nil
}

// nftIsIptablesTable recognizes a table of iptables-nft: one with xtables
// expressions, or an ip/ip6 table with iptables' built-in chain names.
func nftIsIptablesTable(t *nftTableInfo) bool {
	if t.Family != "ip" && t.Family != "ip6" && t.Family != "arp" && t.Family != "bridge" {
		return false
	}
	for _, c := range t.chains {
		switch c.Name {
		case "INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING":
			if c.Hook != "" {
				return true
			}
		}
		for _, r := range c.rules {
			for _, e := range r.Expr {
				if _, ok := e["xt"]; ok {
					return true
				}
			}
		}
	}
	return false
}

// exprKind returns the single key of an expression object.
func nftExprKind(e map[string]json.RawMessage) (string, json.RawMessage) {
	for k, v := range e {
		return k, v
	}
	return "", nil
}

// verdictOnly returns the expressions of r without counters, logs and
// limits, which do not decide whether a rule matches.
func (r *nftRule) verdictOnly() []map[string]json.RawMessage {
	var out []map[string]json.RawMessage
	for _, e := range r.Expr {
		switch k, _ := nftExprKind(e); k {
		case "counter", "log":
			continue
		}
		out = append(out, e)
	}
	return out
}

// isOwnedJump reports a rule that jumps to portwarden_input.
func (r *nftRule) isOwnedJump() bool {
	ex := r.verdictOnly()
	if len(ex) != 1 {
		return false
	}
	k, v := nftExprKind(ex[0])
	if k != "jump" {
		return false
	}
	var j struct {
		Target string `json:"target"`
	}
	return json.Unmarshal(v, &j) == nil && j.Target == nftOwnedChain
}

// drops reports an input chain that drops what no rule accepted: policy
// drop, or a last rule that drops or rejects unconditionally.
func (c *nftChain) drops() bool {
	if c.Hook != "input" {
		return false
	}
	if c.Policy == "drop" {
		return true
	}
	if len(c.rules) == 0 {
		return false
	}
	ex := c.rules[len(c.rules)-1].verdictOnly()
	if len(ex) != 1 {
		return false
	}
	k, _ := nftExprKind(ex[0])
	return k == "drop" || k == "reject"
}

// nftForeign is what portwarden has to do with one foreign table.
type nftForeign struct {
	table *nftTableInfo
	// drops are the table's input chains that drop: each needs a jump.
	drops []*nftChain
	owned *nftChain // portwarden_input, if present
	jumps []nftJump // every rule of the table that jumps to owned
}

type nftJump struct {
	chain  *nftChain
	handle int
	index  int // position in the chain, 0 = first
}

func (f *nftForeign) needed() bool { return len(f.drops) > 0 }

// jumpOK reports whether c has exactly one jump to portwarden_input and it
// is c's first rule.
func (f *nftForeign) jumpOK(c *nftChain) bool {
	n, first := 0, false
	for _, j := range f.jumps {
		if j.chain == c {
			n++
			first = j.index == 0
		}
	}
	return n == 1 && first
}

// nftHost is a host's ruleset as portwarden sees it.
type nftHost struct {
	table   *nftTableInfo // inet portwarden, nil if missing
	chain   *nftChain     // its input chain
	foreign []*nftForeign // tables that drop or hold owned objects
	// iptDrops are input chains of iptables-nft tables that drop.
	iptDrops []*nftChain
}

func nftAnalyze(rs *nftRuleset) *nftHost {
	h := &nftHost{}
	for _, t := range rs.tables {
		if t.Family == nftFamily && t.Name == nftTable {
			h.table = t
			h.chain = rs.chains[nftChainID{nftFamily, nftTable, nftInputChain}]
			continue
		}
		f := &nftForeign{table: t}
		for _, c := range t.chains {
			if c.Name == nftOwnedChain {
				f.owned = c
			}
			if c.drops() && (t.Family == "inet" || t.Family == "ip" || t.Family == "ip6") {
				if t.iptables {
					h.iptDrops = append(h.iptDrops, c)
				} else {
					f.drops = append(f.drops, c)
				}
			}
			for i, r := range c.rules {
				if r.isOwnedJump() {
					f.jumps = append(f.jumps, nftJump{chain: c, handle: r.Handle, index: i})
				}
			}
		}
		if f.needed() || f.owned != nil || len(f.jumps) > 0 {
			h.foreign = append(h.foreign, f)
		}
	}
	return h
}

// nftFamilies says which address families a table of family fam sees.
func nftFamilies(fam string) (v4, v6 bool) {
	return fam != "ip6", fam != "ip"
}

// nftRuleLines renders the rules of portwarden's chain for a table of
// family fam: the enforce preamble, then the policy rules.
func nftRuleLines(d linuxDesired, fam string) []string {
	v4, v6 := nftFamilies(fam)
	var out []string
	if d.Mode == Enforce {
		out = append(out,
			`ct state established,related accept comment "`+commentEstablished+`"`,
			`ct state invalid drop comment "`+commentInvalid+`"`,
			`iif "lo" accept comment "`+commentLoopback+`"`)
		if v4 {
			out = append(out, `icmp type { `+strings.Join(nftICMPTypes, ", ")+` } accept comment "`+commentICMP+`"`)
		}
		if v6 {
			out = append(out,
				`icmpv6 type { `+strings.Join(nftICMPv6Types, ", ")+` } accept comment "`+commentICMPv6+`"`,
				`ip6 saddr fe80::/10 udp dport 546 accept comment "`+commentDHCPv6+`"`)
		}
		p := d.ManagementPort
		out = append(out, nftSourceRules(d.ManagementSources, "tcp", []PortRange{{Lo: p, Hi: p}}, commentManagement, v4, v6)...)
	}
	for _, r := range d.Rules {
		out = append(out, nftSourceRules(r.Sources, r.Protocol, r.Ports, r.Comment, v4, v6)...)
	}
	return out
}

// nftSourceRules renders one rule per address family and source group.
func nftSourceRules(src []netip.Prefix, proto string, ports []PortRange, comment string, v4, v6 bool) []string {
	var out []string
	s4, s6 := SplitFamilies(src)
	for _, fam := range []struct {
		on   bool
		kw   string
		srcs []netip.Prefix
	}{{v4, "ip", s4}, {v6, "ip6", s6}} {
		if !fam.on {
			continue
		}
		for _, g := range nftSourceGroups(fam.srcs) {
			line := fam.kw + " saddr " + nftSet(g, PrefixString) + " " + proto + " dport " + nftSet(ports, PortRange.String) + " accept"
			if comment != "" {
				line += ` comment "` + comment + `"`
			}
			out = append(out, line)
		}
	}
	return out
}

func nftSet[T any](xs []T, str func(T) string) string {
	if len(xs) == 1 {
		return str(xs[0])
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = str(x)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// nftSourceGroups splits sorted prefixes into groups in which no two
// overlap or touch. nft merges such elements of an anonymous set
// (10.0.0.0/25 and 10.0.0.128/25 become 10.0.0.0/24, 10.0.0.1 and
// 10.0.0.2 a range), and the rules read back would no longer equal the
// desired ones; one rule per group keeps every prefix as it was.
func nftSourceGroups(src []netip.Prefix) [][]netip.Prefix {
	var groups [][]netip.Prefix
	var ends []netip.Addr
	for _, p := range src {
		first, last := p.Masked().Addr(), linuxPrefixLast(p)
		placed := false
		for i, end := range ends {
			if next := end.Next(); next.IsValid() && next.Less(first) {
				groups[i] = append(groups[i], p)
				ends[i] = last
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []netip.Prefix{p})
			ends = append(ends, last)
		}
	}
	return groups
}

// nftName checks that a foreign table or chain name can be written into a
// ruleset as it is.
func nftName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' ||
			i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.')
		if !ok {
			return fmt.Errorf("name %q has characters portwarden does not write into a ruleset", s)
		}
	}
	return nil
}

// nftRender returns the live transaction and the persisted file.
func nftRender(d linuxDesired, h *nftHost) (live, boot string, err error) {
	var lv, bt strings.Builder
	header := "#!/usr/sbin/nft -f\n# Written by portwarden: the next apply replaces this file.\n"
	lv.WriteString(header)
	bt.WriteString(header)
	both := func(format string, a ...any) {
		fmt.Fprintf(&lv, format, a...)
		fmt.Fprintf(&bt, format, a...)
	}

	// Deletes go first: a chain can only be deleted once nothing jumps to it.
	for _, f := range h.foreign {
		t := f.table
		if err := nftName(t.Name); err != nil {
			return "", "", fmt.Errorf("foreign table %s: %w", t.Family, err)
		}
		for _, j := range f.jumps {
			keep := !d.remove && f.needed() && slices.Contains(f.drops, j.chain) && f.jumpOK(j.chain)
			if !keep {
				if err := nftName(j.chain.Name); err != nil {
					return "", "", fmt.Errorf("foreign chain in %s %s: %w", t.Family, t.Name, err)
				}
				fmt.Fprintf(&lv, "delete rule %s %s %s handle %d\n", t.Family, t.Name, j.chain.Name, j.handle)
			}
		}
	}

	lv.WriteString("table inet portwarden {}\ndelete table inet portwarden\n")
	if d.remove {
		bt.WriteString("# Nothing of portwarden's is installed on this host.\n")
	} else {
		bt.WriteString("table inet portwarden {}\ndelete table inet portwarden\n")
		policy := "accept"
		if d.Mode == Enforce {
			policy = "drop"
		}
		both("table inet portwarden {\n\tchain input {\n\t\ttype filter hook input priority filter; policy %s;\n", policy)
		for _, l := range nftRuleLines(d, nftFamily) {
			both("\t\t%s\n", l)
		}
		both("\t}\n}\n")
	}

	for _, f := range h.foreign {
		t := f.table
		fam, name := t.Family, t.Name
		if d.remove || !f.needed() {
			if f.owned != nil {
				fmt.Fprintf(&lv, "delete chain %s %s %s\n", fam, name, nftOwnedChain)
			}
			continue
		}
		both("add table %s %s\n", fam, name)
		both("add chain %s %s %s\n", fam, name, nftOwnedChain)
		both("flush chain %s %s %s\n", fam, name, nftOwnedChain)
		for _, l := range nftRuleLines(d, fam) {
			both("add rule %s %s %s %s\n", fam, name, nftOwnedChain, l)
		}
		for _, c := range f.drops {
			if err := nftName(c.Name); err != nil {
				return "", "", fmt.Errorf("foreign chain in %s %s: %w", fam, name, err)
			}
			jump := fmt.Sprintf("insert rule %s %s %s jump %s comment \"%s\"\n", fam, name, c.Name, nftOwnedChain, Tag)
			fmt.Fprintf(&bt, "add chain %s %s %s\n", fam, name, c.Name)
			bt.WriteString(jump)
			if !f.jumpOK(c) {
				lv.WriteString(jump)
			}
		}
	}
	return lv.String(), bt.String(), nil
}

// nftHostFromFacts parses the nft ruleset in f.
func nftHostFromFacts(lf *linuxFacts) (*nftHost, error) {
	if !lf.has("nft") {
		return nil, fmt.Errorf("nft is not installed on this host")
	}
	text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
	if err != nil {
		return nil, err
	}
	rs, err := parseNFTRuleset(text)
	if err != nil {
		return nil, err
	}
	return nftAnalyze(rs), nil
}

// Apply implements Backend. See NFTables for what the script does. The
// live transaction and the persisted file travel on standard input; the
// script runs the transaction with one nft -f, persists only if it
// succeeded, prints the facts sections, and exits non-zero if the
// transaction or persisting failed (the "apply" section and standard
// error say which).
func (b *NFTables) Apply(d Desired) (Script, error) {
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		return Script{}, err
	}
	root, err := linuxRoot(b.Root)
	if err != nil {
		return Script{}, err
	}
	if b.Facts == nil {
		return Script{}, fmt.Errorf("nftables apply needs the host's facts (NFTables.Facts) to find foreign chains that drop")
	}
	lf, err := parseLinuxFacts(b.Facts)
	if err != nil {
		return Script{}, err
	}
	h, err := nftHostFromFacts(lf)
	if err != nil {
		return Script{}, err
	}
	live, boot, err := nftRender(dd, h)
	if err != nil {
		return Script{}, err
	}
	stdin := live + nftPersistMarker + "\n" + boot + nftEndMarker + "\n"
	g, err := nftGuard(h)
	if err != nil {
		return Script{}, err
	}
	body := linuxPrelude(root, true) + g.render(d.Guard) + nftApplyBody(dd.remove) + linuxNFTReadback + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: []byte(stdin)}, nil
}

// nftGuard saves and restores what the nftables backend owns: the table
// inet portwarden (listed whole), the portwarden_input chain of each
// foreign table it touches, and the number of jumps to that chain in each
// foreign chain that drops or jumps to it. restore.sh deletes the jumps
// there are now (by the handles it finds then), recreates the table and
// the foreign chains as saved (or deletes them where there were none),
// and inserts the saved number of jumps as each chain's first rules, all
// in one nft -f transaction.
func nftGuard(h *nftHost) (linuxGuard, error) {
	var save, del, chains, jumps strings.Builder
	save.WriteString("\tif nft list table inet portwarden >\"$pw_state/table.nft\" 2>/dev/null; then :; else rm -f \"$pw_state/table.nft\"; fi\n")
	n := 0
	for i, f := range h.foreign {
		t := f.table
		if err := nftName(t.Name); err != nil {
			return linuxGuard{}, fmt.Errorf("foreign table %s: %w", t.Family, err)
		}
		ft := t.Family + " " + t.Name
		fmt.Fprintf(&save, "\tif nft list chain %[1]s %[2]s >\"$pw_state/fc.%[3]d\" 2>/dev/null; then :; else rm -f \"$pw_state/fc.%[3]d\"; fi\n", ft, nftOwnedChain, i)
		fmt.Fprintf(&chains, `	if [ -f "$pw_state/fc.%[3]d" ]; then
		echo "add chain %[1]s %[2]s"
		echo "flush chain %[1]s %[2]s"
		cat "$pw_state/fc.%[3]d"
	elif nft list chain %[1]s %[2]s >/dev/null 2>&1; then
		echo "delete chain %[1]s %[2]s"
	fi
`, ft, nftOwnedChain, i)
		var cs []*nftChain
		for _, c := range f.drops {
			cs = append(cs, c)
		}
		for _, j := range f.jumps {
			if !slices.Contains(cs, j.chain) {
				cs = append(cs, j.chain)
			}
		}
		for _, c := range cs {
			if err := nftName(c.Name); err != nil {
				return linuxGuard{}, fmt.Errorf("foreign chain in %s: %w", ft, err)
			}
			fc := ft + " " + c.Name
			fmt.Fprintf(&save, "\tpw_nft_jumps %[1]s >\"$pw_state/jc.%[2]d\"\n", fc, n)
			fmt.Fprintf(&del, "\tpw_nft_jumps %[1]s | while IFS= read -r pw_h; do echo \"delete rule %[1]s handle $pw_h\"; done\n", fc)
			fmt.Fprintf(&jumps, `	while IFS= read -r pw_h; do echo "insert rule %[1]s jump %[2]s comment \"%[3]s\""; done <"$pw_state/jc.%[4]d"
`, fc, nftOwnedChain, Tag, n)
			n++
		}
	}
	// pw_nft_jumps prints the handle of each jump to portwarden_input in
	// one chain.
	jumpsFn := `pw_nft_jumps() {
	nft -a list chain "$1" "$2" "$3" 2>/dev/null | while IFS= read -r pw_l; do
		case $pw_l in *"jump ` + nftOwnedChain + `"*"# handle "*) echo "${pw_l##*# handle }" ;; esac
	done
}
`
	restore := jumpsFn + `{
` + del.String() + `	echo "table inet portwarden {}"
	echo "delete table inet portwarden"
	if [ -f "$pw_state/table.nft" ]; then cat "$pw_state/table.nft"; fi
` + chains.String() + jumps.String() + `} >"$pw_state/restore.nft" && nft -f "$pw_state/restore.nft" || exit 1
`
	return linuxGuard{
		save:    "\t" + strings.ReplaceAll(strings.TrimSpace(jumpsFn), "\n", "\n\t") + "\n" + save.String(),
		restore: restore,
		files:   []string{`"$pw_nftfile"`, `"$pw_nftconf"`},
	}, nil
}

func nftApplyBody(remove bool) string {
	persist := `		pw_persist() {
			{ [ -d "${pw_nftfile%/*}" ] || mkdir -p "${pw_nftfile%/*}"; } &&
				pw_t=$(mktemp "$pw_nftfile.XXXXXX") &&
				{ cat "$pw_tmp/boot" >"$pw_t" && mv -f "$pw_t" "$pw_nftfile" || { rm -f "$pw_t"; false; }; } || return 1
			if [ ! -e "$pw_nftconf" ]; then
				mkdir -p "${pw_nftconf%/*}" &&
					printf '#!/usr/sbin/nft -f\n\n%s\n' "$pw_include" >"$pw_nftconf" || return 1
			elif ! pw_contains "$pw_nftconf" "include \"$pw_nftfile\""; then
				printf '\n%s\n' "$pw_include" >>"$pw_nftconf" || return 1
			fi
		}
`
	if remove {
		persist = `		pw_persist() {
			if [ -e "$pw_nftfile" ]; then
				pw_t=$(mktemp "$pw_nftfile.XXXXXX") &&
					{ cat "$pw_tmp/boot" >"$pw_t" && mv -f "$pw_t" "$pw_nftfile" || { rm -f "$pw_t"; false; }; } || return 1
			fi
			if [ -f "$pw_nftconf" ] && grep -qxF "$pw_include" "$pw_nftconf"; then
				grep -vxF "$pw_include" "$pw_nftconf" >"$pw_tmp/conf"
				pw_t=$(mktemp "$pw_nftconf.XXXXXX") &&
					{ cat "$pw_tmp/conf" >"$pw_t" && mv -f "$pw_t" "$pw_nftconf" || { rm -f "$pw_t"; false; }; } || return 1
			fi
		}
`
	}
	return linuxApplyHead + `pw_include="include \"$pw_nftfile\" # portwarden"
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has nft; then
	pw_fail "nft is not installed; nothing was changed"
else
	# Split standard input at the persist marker: the live transaction
	# before it, the boot file after it (a read loop: no process per step).
	pw_part=live
	pw_end=
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		if [ "$pw_part" = live ]; then
			if [ "$pw_l" = '` + nftPersistMarker + `' ]; then
				pw_part=boot
			else
				printf '%s\n' "$pw_l" >&4
			fi
		else
			[ "$pw_l" = '` + nftEndMarker + `' ] && pw_end=1
			printf '%s\n' "$pw_l" >&5
		fi
	done 4>"$pw_tmp/live" 5>"$pw_tmp/boot"
	if [ -z "$pw_end" ]; then
		pw_fail "the ruleset on standard input is incomplete; nothing was changed"
	elif ! pw_guard_begin; then
		:
	elif nft -f "$pw_tmp/live" >"$pw_tmp/nft.out" 2>&1; then
		echo "nft: transaction committed"
		pw_committed=1
` + persist + `		if ! pw_persist 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the rules under ${PW_ROOT:-/} failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "nft refused the transaction; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/nft.out")"
	fi
fi
pw_guard_end
`
}

// State implements Backend.
func (b *NFTables) State(f Facts) (State, error) {
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return State{}, err
	}
	h, err := nftHostFromFacts(lf)
	if err != nil {
		return State{}, err
	}
	st := State{Backend: b.Name()}
	st.Warnings = append(st.Warnings, lf.managerWarnings()...)
	for _, c := range h.iptDrops {
		st.Warnings = append(st.Warnings, fmt.Sprintf("the iptables chain %s (iptables-nft) drops inbound traffic: portwarden's nftables rules cannot open ports through it; use firewall = \"iptables\" for this host", c))
	}
	w, err := iptLegacyDropWarnings(lf)
	if err != nil {
		return State{}, err
	}
	st.Warnings = append(st.Warnings, w...)

	var own *nftChainContent
	if h.table != nil {
		st.Installed = true
		if h.chain == nil {
			st.Drift = append(st.Drift, "chain inet portwarden input is missing")
		} else {
			c := h.chain
			if c.Type != "filter" || c.Hook != "input" || c.Prio == nil || *c.Prio != 0 {
				st.Drift = append(st.Drift, fmt.Sprintf("chain inet portwarden input is not a filter chain on the input hook at priority filter (type %q hook %q)", c.Type, c.Hook))
			}
			switch c.Policy {
			case "drop":
				st.Mode = Enforce
			case "accept":
				st.Mode = Additive
			default:
				return State{}, fmt.Errorf("chain inet portwarden input has an unknown policy %q", c.Policy)
			}
			if own, err = nftParseChain(c); err != nil {
				return State{}, err
			}
			st.Rules = own.rules.rules()
			if len(own.mgmt) > 0 {
				m := Rule{Protocol: "tcp", Ports: []PortRange{{Lo: own.port, Hi: own.port}}, Sources: own.mgmt}.Normalize()
				st.Management = &m
			}
			if d := own.preambleDrift(st.Mode, nftFamily); d != "" {
				st.Drift = append(st.Drift, "chain inet portwarden input: "+d)
			} else if st.Mode == Enforce && len(own.mgmt) == 0 {
				st.Drift = append(st.Drift, "chain inet portwarden input: the management rule is missing")
			}
		}
	}
	for _, fr := range h.foreign {
		t := fr.table
		name := t.Family + " " + t.Name
		if fr.owned != nil || len(fr.jumps) > 0 {
			st.Installed = true
		}
		if own == nil || !fr.needed() {
			if fr.owned != nil {
				st.Drift = append(st.Drift, fmt.Sprintf("chain %s %s is left over", name, nftOwnedChain))
			}
			for _, j := range fr.jumps {
				st.Drift = append(st.Drift, fmt.Sprintf("jump to %s in chain %s (handle %d) is left over", nftOwnedChain, j.chain, j.handle))
			}
			continue
		}
		for _, c := range fr.drops {
			var n, first int
			for _, j := range fr.jumps {
				if j.chain == c {
					n++
					first = j.index
				}
			}
			switch {
			case n == 0:
				st.Drift = append(st.Drift, fmt.Sprintf("chain %s drops inbound traffic and has no jump to %s: the ports portwarden opens stay closed", c, nftOwnedChain))
			case n > 1:
				st.Drift = append(st.Drift, fmt.Sprintf("chain %s has %d jumps to %s, want one", c, n, nftOwnedChain))
			case first != 0:
				st.Warnings = append(st.Warnings, fmt.Sprintf("the jump to %s is rule %d of chain %s, not the first: rules above it see inbound traffic first", nftOwnedChain, first+1, c))
			}
		}
		for _, j := range fr.jumps {
			if !slices.Contains(fr.drops, j.chain) {
				st.Drift = append(st.Drift, fmt.Sprintf("jump to %s in chain %s (handle %d) is left over", nftOwnedChain, j.chain, j.handle))
			}
		}
		if fr.owned == nil {
			st.Drift = append(st.Drift, fmt.Sprintf("chain %s %s is missing", name, nftOwnedChain))
			continue
		}
		got, err := nftParseChain(fr.owned)
		if err != nil {
			return State{}, err
		}
		if !got.equal(own.forFamily(t.Family), st.Mode, t.Family) {
			st.Drift = append(st.Drift, fmt.Sprintf("chain %s %s differs from table inet portwarden", name, nftOwnedChain))
		}
	}
	if h.table != nil && lf.persistRootMatches(b.Root) {
		st.Drift = append(st.Drift, nftPersistDrift(lf)...)
	}
	if h.table != nil && lf.services["systemd"] == "yes" && lf.services["nftables.enabled"] != "enabled" {
		st.Warnings = append(st.Warnings, "nftables.service is not enabled: the persisted rules are not loaded at boot (systemctl enable nftables)")
	}
	return st, nil
}

func nftPersistDrift(lf *linuxFacts) []string {
	var d []string
	file, conf := lf.persist["nft_file"], lf.persist["nft_conf"]
	if lf.persist["nft_file_exists"] != "yes" {
		d = append(d, fmt.Sprintf("the rules are not persisted: %s is missing", file))
	} else if lf.persist["nft_conf_includes"] != "yes" {
		d = append(d, fmt.Sprintf("the rules are not loaded at boot: %s does not include %s", conf, file))
	}
	return d
}

// nftChainContent is one of portwarden's chains, parsed.
type nftChainContent struct {
	rules ruleMerger
	// fixed are the reserved comments of the preamble rules present.
	fixed map[string]bool
	// mgmt are the management sources.
	mgmt []netip.Prefix
	port uint16 // management port
}

// preambleDrift says what is wrong with the preamble for mode in a table
// of family fam, or "". The management rule is checked apart: a foreign
// table of one family has none when the controller has no address of
// that family.
func (c *nftChainContent) preambleDrift(mode Mode, fam string) string {
	want := nftPreambleKinds(mode, fam)
	var missing, extra []string
	for _, k := range want {
		if !c.fixed[k] {
			missing = append(missing, k)
		}
	}
	for k := range c.fixed {
		if !slices.Contains(want, k) && !(k == commentManagement && mode == Enforce) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	switch {
	case len(missing) > 0:
		return fmt.Sprintf("%s mode rules %s are missing", mode, strings.Join(missing, ", "))
	case len(extra) > 0:
		return fmt.Sprintf("rules %s do not belong in %s mode", strings.Join(extra, ", "), mode)
	}
	return ""
}

func nftPreambleKinds(mode Mode, fam string) []string {
	if mode != Enforce {
		return nil
	}
	v4, v6 := nftFamilies(fam)
	k := []string{commentEstablished, commentInvalid, commentLoopback}
	if v4 {
		k = append(k, commentICMP)
	}
	if v6 {
		k = append(k, commentICMPv6, commentDHCPv6)
	}
	return k
}

// forFamily returns what a portwarden_input chain in a table of family fam
// should hold.
func (c *nftChainContent) forFamily(fam string) *nftChainContent {
	v4, v6 := nftFamilies(fam)
	keep := func(src []netip.Prefix) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range src {
			if p.Addr().Is4() && v4 || p.Addr().Is6() && v6 {
				out = append(out, p)
			}
		}
		return out
	}
	out := &nftChainContent{mgmt: keep(c.mgmt), port: c.port}
	for _, r := range c.rules.rules() {
		r.Sources = keep(r.Sources)
		if len(r.Sources) > 0 {
			out.rules.add(r)
		}
	}
	return out
}

// equal compares a portwarden_input chain with want, what it should hold.
func (c *nftChainContent) equal(want *nftChainContent, mode Mode, fam string) bool {
	if c.preambleDrift(mode, fam) != "" {
		return false
	}
	if !slices.Equal(normPrefixes(c.mgmt), normPrefixes(want.mgmt)) || len(want.mgmt) > 0 && c.port != want.port {
		return false
	}
	a, b := c.rules.rules(), want.rules.rules()
	return slices.EqualFunc(a, b, func(x, y Rule) bool {
		return x.Key() == y.Key() && slices.Equal(x.Sources, y.Sources)
	})
}

func normPrefixes(p []netip.Prefix) []netip.Prefix {
	return (Rule{Sources: p}).Normalize().Sources
}

// nftParseChain reads one of portwarden's chains. Rules with a reserved
// comment are the preamble; every other rule must be a policy rule as
// nftRuleLines writes it: an error otherwise, since a chain portwarden
// cannot read must not be planned against.
func nftParseChain(c *nftChain) (*nftChainContent, error) {
	out := &nftChainContent{fixed: map[string]bool{}}
	for _, r := range c.rules {
		if strings.HasPrefix(r.Comment, linuxReservedPrefix) {
			out.fixed[r.Comment] = true
			if r.Comment == commentManagement {
				m, err := nftParsePolicyRule(r)
				if err != nil {
					return nil, fmt.Errorf("chain %s, rule handle %d: %w", c, r.Handle, err)
				}
				out.mgmt = append(out.mgmt, m.Sources...)
				if len(m.Ports) == 1 && m.Ports[0].Lo == m.Ports[0].Hi {
					out.port = m.Ports[0].Lo
				}
			}
			continue
		}
		rule, err := nftParsePolicyRule(r)
		if err != nil {
			return nil, fmt.Errorf("chain %s, rule handle %d: %w", c, r.Handle, err)
		}
		out.rules.add(rule)
	}
	return out, nil
}

// nftParsePolicyRule reads `ip[6] saddr S tcp|udp dport P accept`.
func nftParsePolicyRule(r *nftRule) (Rule, error) {
	rule := Rule{Comment: r.Comment}
	accepted := false
	for _, e := range r.Expr {
		kind, raw := nftExprKind(e)
		if accepted {
			return Rule{}, fmt.Errorf("unexpected %q after accept", kind)
		}
		switch kind {
		case "counter":
		case "accept":
			accepted = true
		case "match":
			var m struct {
				Op   string `json:"op"`
				Left struct {
					Payload *struct {
						Protocol string `json:"protocol"`
						Field    string `json:"field"`
					} `json:"payload"`
				} `json:"left"`
				Right json.RawMessage `json:"right"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return Rule{}, fmt.Errorf("parsing match: %w", err)
			}
			p := m.Left.Payload
			if m.Op != "==" || p == nil {
				return Rule{}, fmt.Errorf("unexpected match %s", raw)
			}
			switch {
			case p.Field == "saddr" && (p.Protocol == "ip" || p.Protocol == "ip6"):
				if rule.Sources != nil {
					return Rule{}, fmt.Errorf("two source matches")
				}
				src, err := nftParseAddrs(m.Right, p.Protocol == "ip6")
				if err != nil {
					return Rule{}, err
				}
				rule.Sources = src
			case p.Field == "dport" && (p.Protocol == "tcp" || p.Protocol == "udp"):
				if rule.Ports != nil {
					return Rule{}, fmt.Errorf("two port matches")
				}
				ports, err := nftParsePorts(m.Right)
				if err != nil {
					return Rule{}, err
				}
				rule.Protocol, rule.Ports = p.Protocol, ports
			default:
				return Rule{}, fmt.Errorf("unexpected match on %s %s", p.Protocol, p.Field)
			}
		default:
			return Rule{}, fmt.Errorf("unexpected %q expression", kind)
		}
	}
	if !accepted || rule.Sources == nil || rule.Ports == nil {
		return Rule{}, fmt.Errorf("not a rule portwarden writes: want source addresses, destination ports and accept")
	}
	return rule, nil
}

// nftSetElems returns the elements of a set value, or the value itself.
func nftSetElems(raw json.RawMessage) ([]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if s, ok := obj["set"]; ok {
			var elems []json.RawMessage
			if err := json.Unmarshal(s, &elems); err != nil {
				return nil, fmt.Errorf("parsing set %s: %w", s, err)
			}
			return elems, nil
		}
	}
	return []json.RawMessage{raw}, nil
}

func nftParseAddrs(raw json.RawMessage, v6 bool) ([]netip.Prefix, error) {
	elems, err := nftSetElems(raw)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, e := range elems {
		var p netip.Prefix
		var s string
		var pfx struct {
			Prefix *struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			} `json:"prefix"`
		}
		switch {
		case json.Unmarshal(e, &s) == nil:
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", s, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("source %q: %w", s, errZone)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		case json.Unmarshal(e, &pfx) == nil && pfx.Prefix != nil:
			a, err := netip.ParseAddr(pfx.Prefix.Addr)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", pfx.Prefix.Addr, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("source %q: %w", pfx.Prefix.Addr, errZone)
			}
			if p, err = a.Prefix(pfx.Prefix.Len); err != nil {
				return nil, fmt.Errorf("source %s/%d: %w", a, pfx.Prefix.Len, err)
			}
		default:
			return nil, fmt.Errorf("unexpected source %s", e)
		}
		if p.Addr().Is6() != v6 {
			return nil, fmt.Errorf("source %s in a match of the other address family", p)
		}
		out = append(out, p)
	}
	return out, nil
}

func nftParsePorts(raw json.RawMessage) ([]PortRange, error) {
	elems, err := nftSetElems(raw)
	if err != nil {
		return nil, err
	}
	var out []PortRange
	for _, e := range elems {
		var n int
		var rg struct {
			Range []int `json:"range"`
		}
		switch {
		case json.Unmarshal(e, &n) == nil:
			rg.Range = []int{n, n}
		case json.Unmarshal(e, &rg) == nil && len(rg.Range) == 2:
		default:
			return nil, fmt.Errorf("unexpected port %s", e)
		}
		lo, hi := rg.Range[0], rg.Range[1]
		if lo < 1 || hi > 65535 || hi < lo {
			return nil, fmt.Errorf("bad port range %d-%d", lo, hi)
		}
		out = append(out, PortRange{Lo: uint16(lo), Hi: uint16(hi)})
	}
	return out, nil
}

// Confirm implements Confirmer.
func (b *NFTables) Confirm(id string) (Script, error) { return linuxConfirmer{b.Root}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *NFTables) RevertNow(id string) (Script, error) { return linuxConfirmer{b.Root}.RevertNow(id) }
