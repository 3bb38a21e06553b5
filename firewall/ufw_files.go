package firewall

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// ufw's rules files, parsed and rendered the way ufw itself writes them
// (ufw/backend_iptables.py, _write_rules and _read_rules; ufw/common.py,
// UFWRule.format_rule).
//
// A file ufw wrote has a header that declares its chains, then
//
//	### RULES ###
//
//	### tuple ### allow tcp 22 0.0.0.0/0 any 198.18.0.5 in comment=HEX
//	-A ufw-user-input -p tcp --dport 22 -s 198.18.0.5 -j ACCEPT
//
//	### END RULES ###
//
// and then its logging and rate-limiting rules and COMMIT. ufw rebuilds
// its rule list from the tuple lines alone (the iptables lines under each
// are regenerated from the tuple whenever ufw writes the file), and loads
// the whole file with iptables-restore -n on reload. Apply therefore keeps
// the header, the tail and every block of the host's verbatim and only
// replaces the blocks whose comment starts with "portwarden:".

const (
	ufwRulesBegin = "### RULES ###"
	ufwRulesEnd   = "### END RULES ###"
	ufwTupleMark  = "### tuple ###"
	// ufwOwnedPrefix starts the (decoded) comment of every tuple portwarden
	// writes: "portwarden:<rule key>[ <reason>]", or "portwarden:management".
	ufwOwnedPrefix = rule.Tag + ":"
	ufwMgmtComment = rule.Tag + ":management"
	// ufwOwnedHex is ufwOwnedPrefix as the hex of a tuple's comment.
	ufwOwnedHex = "706f727477617264656e3a"
)

// ufwFile is one of ufw's rules files (user.rules, user6.rules).
type ufwFile struct {
	head   string // up to and including the "### RULES ###" line
	blocks []ufwBlock
	tail   string // from the "### END RULES ###" line on
}

// ufwBlock is one tuple line and the iptables lines ufw wrote under it.
type ufwBlock struct {
	tuple ufwTuple
	lines []string // the iptables lines, as in the file
}

// ufwTuple is a "### tuple ###" line: ufw's own record of a rule.
type ufwTuple struct {
	// fields are the tuple's fields: action, protocol, dport, dst, sport,
	// src[, dapp, sapp], direction.
	fields  []string
	comment string // decoded
	rawHex  string // as in the file, for writing the host's tuples back
}

func (t ufwTuple) owned() bool { return strings.HasPrefix(t.comment, ufwOwnedPrefix) }

// parseUFWFile parses a rules file ufw wrote. A file without the RULES
// markers (the package's template, before ufw was ever enabled) is an
// error: ufw has not taken the host's rules over yet.
func parseUFWFile(name, text string) (*ufwFile, error) {
	begin := strings.Index(text, "\n"+ufwRulesBegin+"\n")
	end := strings.Index(text, "\n"+ufwRulesEnd+"\n")
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("%s has no %q and %q lines: ufw has not written it yet (enable ufw first: ufw enable)", name, ufwRulesBegin, ufwRulesEnd)
	}
	f := &ufwFile{head: text[:begin+len(ufwRulesBegin)+2], tail: text[end+1:]}
	for i, line := range strings.Split(text[begin+len(ufwRulesBegin)+2:end], "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, ufwTupleMark):
			t, err := parseUFWTuple(line)
			if err != nil {
				return nil, fmt.Errorf("%s, rule line %d: %w", name, i+1, err)
			}
			f.blocks = append(f.blocks, ufwBlock{tuple: t})
		case len(f.blocks) == 0:
			return nil, fmt.Errorf("%s, rule line %d: %q before the first tuple", name, i+1, line)
		default:
			b := &f.blocks[len(f.blocks)-1]
			b.lines = append(b.lines, line)
		}
	}
	return f, nil
}

func parseUFWTuple(line string) (ufwTuple, error) {
	var t ufwTuple
	rest := strings.TrimSpace(strings.TrimPrefix(line, ufwTupleMark))
	if body, c, ok := strings.Cut(rest, " comment="); ok {
		rest, t.rawHex = body, strings.TrimSpace(c)
		b, err := hex.DecodeString(t.rawHex)
		if err != nil {
			return t, fmt.Errorf("tuple comment %q is not hex: %w", t.rawHex, err)
		}
		t.comment = string(b)
	}
	t.fields = strings.Fields(rest)
	if n := len(t.fields); n < 6 || n > 9 {
		return t, fmt.Errorf("malformed tuple %q (ufw skips it too)", line)
	}
	return t, nil
}

func (t ufwTuple) String() string {
	s := ufwTupleMark + " " + strings.Join(t.fields, " ")
	if t.rawHex != "" {
		s += " comment=" + t.rawHex
	}
	return s
}

// render writes the file back, with the owned blocks first: ufw evaluates
// its rules in file order, so portwarden's accepts come before the host's
// own deny, reject and limit rules.
func (f *ufwFile) render(owned []ufwBlock) string {
	var b strings.Builder
	b.WriteString(f.head)
	for _, bl := range slices.Concat(owned, f.hostBlocks()) {
		b.WriteString("\n" + bl.tuple.String() + "\n")
		for _, l := range bl.lines {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("\n" + f.tail)
	return b.String()
}

func (f *ufwFile) hostBlocks() []ufwBlock {
	var out []ufwBlock
	for _, b := range f.blocks {
		if !b.tuple.owned() {
			out = append(out, b)
		}
	}
	return out
}

func (f *ufwFile) ownedBlocks() []ufwBlock {
	var out []ufwBlock
	for _, b := range f.blocks {
		if b.tuple.owned() {
			out = append(out, b)
		}
	}
	return out
}

// ufwChain is the user input chain of a family.
func ufwChain(v6 bool) string {
	if v6 {
		return "ufw6-user-input"
	}
	return "ufw-user-input"
}

// ufwAllowBlock renders "ufw allow from SRC to any port PORTS proto P
// comment C" exactly as ufw writes it.
func ufwAllowBlock(proto string, ports []rule.PortRange, src netip.Prefix, comment string) ufwBlock {
	v6 := src.Addr().Is6()
	dst := "0.0.0.0/0"
	if v6 {
		dst = "::/0"
	}
	dport := iptPorts(ports)
	s := rule.PrefixString(src)
	t := ufwTuple{
		fields:  []string{"allow", proto, dport, dst, "any", s, "in"},
		comment: comment,
		rawHex:  hex.EncodeToString([]byte(comment)),
	}
	match := "--dport " + dport
	if len(ports) > 1 || ports[0].Lo != ports[0].Hi {
		match = "-m multiport --dports " + dport
	}
	return ufwBlock{tuple: t, lines: []string{"-A " + ufwChain(v6) + " -p " + proto + " " + match + " -s " + s + " -j ACCEPT"}}
}

// ufwRuleComment is the tuple comment of a policy rule.
func ufwRuleComment(r rule.Rule) string {
	c := ufwOwnedPrefix + r.Key()
	if r.Comment != "" {
		c += " " + r.Comment
	}
	return c
}

// ufwOwnedBlocks renders portwarden's blocks of one family: the
// management rule in enforce mode, then every rule, one tuple per source
// and per 15 ports (ufw, like iptables' multiport, takes at most 15).
func ufwOwnedBlocks(d linuxDesired, v6 bool) []ufwBlock {
	pick := func(src []netip.Prefix) []netip.Prefix {
		s4, s6 := rule.SplitFamilies(src)
		if v6 {
			return s6
		}
		return s4
	}
	var out []ufwBlock
	if d.Mode == rule.Enforce {
		for _, s := range pick(d.ManagementSources) {
			out = append(out, ufwAllowBlock("tcp", []rule.PortRange{{Lo: d.ManagementPort, Hi: d.ManagementPort}}, s, ufwMgmtComment))
		}
	}
	for _, r := range d.Rules {
		for _, chunk := range iptPortChunks(r.Ports) {
			for _, s := range pick(r.Sources) {
				out = append(out, ufwAllowBlock(r.Protocol, chunk, s, ufwRuleComment(r)))
			}
		}
	}
	return out
}

// ufwOwnedRead is what portwarden's tuples of one family say.
type ufwOwnedRead struct {
	rules []rule.Rule
	mgmt  *rule.Rule
}

// readOwned turns portwarden's tuples back into rules, grouped by the key
// in their comment.
func readUFWOwned(blocks []ufwBlock) (ufwOwnedRead, error) {
	var out ufwOwnedRead
	byKey := map[string]*rule.Rule{}
	var keys []string
	for _, b := range blocks {
		f := b.tuple.fields
		if len(f) != 7 || f[0] != "allow" || f[4] != "any" || f[6] != "in" || (f[1] != "tcp" && f[1] != "udp") {
			return out, fmt.Errorf("portwarden's ufw rule %q is not one portwarden writes", b.tuple)
		}
		src, err := ufwParseAddr(f[5])
		if err != nil {
			return out, fmt.Errorf("portwarden's ufw rule %q: %w", b.tuple, err)
		}
		var ports []rule.PortRange
		for _, p := range strings.Split(f[2], ",") {
			pr, err := rule.ParsePortRange(strings.Replace(p, ":", "-", 1))
			if err != nil {
				return out, fmt.Errorf("portwarden's ufw rule %q: %w", b.tuple, err)
			}
			ports = append(ports, pr)
		}
		r := rule.Rule{Protocol: f[1], Ports: ports, Sources: []netip.Prefix{src}}
		if b.tuple.comment == ufwMgmtComment {
			if out.mgmt == nil {
				out.mgmt = &rule.Rule{Protocol: r.Protocol, Ports: r.Ports}
			}
			out.mgmt.Sources = append(out.mgmt.Sources, src)
			continue
		}
		key, reason, _ := strings.Cut(strings.TrimPrefix(b.tuple.comment, ufwOwnedPrefix), " ")
		r.Comment = reason
		// A rule split into parts of 15 ports carries the whole rule's key
		// in every part: read the parts back under it.
		have, ok := byKey[key]
		if !ok {
			byKey[key] = &r
			keys = append(keys, key)
			continue
		}
		have.Ports = append(have.Ports, r.Ports...)
		have.Sources = append(have.Sources, r.Sources...)
	}
	for _, k := range keys {
		// A part deleted by hand shows as a rule of other ports: Drift
		// compares the blocks with what these rules render to.
		out.rules = append(out.rules, byKey[k].Normalize())
	}
	sortRules(out.rules)
	if out.mgmt != nil {
		m := out.mgmt.Normalize()
		out.mgmt = &m
	}
	return out, nil
}

func ufwParseAddr(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %q: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ufwDefaults are the settings of /etc/default/ufw portwarden reads.
type ufwDefaults struct {
	ipv6         bool
	inputPolicy  string // DROP, ACCEPT or REJECT
	hasInputLine bool
}

func parseUFWDefaults(text string) ufwDefaults {
	d := ufwDefaults{inputPolicy: "DROP"}
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "IPV6":
			d.ipv6 = strings.EqualFold(v, "yes")
		case "DEFAULT_INPUT_POLICY":
			d.inputPolicy, d.hasInputLine = strings.ToUpper(v), true
		}
	}
	return d
}

// setUFWDefault sets KEY="VALUE" in /etc/default/ufw as ufw's own
// set_default does: the line starting with KEY= is replaced, or one is
// added at the end.
func setUFWDefault(text, key, value string) string {
	line := key + `="` + value + `"`
	var b strings.Builder
	found := false
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, key+"=") {
			b.WriteString(line + "\n")
			found = true
			continue
		}
		b.WriteString(l)
	}
	if !found {
		if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteString("\n")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// ufwRecord is /etc/ufw/portwarden.conf: what portwarden changed in
// ufw's configuration besides its rules, so that leaving enforce mode
// puts it back.
type ufwRecord struct {
	mode rule.Mode
	// previousInput is DEFAULT_INPUT_POLICY before enforce mode set it.
	previousInput string
}

const ufwRecordPath = "/etc/ufw/portwarden.conf"

func (r ufwRecord) render() string {
	return "# Written by portwarden: ufw settings it changed, restored when it leaves enforce mode.\n" +
		"mode=" + string(r.mode) + "\nprevious_default_input_policy=" + r.previousInput + "\n"
}

func parseUFWRecord(text string) (ufwRecord, error) {
	var r ufwRecord
	if strings.TrimSpace(text) == "" {
		return r, nil
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return r, fmt.Errorf("%s: unexpected line %q", ufwRecordPath, line)
		}
		switch k {
		case "mode":
			m, err := rule.ParseMode(v)
			if err != nil {
				return r, fmt.Errorf("%s: %w", ufwRecordPath, err)
			}
			r.mode = m
		case "previous_default_input_policy":
			if !ufwValidPolicy(v) {
				return r, fmt.Errorf("%s: unknown policy %q", ufwRecordPath, v)
			}
			r.previousInput = v
		}
	}
	return r, nil
}

func ufwValidPolicy(p string) bool { return p == "DROP" || p == "ACCEPT" || p == "REJECT" }

// ufwKernelLine is the form iptables-save prints of an owned block's
// iptables line, for comparing with the kernel's chain.
func ufwKernelSig(r rule.Rule) string {
	return r.Protocol + " " + rule.PortsString(r.Ports) + " " + r.Sources[0].Masked().String()
}

// ufwBlockSig is ufwKernelSig of a block portwarden writes.
func ufwBlockSig(b ufwBlock) string {
	f := b.tuple.fields
	src, _ := ufwParseAddr(f[5])
	var ports []rule.PortRange
	for _, p := range strings.Split(f[2], ",") {
		pr, _ := rule.ParsePortRange(strings.Replace(p, ":", "-", 1))
		ports = append(ports, pr)
	}
	return ufwKernelSig(rule.Rule{Protocol: f[1], Ports: ports, Sources: []netip.Prefix{src}})
}
