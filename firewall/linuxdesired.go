package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portwarden/portwarden/rule"
)

// Reserved comments mark the rules portwarden writes besides the policy
// rules: the enforce-mode preamble and the final drop. A policy rule's
// comment never starts with linuxReservedPrefix (CleanComment sees to it),
// so a rule carrying one is recognized without parsing its matches.
const (
	linuxReservedPrefix = rule.Tag + ":"
	commentEstablished  = rule.Tag + ":established"
	commentInvalid      = rule.Tag + ":invalid"
	commentLoopback     = rule.Tag + ":loopback"
	commentICMP         = rule.Tag + ":icmp"
	commentICMPv6       = rule.Tag + ":icmpv6"
	commentDHCPv6       = rule.Tag + ":dhcpv6"
	commentManagement   = rule.Tag + ":management"
	commentDrop         = rule.Tag + ":drop"
	// commentContinued starts the comment of an iptables rule that carries
	// more ports of the rule before it (multiport takes 15 ports at most).
	commentContinued = rule.Tag + ":cont"
)

// linuxPreambleDrift says what is wrong with the reserved rules found in
// one of portwarden's chains (fixed, by comment) for mode, whose preamble
// is want: the rules that are missing, then those that do not belong.
// The management rule is checked apart: a chain of one family has none
// when the controller has no address of that family.
func linuxPreambleDrift(fixed map[string]bool, want []string, mode rule.Mode) []string {
	var missing, extra []string
	for _, k := range want {
		if !fixed[k] {
			missing = append(missing, k)
		}
	}
	for k := range fixed {
		if !slices.Contains(want, k) && !(k == commentManagement && mode == rule.Enforce) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	var d []string
	if len(missing) > 0 {
		d = append(d, fmt.Sprintf("%s mode rules %s are missing", mode, strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		d = append(d, fmt.Sprintf("rules %s do not belong in %s mode", strings.Join(extra, ", "), mode))
	}
	return d
}

// linuxMaxComment bounds a stored comment in bytes: nftables keeps at most
// 128 bytes of comment, iptables 256, and iptables also needs room for
// commentContinued.
const linuxMaxComment = 100

// CleanComment returns a rule comment the way the Linux backends store it,
// and so the way State reads it back: printable characters only, double
// quotes and backslashes turned into single quotes, runs of white space
// turned into one space, at most 100 bytes, and never starting with
// "portwarden:", which marks the rules portwarden writes for itself.
func CleanComment(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '`':
			r = '\''
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r) || r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if rest, ok := strings.CutPrefix(out, linuxReservedPrefix); ok {
		out = rule.Tag + " " + rest
	}
	for len(out) > linuxMaxComment {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	return strings.TrimSpace(out)
}

// linuxDesired is a validated, normalized Desired.
type linuxDesired struct {
	Desired
	// remove is true when the desired state is nothing at all: additive
	// (or no mode) and no rules. Apply then removes everything portwarden
	// owns instead of installing an empty table or chain.
	remove bool
}

// prepareLinuxDesired validates d for the Linux backends: every value that
// reaches a ruleset must be well formed, because the rulesets are built
// from these values by string concatenation.
func prepareLinuxDesired(d Desired) (linuxDesired, error) {
	out := linuxDesired{Desired: d}
	switch d.Mode {
	case "":
		if len(d.Rules) > 0 {
			return out, fmt.Errorf("desired state has rules but no mode")
		}
		out.Mode = rule.Additive
	case rule.Additive, rule.Enforce:
	default:
		return out, fmt.Errorf("unknown mode %q", d.Mode)
	}
	out.remove = out.Mode == rule.Additive && len(d.Rules) == 0
	if out.Mode == rule.Enforce {
		if d.ManagementPort == 0 {
			return out, fmt.Errorf("enforce mode needs the management port: without it the controller would lock itself out")
		}
		if len(d.ManagementSources) == 0 {
			return out, fmt.Errorf("enforce mode needs the controller's addresses (management sources): without them the controller would lock itself out")
		}
	}
	mgmt := (rule.Rule{Sources: d.ManagementSources}).Normalize().Sources
	if err := linuxCheckSources(mgmt); err != nil {
		return out, fmt.Errorf("management sources: %w", err)
	}
	out.ManagementSources = mgmt
	seen := map[string]bool{}
	out.Rules = make([]rule.Rule, 0, len(d.Rules))
	for _, r := range d.Rules {
		r = r.Normalize()
		r.Comment = CleanComment(r.Comment)
		if r.Protocol != "tcp" && r.Protocol != "udp" {
			return out, fmt.Errorf("rule %s: protocol %q: want tcp or udp", r.Key(), r.Protocol)
		}
		if len(r.Ports) == 0 {
			return out, fmt.Errorf("rule %s: no ports", r.Key())
		}
		for _, p := range r.Ports {
			if p.Lo == 0 || p.Hi < p.Lo {
				return out, fmt.Errorf("rule %s: bad port range %d-%d", r.Key(), p.Lo, p.Hi)
			}
		}
		if len(r.Sources) == 0 {
			return out, fmt.Errorf("rule %s: no sources: portwarden never opens a port to any address", r.Key())
		}
		if err := linuxCheckSources(r.Sources); err != nil {
			return out, fmt.Errorf("rule %s: %w", r.Key(), err)
		}
		if seen[r.Key()] {
			return out, fmt.Errorf("rule %s appears twice", r.Key())
		}
		seen[r.Key()] = true
		out.Rules = append(out.Rules, r)
	}
	sortRules(out.Rules)
	return out, nil
}

// prepareLinuxApply is how the nftables and iptables Apply begin: d
// validated, the persist root checked (as linuxRoot returns it), and the
// facts from before the apply parsed.
func prepareLinuxApply(f Facts, d Desired, persistRoot string) (linuxDesired, string, *linuxFacts, error) {
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		return linuxDesired{}, "", nil, err
	}
	root, err := linuxRoot(persistRoot)
	if err != nil {
		return linuxDesired{}, "", nil, err
	}
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return linuxDesired{}, "", nil, err
	}
	return dd, root, lf, nil
}

func linuxCheckSources(src []netip.Prefix) error {
	for _, p := range src {
		if !p.IsValid() {
			return fmt.Errorf("invalid source prefix")
		}
		if p.Addr().Is4In6() {
			return fmt.Errorf("source %s is an IPv4-mapped IPv6 address: write it as IPv4", p)
		}
		if p.Addr().Zone() != "" {
			return fmt.Errorf("source %s has a zone", p)
		}
	}
	return nil
}

// sortRules orders rules by protocol, then numerically by ports, the
// order the orchestrator computes them in.
func sortRules(rs []rule.Rule) {
	slices.SortFunc(rs, func(a, b rule.Rule) int {
		if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		for i := range min(len(a.Ports), len(b.Ports)) {
			if c := cmp.Or(cmp.Compare(a.Ports[i].Lo, b.Ports[i].Lo), cmp.Compare(a.Ports[i].Hi, b.Ports[i].Hi)); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a.Ports), len(b.Ports))
	})
}

// ruleMerger collects rules read back from a host, possibly split into
// several host rules each, and merges them by Key.
type ruleMerger struct {
	byKey map[string]*rule.Rule
}

func (m *ruleMerger) add(r rule.Rule) {
	if m.byKey == nil {
		m.byKey = map[string]*rule.Rule{}
	}
	k := r.Key()
	if have, ok := m.byKey[k]; ok {
		have.Sources = append(have.Sources, r.Sources...)
		if have.Comment == "" {
			have.Comment = r.Comment
		}
		return
	}
	r.Sources = append([]netip.Prefix(nil), r.Sources...)
	m.byKey[k] = &r
}

func (m *ruleMerger) rules() []rule.Rule {
	out := make([]rule.Rule, 0, len(m.byKey))
	for _, r := range m.byKey {
		out = append(out, r.Normalize())
	}
	sortRules(out)
	if len(out) == 0 {
		return nil
	}
	return out
}
