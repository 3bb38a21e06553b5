package firewall

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// IPTables is the iptables backend. It owns the chain PORTWARDEN-INPUT of
// the filter table, for IPv4 (iptables) and IPv6 (ip6tables), and the one
// jump to it, commented "portwarden", that it inserts as the first rule
// of INPUT. In additive mode the chain holds only the accept rules and
// returns to INPUT for everything else; in enforce mode it accepts
// established and related traffic, loopback, essential ICMP/ICMPv6,
// DHCPv6 replies and the management port from the controller, then the
// rules, and ends with a DROP: the INPUT policy itself is never changed.
//
// # One restore per family
//
// Apply runs one iptables-restore --noflush and one ip6tables-restore
// --noflush, each atomic for its family. Declaring ":PORTWARDEN-INPUT"
// creates the chain or, with --noflush, flushes it. The jump cannot be
// made idempotent the same way: deleting a jump that is missing fails the
// whole restore, and inserting one unconditionally would add another on
// every apply. So Apply reads the facts from before it (Facts, which
// Detect fills in): if INPUT holds exactly one jump and it is first, the
// restore leaves it alone; otherwise it deletes every jump there is (by
// its rule as iptables-save printed it) and inserts one at position 1. If
// the facts are no longer true the restore fails and changes nothing.
// Both families are checked with --test before either is applied, so a
// family refusing the change leaves both unchanged in all but a race.
//
// Removing everything (an additive Desired without rules) deletes the
// jumps and the chains.
//
// # Rules
//
// A rule's sources go into one -s list (iptables makes one rule per
// source), its ports into -m multiport --dports, which takes at most 15
// ports (a range counts as two): a rule with more ports is split, and
// every part after the first carries a comment starting with
// "portwarden:cont" so that State puts them together again.
//
// State reports as Drift: a missing jump, more than one, an incomplete
// enforce preamble, a DROP that is not last, one family's chain missing
// or in another mode, the rules not persisted. A jump that is not first
// is only a Warning (see NFTables).
//
// # Persistence
//
// After a successful restore the script writes iptables-save and
// ip6tables-save to ROOT/etc/iptables/rules.v4 and rules.v6, the files
// Debian's iptables-persistent (netfilter-persistent) loads at boot.
// They hold the whole of each family's tables, as netfilter-persistent
// itself saves them.
type IPTables struct {
	// Root replaces "/" for the persisted files (see NFTables.Root).
	Root string
	// Facts are the host's facts from before the apply.
	Facts Facts
	// Legacy uses the iptables-legacy tools on a host whose default
	// iptables is the nf_tables variant (Detect sets it where the host's
	// rules are in the legacy tables).
	Legacy bool
}

// Name implements Backend.
func (*IPTables) Name() string { return "iptables" }

const (
	iptChain     = "PORTWARDEN-INPUT"
	iptInput     = "INPUT"
	iptPersistV4 = "/etc/iptables/rules.v4"
	iptPersistV6 = "/etc/iptables/rules.v6"
	// iptMultiport is the most ports one multiport match takes.
	iptMultiport = 15
	iptV4Marker  = "# portwarden:ipv4"
	iptV6Marker  = "# portwarden:ipv6"
	iptEndMarker = "# portwarden:end"
)

var (
	iptICMPTypes   = []int{3, 8, 11, 12}                        // unreachable, echo request, time exceeded, parameter problem
	iptICMPv6Types = []int{1, 2, 3, 4, 128, 130, 134, 135, 136} // as nftICMPv6Types
)

// iptFamily is one address family's tools and facts.
type iptFamily struct {
	v6               bool
	name             string // "IPv4" or "IPv6"
	save, restore    string
	section, persist string
}

// families returns the families the backend manages on a host: IPv4
// always, IPv6 when its tools are there.
func (b *IPTables) families(lf *linuxFacts) ([]iptFamily, error) {
	legacy := b.Legacy && lf.iptablesVariant() != "legacy"
	infix, sec := "", ""
	if legacy {
		infix, sec = "-legacy", "_legacy"
	}
	v4 := iptFamily{false, "IPv4", "iptables" + infix + "-save", "iptables" + infix + "-restore", linuxSecIPT + sec, iptPersistV4}
	v6 := iptFamily{true, "IPv6", "ip6tables" + infix + "-save", "ip6tables" + infix + "-restore", linuxSecIP6T + sec, iptPersistV6}
	if !lf.has(v4.save) || !lf.has(v4.restore) {
		return nil, fmt.Errorf("%s and %s are not both installed on this host", v4.save, v4.restore)
	}
	fams := []iptFamily{v4}
	if lf.has(v6.save) && lf.has(v6.restore) {
		fams = append(fams, v6)
	}
	return fams, nil
}

// iptTable is one table of iptables-save output.
type iptTable struct {
	chains map[string]*iptChainInfo
}

type iptChainInfo struct {
	name   string
	policy string // "-" for a user chain
	rules  []iptLine
}

type iptLine struct {
	text string   // the rule after "-A CHAIN ", as printed
	args []string // text split into words
}

// parseIptablesSave parses iptables-save output into tables by name.
func parseIptablesSave(text string) (map[string]*iptTable, error) {
	tables := map[string]*iptTable{}
	var cur *iptTable
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			cur = &iptTable{chains: map[string]*iptChainInfo{}}
			tables[line[1:]] = cur
		case cur == nil:
			return nil, fmt.Errorf("iptables-save line %d: %q outside a table", n, line)
		case line == "COMMIT":
			cur = nil
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("iptables-save line %d: bad chain line %q", n, line)
			}
			cur.chains[f[0]] = &iptChainInfo{name: f[0], policy: f[1]}
		case strings.HasPrefix(line, "-A "):
			chain, rest, _ := strings.Cut(line[3:], " ")
			c := cur.chains[chain]
			if c == nil {
				return nil, fmt.Errorf("iptables-save line %d: rule for undeclared chain %q", n, chain)
			}
			args, err := iptSplit(rest)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %w", n, err)
			}
			c.rules = append(c.rules, iptLine{text: rest, args: args})
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("iptables-save output ends without COMMIT")
	}
	return tables, nil
}

// iptSplit splits a rule into words the way iptables-restore does:
// double quotes group, a backslash escapes the next character.
func iptSplit(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inWord = true, true
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted || escaped {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

// target returns the rule's -j target.
func (l iptLine) target() string {
	for i, a := range l.args {
		if a == "-j" && i+1 < len(l.args) {
			return l.args[i+1]
		}
	}
	return ""
}

func (l iptLine) comment() string {
	for i, a := range l.args {
		if a == "--comment" && i+1 < len(l.args) {
			return l.args[i+1]
		}
	}
	return ""
}

// drops reports an INPUT chain that drops what no rule accepted: policy
// DROP, or a last rule that is only "-j DROP" or "-j REJECT ...".
func (c *iptChainInfo) drops() bool {
	if c.policy == "DROP" {
		return true
	}
	if len(c.rules) == 0 {
		return false
	}
	last := c.rules[len(c.rules)-1]
	return len(last.args) >= 2 && last.args[0] == "-j" && (last.args[1] == "DROP" || last.args[1] == "REJECT")
}

// iptFamilyState is what one family's filter table holds of portwarden's.
type iptFamilyState struct {
	chain *iptChainInfo // PORTWARDEN-INPUT, nil if missing
	jumps []iptJump     // rules of INPUT that jump to it
	input *iptChainInfo // INPUT, nil if missing
}

type iptJump struct {
	line  iptLine
	index int
}

func (s *iptFamilyState) jumpOK() bool { return len(s.jumps) == 1 && s.jumps[0].index == 0 }

func (s *iptFamilyState) installed() bool { return s.chain != nil || len(s.jumps) > 0 }

func iptReadFamily(lf *linuxFacts, fam iptFamily) (*iptFamilyState, error) {
	text, err := lf.section(fam.section, fam.save)
	if err != nil {
		return nil, err
	}
	tables, err := parseIptablesSave(text)
	if err != nil {
		return nil, fmt.Errorf("parsing %s output: %w", fam.save, err)
	}
	st := &iptFamilyState{}
	filter := tables["filter"]
	if filter == nil {
		return st, nil
	}
	st.chain = filter.chains[iptChain]
	st.input = filter.chains[iptInput]
	if st.input != nil {
		for i, l := range st.input.rules {
			if l.target() == iptChain {
				st.jumps = append(st.jumps, iptJump{l, i})
			}
		}
	}
	return st, nil
}

// iptRuleLines renders the rules of PORTWARDEN-INPUT for one family.
func iptRuleLines(d linuxDesired, v6 bool) []string {
	var out []string
	add := func(spec, comment, target string) {
		l := "-A " + iptChain
		if spec != "" {
			l += " " + spec
		}
		if comment != "" {
			l += ` -m comment --comment "` + comment + `"`
		}
		out = append(out, l+" -j "+target)
	}
	pick := func(src []netip.Prefix) []netip.Prefix {
		s4, s6 := SplitFamilies(src)
		if v6 {
			return s6
		}
		return s4
	}
	if d.Mode == Enforce {
		add("-m conntrack --ctstate RELATED,ESTABLISHED", commentEstablished, "ACCEPT")
		add("-m conntrack --ctstate INVALID", commentInvalid, "DROP")
		add("-i lo", commentLoopback, "ACCEPT")
		if v6 {
			for _, t := range iptICMPv6Types {
				add("-p ipv6-icmp -m icmp6 --icmpv6-type "+strconv.Itoa(t), commentICMPv6, "ACCEPT")
			}
			add("-s fe80::/10 -p udp -m udp --dport 546", commentDHCPv6, "ACCEPT")
		} else {
			for _, t := range iptICMPTypes {
				add("-p icmp -m icmp --icmp-type "+strconv.Itoa(t), commentICMP, "ACCEPT")
			}
		}
		if src := pick(d.ManagementSources); len(src) > 0 {
			add("-s "+iptSources(src)+" -p tcp -m tcp --dport "+strconv.Itoa(int(d.ManagementPort)), commentManagement, "ACCEPT")
		}
	}
	for _, r := range d.Rules {
		src := pick(r.Sources)
		if len(src) == 0 {
			continue
		}
		for i, chunk := range iptPortChunks(r.Ports) {
			c := r.Comment
			if i > 0 {
				c = strings.TrimSpace(commentContinued + " " + c)
			}
			add("-s "+iptSources(src)+" -p "+r.Protocol+" -m multiport --dports "+iptPorts(chunk), c, "ACCEPT")
		}
	}
	if d.Mode == Enforce {
		add("", commentDrop, "DROP")
	}
	return out
}

func iptSources(src []netip.Prefix) string {
	s := make([]string, len(src))
	for i, p := range src {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func iptPorts(ps []PortRange) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p.Lo))
		if p.Hi != p.Lo {
			s[i] += ":" + strconv.Itoa(int(p.Hi))
		}
	}
	return strings.Join(s, ",")
}

// iptPortChunks splits ports into lists that multiport takes: at most 15
// ports, a range counting as two.
func iptPortChunks(ps []PortRange) [][]PortRange {
	var out [][]PortRange
	var cur []PortRange
	n := 0
	for _, p := range ps {
		w := 1
		if p.Hi != p.Lo {
			w = 2
		}
		if n+w > iptMultiport {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, p)
		n += w
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// iptRender returns the iptables-restore input for one family, or "" when
// there is nothing to do (removing what is not there).
func iptRender(d linuxDesired, cur *iptFamilyState, v6 bool) string {
	if d.remove && !cur.installed() {
		return ""
	}
	var b strings.Builder
	b.WriteString("*filter\n:" + iptChain + " - [0:0]\n")
	keep := !d.remove && cur.jumpOK()
	if !keep {
		for _, j := range cur.jumps {
			b.WriteString("-D " + iptInput + " " + j.line.text + "\n")
		}
	}
	if d.remove {
		b.WriteString("-X " + iptChain + "\nCOMMIT\n")
		return b.String()
	}
	if !keep {
		b.WriteString("-I " + iptInput + " 1 -m comment --comment " + Tag + " -j " + iptChain + "\n")
	}
	for _, l := range iptRuleLines(d, v6) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// Apply implements Backend. See IPTables for what the script does. Both
// families' restore input travels on standard input; the script prints
// the facts sections after the change and exits non-zero if a restore or
// persisting failed (the "apply" section and standard error say which).
func (b *IPTables) Apply(d Desired) (Script, error) {
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		return Script{}, err
	}
	root, err := linuxRoot(b.Root)
	if err != nil {
		return Script{}, err
	}
	if b.Facts == nil {
		return Script{}, fmt.Errorf("iptables apply needs the host's facts (IPTables.Facts) to know which jumps exist")
	}
	lf, err := parseLinuxFacts(b.Facts)
	if err != nil {
		return Script{}, err
	}
	fams, err := b.families(lf)
	if err != nil {
		return Script{}, err
	}
	var stdin strings.Builder
	var v4, v6 *iptFamily
	for i, fam := range fams {
		cur, err := iptReadFamily(lf, fam)
		if err != nil {
			return Script{}, err
		}
		text := iptRender(dd, cur, fam.v6)
		if text == "" {
			continue
		}
		if fam.v6 {
			stdin.WriteString(iptV6Marker + "\n")
			v6 = &fams[i]
		} else {
			stdin.WriteString(iptV4Marker + "\n")
			v4 = &fams[i]
		}
		stdin.WriteString(text)
	}
	if len(fams) == 1 && !dd.remove {
		for _, r := range dd.Rules {
			if _, s6 := SplitFamilies(r.Sources); len(s6) > 0 {
				return Script{}, fmt.Errorf("rule %s has IPv6 sources but ip6tables-save and ip6tables-restore are not both installed", r.Key())
			}
		}
	}
	stdin.WriteString(iptEndMarker + "\n")
	body := linuxPrelude(root, true) + iptGuard(fams).render(d.Guard) + iptApplyBody(v4, v6) + linuxFactsSections + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: []byte(stdin.String())}, nil
}

// iptGuard saves and restores what the iptables backend owns, per
// family: iptables-save -t filter at the start; restore.sh deletes the
// jumps to PORTWARDEN-INPUT there are now, and refills the chain with the
// saved rules and re-inserts the saved jumps first in INPUT, or deletes
// the chain where there was none, in one --noflush restore per family.
func iptGuard(fams []iptFamily) linuxGuard {
	var save, restore strings.Builder
	jump := `'^-A ` + iptInput + ` .*-j ` + iptChain + `\( \|$\)'`
	var files []string
	for _, f := range fams {
		n := "v4"
		files = append(files, `"$pw_rules4"`)
		if f.v6 {
			n = "v6"
			files[len(files)-1] = `"$pw_rules6"`
		}
		fmt.Fprintf(&save, "\t%[1]s -t filter >\"$pw_state/ipt.%[2]s\" || return 1\n", f.save, n)
		fmt.Fprintf(&restore, `{
	echo "*filter"
	echo ":%[4]s - [0:0]"
	%[1]s -t filter | grep -e %[5]s | sed 's/^-A /-D /'
	if grep -q '^:%[4]s ' "$pw_state/ipt.%[3]s"; then
		grep '^-A %[4]s ' "$pw_state/ipt.%[3]s"
		grep -e %[5]s "$pw_state/ipt.%[3]s" | sed 's/^-A %[6]s /-I %[6]s 1 /'
	else
		echo "-X %[4]s"
	fi
	echo COMMIT
} >"$pw_state/restore.%[3]s" && %[2]s --noflush <"$pw_state/restore.%[3]s" || pw_rc=1
`, f.save, f.restore, n, iptChain, jump, iptInput)
	}
	return linuxGuard{save: save.String(), restore: restore.String() + "[ \"$pw_rc\" = 0 ] || exit 1\n", files: files}
}

func iptApplyBody(v4, v6 *iptFamily) string {
	var b strings.Builder
	b.WriteString(linuxApplyHead)
	b.WriteString(`if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
else
	cat >"$pw_tmp/in"
	awk -v dir="$pw_tmp" '$0 == "` + iptV4Marker + `" { out = dir "/v4"; next }
		$0 == "` + iptV6Marker + `" { out = dir "/v6"; next }
		$0 == "` + iptEndMarker + `" { print "ok" > (dir "/end"); out = ""; next }
		out != "" { print > out }' "$pw_tmp/in"
	if [ ! -f "$pw_tmp/end" ]; then
		pw_fail "the rules on standard input are incomplete; nothing was changed"
	fi
fi
`)
	type step struct {
		fam  *iptFamily
		file string
	}
	var steps []step
	if v4 != nil {
		steps = append(steps, step{v4, "v4"})
	}
	if v6 != nil {
		steps = append(steps, step{v6, "v6"})
	}
	if len(steps) == 0 {
		b.WriteString("[ \"$pw_status\" = 0 ] && echo \"nothing to change\"\necho \"outcome=unchanged\"\n")
		return b.String()
	}
	// pw_go gates the restores: a refused restore stops the next one (and
	// pw_guard_end rolls back the family already changed), a failed
	// persist stops nothing but rolls everything back at the end.
	b.WriteString("pw_go=$((1 - pw_status))\n")
	b.WriteString("if [ \"$pw_go\" = 1 ] && ! pw_guard_begin; then pw_go=0; fi\n")
	for _, s := range steps {
		fmt.Fprintf(&b, `if [ "$pw_go" = 1 ] && ! %[1]s --noflush --test <"$pw_tmp/%[2]s" >"$pw_tmp/%[2]s.out" 2>&1; then
	pw_fail "%[1]s refused the change; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/%[2]s.out")"
	pw_go=0
fi
`, s.fam.restore, s.file)
	}
	for i, s := range steps {
		nothing := "nothing was changed"
		if i > 0 {
			nothing = "the " + steps[0].fam.name + " rules are rolled back"
		}
		fmt.Fprintf(&b, `if [ "$pw_go" = 1 ]; then
	if %[1]s --noflush <"$pw_tmp/%[2]s" >"$pw_tmp/%[2]s.out" 2>&1; then
		echo "%[1]s: committed"
		pw_committed=1
		if ! { mkdir -p "${pw_rules4%%/*}" && pw_t=$(mktemp "$PW_ROOT%[4]s.XXXXXX") && { %[3]s >"$pw_t" && mv -f "$pw_t" "$PW_ROOT%[4]s" || { rm -f "$pw_t"; false; }; }; } 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the %[5]s rules to $PW_ROOT%[4]s failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "%[1]s refused the change; %[6]s: $(tr '\n' ' ' <"$pw_tmp/%[2]s.out")"
		pw_go=0
	fi
fi
`, s.fam.restore, s.file, s.fam.save, s.fam.persist, s.fam.name, nothing)
	}
	b.WriteString("pw_guard_end\n")
	return b.String()
}

// iptContent is PORTWARDEN-INPUT of one family, parsed.
type iptContent struct {
	rules []Rule
	fixed map[string]bool
	// dropLast is true when the chain ends with portwarden's DROP.
	dropLast bool
	mgmt     []netip.Prefix
	mgmtPort uint16
	drift    []string
}

// iptParseChain reads PORTWARDEN-INPUT. Rules with a reserved comment are
// the preamble and the final DROP; every other rule must be a policy rule
// as iptRuleLines writes it (and iptables-save prints it).
func iptParseChain(c *iptChainInfo, fam iptFamily) (*iptContent, error) {
	out := &iptContent{fixed: map[string]bool{}}
	type part struct {
		proto, ports, comment string
		cont                  bool
		rule                  Rule
	}
	var parts []*part
	for i, l := range c.rules {
		comment := l.comment()
		cont := false
		if rest, ok := strings.CutPrefix(comment, commentContinued); ok {
			cont, comment = true, strings.TrimSpace(rest)
		} else if strings.HasPrefix(comment, linuxReservedPrefix) {
			out.fixed[comment] = true
			switch comment {
			case commentDrop:
				out.dropLast = i == len(c.rules)-1
			case commentManagement:
				r, err := iptParsePolicyRule(l, fam.v6)
				if err != nil {
					return nil, fmt.Errorf("%s chain %s, rule %d: %w", fam.name, iptChain, i+1, err)
				}
				out.mgmt = append(out.mgmt, r.Sources...)
				if len(r.Ports) == 1 && r.Ports[0].Lo == r.Ports[0].Hi {
					out.mgmtPort = r.Ports[0].Lo
				}
			}
			continue
		}
		r, err := iptParsePolicyRule(l, fam.v6)
		if err != nil {
			return nil, fmt.Errorf("%s chain %s, rule %d: %w", fam.name, iptChain, i+1, err)
		}
		ports := PortsString(r.Ports)
		if n := len(parts); n > 0 {
			p := parts[n-1]
			if p.proto == r.Protocol && p.ports == ports && p.comment == comment && p.cont == cont {
				p.rule.Sources = append(p.rule.Sources, r.Sources...)
				continue
			}
		}
		r.Comment = comment
		parts = append(parts, &part{r.Protocol, ports, comment, cont, r})
	}
	var merged ruleMerger
	var last *Rule
	flush := func() {
		if last != nil {
			merged.add(*last)
		}
	}
	for _, p := range parts {
		if !p.cont {
			flush()
			r := p.rule
			last = &r
			continue
		}
		if last == nil || last.Protocol != p.proto {
			out.drift = append(out.drift, fmt.Sprintf("%s chain %s has a continued rule without its first part", fam.name, iptChain))
			r := p.rule
			last = &r
			continue
		}
		if !slices.Equal(last.Normalize().Sources, p.rule.Normalize().Sources) {
			out.drift = append(out.drift, fmt.Sprintf("%s chain %s: the parts of rule %s have different sources", fam.name, iptChain, last.Key()))
		}
		last.Ports = append(last.Ports, p.rule.Ports...)
	}
	flush()
	out.rules = merged.rules()
	return out, nil
}

// iptParsePolicyRule reads "-s S -p P -m multiport --dports L -m comment
// --comment C -j ACCEPT" (or -m tcp --dport N) for one source.
func iptParsePolicyRule(l iptLine, v6 bool) (Rule, error) {
	var r Rule
	accept := false
	a := l.args
	for i := 0; i < len(a); i++ {
		arg := func() (string, error) {
			if i+1 >= len(a) {
				return "", fmt.Errorf("%s without a value", a[i])
			}
			i++
			return a[i], nil
		}
		var v string
		var err error
		switch a[i] {
		case "-s", "-p", "-m", "--dports", "--dport", "--comment", "-j":
			if v, err = arg(); err != nil {
				return Rule{}, err
			}
		default:
			return Rule{}, fmt.Errorf("unexpected %q in %q", a[i], l.text)
		}
		switch a[i-1] {
		case "-s":
			p, err := netip.ParsePrefix(v)
			if err != nil {
				addr, err2 := netip.ParseAddr(v)
				if err2 != nil {
					return Rule{}, fmt.Errorf("source %q: %w", v, err)
				}
				if addr.Zone() != "" {
					return Rule{}, fmt.Errorf("source %q: %w", v, errZone)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			if p.Addr().Is6() != v6 {
				return Rule{}, fmt.Errorf("source %s of the other address family", p)
			}
			r.Sources = append(r.Sources, p)
		case "-p":
			if v != "tcp" && v != "udp" {
				return Rule{}, fmt.Errorf("unexpected protocol %q", v)
			}
			r.Protocol = v
		case "-m":
			if v != "multiport" && v != "tcp" && v != "udp" && v != "comment" {
				return Rule{}, fmt.Errorf("unexpected match %q in %q", v, l.text)
			}
		case "--dports", "--dport":
			for _, s := range strings.Split(v, ",") {
				p, err := ParsePortRange(strings.Replace(s, ":", "-", 1))
				if err != nil {
					return Rule{}, err
				}
				r.Ports = append(r.Ports, p)
			}
		case "--comment":
			r.Comment = v
		case "-j":
			if v != "ACCEPT" {
				return Rule{}, fmt.Errorf("unexpected target %q", v)
			}
			accept = true
		}
	}
	if !accept || len(r.Sources) == 0 || len(r.Ports) == 0 || r.Protocol == "" {
		return Rule{}, fmt.Errorf("not a rule portwarden writes: %q", l.text)
	}
	return r, nil
}

func iptPreambleKinds(mode Mode, v6 bool) []string {
	if mode != Enforce {
		return nil
	}
	k := []string{commentEstablished, commentInvalid, commentLoopback, commentDrop}
	if v6 {
		return append(k, commentICMPv6, commentDHCPv6)
	}
	return append(k, commentICMP)
}

// State implements Backend.
func (b *IPTables) State(f Facts) (State, error) {
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return State{}, err
	}
	fams, err := b.families(lf)
	if err != nil {
		return State{}, err
	}
	st := State{Backend: b.Name()}
	st.Warnings = append(st.Warnings, lf.managerWarnings()...)
	var merged ruleMerger
	var mgmt *Rule
	var modes []Mode
	installed := map[bool]bool{}
	for _, fam := range fams {
		cur, err := iptReadFamily(lf, fam)
		if err != nil {
			return State{}, err
		}
		if !cur.installed() {
			continue
		}
		installed[fam.v6] = true
		st.Installed = true
		switch n := len(cur.jumps); {
		case n == 0:
			st.Drift = append(st.Drift, fmt.Sprintf("%s chain INPUT has no jump to %s: the ports portwarden opens are not reached", fam.name, iptChain))
		case n > 1:
			st.Drift = append(st.Drift, fmt.Sprintf("%s chain INPUT has %d jumps to %s, want one", fam.name, n, iptChain))
		case cur.jumps[0].index != 0:
			st.Warnings = append(st.Warnings, fmt.Sprintf("the jump to %s is rule %d of the %s chain INPUT, not the first: rules above it see inbound traffic first", iptChain, cur.jumps[0].index+1, fam.name))
		}
		if cur.chain == nil {
			continue
		}
		c, err := iptParseChain(cur.chain, fam)
		if err != nil {
			return State{}, err
		}
		st.Drift = append(st.Drift, c.drift...)
		mode := Additive
		if c.fixed[commentDrop] {
			mode = Enforce
			if !c.dropLast {
				st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s: portwarden's DROP is not its last rule", fam.name, iptChain))
			}
		}
		modes = append(modes, mode)
		var missing, extra []string
		want := iptPreambleKinds(mode, fam.v6)
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
		if len(missing) > 0 {
			st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s: %s mode rules %s are missing", fam.name, iptChain, mode, strings.Join(missing, ", ")))
		}
		if len(extra) > 0 {
			st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s: rules %s do not belong in %s mode", fam.name, iptChain, strings.Join(extra, ", "), mode))
		}
		for _, r := range c.rules {
			merged.add(r)
		}
		if len(c.mgmt) > 0 {
			if mgmt == nil {
				mgmt = &Rule{Protocol: "tcp", Ports: []PortRange{{Lo: c.mgmtPort, Hi: c.mgmtPort}}}
			}
			mgmt.Sources = append(mgmt.Sources, c.mgmt...)
		}
	}
	st.Rules = merged.rules()
	if mgmt != nil {
		m := mgmt.Normalize()
		st.Management = &m
	}
	if st.Installed {
		for _, fam := range fams {
			if !installed[fam.v6] {
				st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s is missing", fam.name, iptChain))
			}
		}
		st.Mode = Enforce
		for _, m := range modes {
			if m != Enforce {
				st.Mode = Additive
			}
		}
		if len(modes) > 1 && slices.Contains(modes, Enforce) && st.Mode == Additive {
			st.Drift = append(st.Drift, "the IPv4 and IPv6 chains are in different modes")
		}
		if lf.persistRootMatches(b.Root) {
			for _, fam := range fams {
				key := "rules_v4_owned"
				if fam.v6 {
					key = "rules_v6_owned"
				}
				if lf.persist[key] != "yes" {
					st.Drift = append(st.Drift, fmt.Sprintf("the %s rules are not persisted: %s does not hold %s", fam.name, path.Join(lf.persist["root"], fam.persist), iptChain))
				}
			}
		}
		if !lf.has("netfilter-persistent") {
			st.Warnings = append(st.Warnings, "netfilter-persistent is not installed: the saved rules in /etc/iptables are not loaded at boot (apt install iptables-persistent)")
		}
	}
	w, err := b.otherDropWarnings(lf)
	if err != nil {
		return State{}, err
	}
	st.Warnings = append(st.Warnings, w...)
	return st, nil
}

// otherDropWarnings warns of input chains outside the iptables variant in
// use that drop: their drops override this backend's accepts.
func (b *IPTables) otherDropWarnings(lf *linuxFacts) ([]string, error) {
	var w []string
	legacy := b.Legacy || lf.iptablesVariant() == "legacy"
	if !legacy {
		lw, err := iptLegacyDropWarnings(lf)
		if err != nil {
			return nil, err
		}
		w = append(w, lw...)
	}
	if !lf.has("nft") {
		return w, nil
	}
	text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
	if err != nil || strings.TrimSpace(text) == "" {
		// The ruleset is only consulted for warnings here; an nft
		// without JSON support must not make the host unreadable.
		return w, nil
	}
	rs, err := parseNFTRuleset(text)
	if err != nil {
		return nil, err
	}
	h := nftAnalyze(rs)
	for _, f := range h.foreign {
		for _, c := range f.drops {
			w = append(w, fmt.Sprintf("the nftables chain %s drops inbound traffic: portwarden's iptables rules cannot open ports through it; use firewall = \"nftables\" for this host", c))
		}
	}
	if legacy {
		for _, c := range h.iptDrops {
			w = append(w, fmt.Sprintf("the iptables-nft chain %s drops inbound traffic: portwarden's iptables-legacy rules cannot open ports through it", c))
		}
	}
	if h.table != nil {
		w = append(w, "the nftables table inet portwarden is left over from the nftables backend; remove it with: nft delete table inet portwarden")
	}
	return w, nil
}

// iptLegacySaves returns the iptables-save output of the legacy tables
// by family: the default sections where the default iptables is legacy.
func iptLegacySaves(lf *linuxFacts) (map[string]string, error) {
	secs := map[string][2]string{
		"IPv4": {linuxSecIPTLegacy, "iptables-legacy-save"},
		"IPv6": {linuxSecIP6Legacy, "ip6tables-legacy-save"},
	}
	if lf.iptablesVariant() == "legacy" {
		secs = map[string][2]string{"IPv4": {linuxSecIPT, "iptables-save"}, "IPv6": {linuxSecIP6T, "ip6tables-save"}}
	}
	out := map[string]string{}
	for name, sec := range secs {
		// A legacy listing that failed (no legacy tools, a kernel without
		// ip_tables) is left out: these are only consulted for warnings
		// and detection.
		if text, err := lf.section(sec[0], sec[1]); err == nil {
			out[name] = text
		}
	}
	return out, nil
}

// iptLegacyDropWarnings warns of iptables-legacy INPUT chains that drop,
// for the backends that do not write there.
func iptLegacyDropWarnings(lf *linuxFacts) ([]string, error) {
	saves, err := iptLegacySaves(lf)
	if err != nil {
		return nil, err
	}
	var w []string
	for _, name := range []string{"IPv4", "IPv6"} {
		tables, err := parseIptablesSave(saves[name])
		if err != nil {
			return nil, fmt.Errorf("parsing iptables-legacy-save output: %w", err)
		}
		if f := tables["filter"]; f != nil && f.chains[iptInput] != nil && f.chains[iptInput].drops() {
			w = append(w, fmt.Sprintf("the %s iptables-legacy chain INPUT drops inbound traffic: rules outside iptables-legacy cannot open ports through it; use firewall = \"iptables\" for this host", name))
		}
	}
	return w, nil
}

// Confirm implements Confirmer.
func (b *IPTables) Confirm(id string) (Script, error) { return linuxConfirmer{b.Root}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *IPTables) RevertNow(id string) (Script, error) { return linuxConfirmer{b.Root}.RevertNow(id) }
