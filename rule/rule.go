// Package rule is portwarden's shared vocabulary: the inbound rule, port
// ranges, the mode and the desired state of one host. It is a leaf: it
// imports no portwarden package, so policies, inventory, firewall and
// orchestrator can all speak it without depending on each other.
package rule

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go4.org/netipx"
)

// Tag marks every object portwarden owns on a host: the nftables table and
// chains, the iptables chains and jump rules, the Windows rule group. Only
// objects carrying it are ever read, diffed or removed.
const Tag = "portwarden"

// Mode says how much of a host's inbound policy portwarden owns.
type Mode string

const (
	// Additive opens what the policy needs and leaves every other rule and
	// the host's default policy alone.
	Additive Mode = "additive"
	// Enforce makes portwarden own the inbound policy: default drop, except
	// established traffic, loopback, the management port from the
	// controller, and the computed rules.
	Enforce Mode = "enforce"
)

// ParseMode validates a mode name from the inventory.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Additive, Enforce:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q: want %q or %q", s, Additive, Enforce)
}

// PortRange is an inclusive range of ports; a single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// ParsePortRange parses "443" or "2500-3300".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	l, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("port %q: %w", s, err)
	}
	if !isRange {
		return PortRange{l, l}, nil
	}
	h, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	if h < l {
		return PortRange{}, fmt.Errorf("port range %q: end is below start", s)
	}
	return PortRange{l, h}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("not a port number 1-65535")
	}
	return uint16(n), nil
}

// NormalizePorts sorts ranges and merges overlapping or adjacent ones.
func NormalizePorts(in []PortRange) []PortRange {
	if len(in) == 0 {
		return nil
	}
	ps := slices.Clone(in)
	slices.SortFunc(ps, func(a, b PortRange) int { return int(a.Lo) - int(b.Lo) })
	out := ps[:1]
	for _, p := range ps[1:] {
		last := &out[len(out)-1]
		if int(p.Lo) <= int(last.Hi)+1 {
			last.Hi = max(last.Hi, p.Hi)
			continue
		}
		out = append(out, p)
	}
	return out
}

// PortStrings renders each port range as "22" or "2500-3300", the way
// the JSON views carry them.
func PortStrings(ps []PortRange) []string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return s
}

// PortsString renders ports as "22,2500-3300".
func PortsString(ps []PortRange) string {
	return strings.Join(PortStrings(ps), ",")
}

// Rule is one inbound allow rule: traffic of Protocol to any of Ports from
// any of Sources is accepted. Sources are never empty: portwarden does not
// open a port to "any".
type Rule struct {
	Protocol string // "tcp" or "udp"
	Ports    []PortRange
	Sources  []netip.Prefix // single addresses are /32 or /128
	// Comment is a short human reason, written into the host's rule where
	// the backend can carry one. It is not part of the rule's identity.
	Comment string
}

// Key identifies a rule for diffing: protocol and ports. Two rules with the
// same key but different sources are one rule that changed.
func (r Rule) Key() string {
	return r.Spec()
}

// Spec renders the rule's protocol and ports as "tcp/22,2500-3300".
func (r Rule) Spec() string {
	return Spec([]string{r.Protocol}, r.Ports)
}

// Spec renders protocols and ports as "tcp+udp/53": the one spelling of a
// rule's what-to-open in plans, rules views, reports and reasons.
func Spec(protos []string, ports []PortRange) string {
	return SpecStrings(protos, PortStrings(ports))
}

// SpecStrings is Spec for ports already rendered by PortStrings, as the
// JSON views (a saved plan, a report) carry them.
func SpecStrings(protos, ports []string) string {
	return strings.Join(protos, "+") + "/" + strings.Join(ports, ",")
}

// Normalize returns the rule with ports merged and sources aggregated into
// the fewest prefixes that cover exactly the same addresses (adjacent
// addresses become one prefix, a prefix inside another disappears), sorted,
// so that rules read back from a host compare equal to computed ones and a
// rule carries a set, not every peer one by one.
func (r Rule) Normalize() Rule {
	r.Protocol = strings.ToLower(r.Protocol)
	r.Ports = NormalizePorts(r.Ports)
	r.Sources = AggregatePrefixes(r.Sources)
	return r
}

// AggregatePrefixes returns the fewest prefixes that cover exactly the
// addresses of in, sorted by ComparePrefix; nil for none. IPv4 and IPv6
// stay apart (an IPv4-mapped IPv6 address counts as IPv6, as the kernel
// sees it).
func AggregatePrefixes(in []netip.Prefix) []netip.Prefix {
	if len(in) == 0 {
		return nil
	}
	if len(in) == 1 {
		return []netip.Prefix{in[0].Masked()}
	}
	var b netipx.IPSetBuilder
	for _, p := range in {
		b.AddPrefix(p.Masked())
	}
	set, err := b.IPSet()
	if err != nil { // only invalid prefixes, which callers never pass
		panic(fmt.Sprintf("aggregating prefixes: %v", err))
	}
	out := set.Prefixes()
	slices.SortFunc(out, ComparePrefix)
	return out
}

// ComparePrefix orders prefixes by address, then length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// SplitFamilies returns the IPv4 and IPv6 sources of a rule.
func SplitFamilies(src []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range src {
		if p.Addr().Is4() || p.Addr().Is4In6() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// PrefixString renders a single address without "/32" or "/128".
func PrefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// PrefixStrings renders each prefix with PrefixString.
func PrefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = PrefixString(p)
	}
	return out
}

// JoinPrefixes renders prefixes as "192.0.2.1, 198.18.0.0/24" (empty for
// none): the one spelling of a source list for people.
func JoinPrefixes(ps []netip.Prefix) string {
	return JoinPrefixStrings(PrefixStrings(ps))
}

// JoinPrefixStrings is JoinPrefixes for prefixes already rendered by
// PrefixString, as the JSON views carry them.
func JoinPrefixStrings(ps []string) string {
	return strings.Join(ps, ", ")
}

// RemoveAddr returns ps, an aggregated, sorted prefix list (as
// AggregatePrefixes returns it), without the address a: the prefix that
// holds a is split into the fewest prefixes that cover the rest of it, so
// the result is still the fewest prefixes, sorted. It costs one pass over
// ps (no re-aggregation); ps itself is not modified. ps is returned as is
// when no prefix holds a.
func RemoveAddr(ps []netip.Prefix, a netip.Addr) []netip.Prefix {
	i := slices.IndexFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
	if i < 0 {
		return ps
	}
	p := ps[i]
	// The rest of p is, at each length below a's own, the sibling half
	// that does not hold a.
	var rest []netip.Prefix
	for bits := p.Bits() + 1; bits <= a.BitLen(); bits++ {
		half, _ := a.Prefix(bits)
		rest = append(rest, sibling(half))
	}
	slices.SortFunc(rest, ComparePrefix)
	out := make([]netip.Prefix, 0, len(ps)-1+len(rest))
	out = append(out, ps[:i]...)
	out = append(out, rest...)
	return append(out, ps[i+1:]...)
}

// sibling is the other half of the prefix one bit shorter than p.
func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr.WithZone(p.Addr().Zone()), p.Bits())
}
