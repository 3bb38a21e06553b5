package winfw

// Enforcement: the simulated firewall's inbound policy for the active
// profile, as an nftables table "inet winfw" in the host's network
// namespace. Outbound rules are not enforced (Windows allows outbound
// traffic by default and portwarden writes no outbound rules).

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Ruleset renders the nftables table that enforces st: unsolicited
// inbound traffic is dropped when the active profile is enabled and its
// DefaultInboundAction is Block or NotConfigured, except established
// connections, loopback and what an enabled inbound allow rule of the
// profile matches. Block rules win over allow rules, as on Windows. Local
// (PersistentStore) rules count only while AllowLocalFirewallRules is not
// False. Conditions the lab cannot evaluate (address keywords such as
// LocalSubnet, port keywords such as RPC) make a rule match nothing.
func Ruleset(st *State) string {
	var b strings.Builder
	p := st.profile(st.ActiveProfile)
	enabled := effective(p.Enabled, p.GroupPolicy.Enabled) != "False"
	inbound := effective(p.DefaultInboundAction, p.GroupPolicy.DefaultInboundAction)
	allowLocal := effective(p.AllowLocalFirewallRules, p.GroupPolicy.AllowLocalFirewallRules) != "False"
	// AllowInboundRules False ("Block all incoming connections") makes
	// Windows ignore every inbound allow rule, local or from a GPO.
	allowInbound := effective(p.AllowInboundRules, p.GroupPolicy.AllowInboundRules) != "False"
	policy := "drop"
	if !enabled || inbound == "Allow" {
		policy = "accept"
	}
	b.WriteString("table inet winfw\ndelete table inet winfw\ntable inet winfw {\n\tchain input {\n")
	fmt.Fprintf(&b, "\t\ttype filter hook input priority filter; policy %s;\n", policy)
	fmt.Fprintf(&b, "\t\t# simulated Windows Defender Firewall, active profile %s (enabled %t, inbound %s, inbound rules %t, local rules %t)\n",
		p.Name, enabled, inbound, allowInbound, allowLocal)
	if !enabled {
		b.WriteString("\t}\n}\n")
		return b.String()
	}
	if policy == "drop" {
		b.WriteString("\t\tct state established,related accept\n\t\tiif \"lo\" accept\n")
	}
	for _, action := range []string{"Block", "Allow"} {
		if action == "Allow" && (policy == "accept" || !allowInbound) {
			break
		}
		verdict := "accept"
		if action == "Block" {
			verdict = "drop"
		}
		for i := range st.Rules {
			r := &st.Rules[i]
			if r.Enabled != "True" || r.Direction != "Inbound" || r.Action != action || !profileApplies(r.Profile, p.Name) {
				continue
			}
			if r.Store == "PersistentStore" && !allowLocal {
				continue
			}
			for _, line := range nftMatches(r) {
				fmt.Fprintf(&b, "\t\t%s %s%s\n", line, verdict, nftComment(r.Name))
			}
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

func nftComment(name string) string {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._:-{}", c)) {
			return ""
		}
	}
	if len(name) > 120 {
		return ""
	}
	return ` comment "` + name + `"`
}

// nftMatches turns a rule's conditions into nft match expressions, one
// per address family; none if the rule cannot match anything here.
func nftMatches(r *Rule) []string {
	var proto, dport string
	switch r.Protocol {
	case "TCP", "UDP":
		l4 := strings.ToLower(r.Protocol)
		ports, ok := nftPorts(r.LocalPort)
		if !ok {
			return nil
		}
		if ports == "" {
			proto = "meta l4proto " + l4
		} else {
			dport = l4 + " dport " + ports
		}
	case "ICMPv4":
		proto = "meta l4proto icmp"
	case "ICMPv6":
		proto = "meta l4proto ipv6-icmp"
	case "Any":
	default:
		proto = "meta l4proto " + r.Protocol
	}
	v4, v6, any, ok := nftAddresses(r.RemoteAddress)
	if !ok {
		return nil
	}
	join := func(parts ...string) string {
		var keep []string
		for _, p := range parts {
			if p != "" {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			return "meta nfproto { ipv4, ipv6 }"
		}
		return strings.Join(keep, " ")
	}
	if any {
		return []string{join(proto, dport)}
	}
	var out []string
	if len(v4) > 0 {
		out = append(out, join("ip saddr "+nftSet(v4), proto, dport))
	}
	if len(v6) > 0 {
		out = append(out, join("ip6 saddr "+nftSet(v6), proto, dport))
	}
	return out
}

func nftSet(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

// nftPorts merges port ranges into a non-overlapping set; "" means any
// port, !ok a keyword the lab cannot evaluate.
func nftPorts(ports []string) (string, bool) {
	type rng struct{ lo, hi int }
	var rs []rng
	for _, p := range ports {
		if p == "Any" {
			return "", true
		}
		lo, hi, isRange := strings.Cut(p, "-")
		l, err := strconv.Atoi(lo)
		if err != nil {
			return "", false
		}
		h := l
		if isRange {
			if h, err = strconv.Atoi(hi); err != nil {
				return "", false
			}
		}
		rs = append(rs, rng{l, h})
	}
	slices.SortFunc(rs, func(a, b rng) int { return a.lo - b.lo })
	var merged []rng
	for _, r := range rs {
		if n := len(merged); n > 0 && r.lo <= merged[n-1].hi+1 {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	var out []string
	for _, r := range merged {
		if r.lo == r.hi {
			out = append(out, strconv.Itoa(r.lo))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", r.lo, r.hi))
		}
	}
	return nftSet(out), true
}

// nftAddresses turns RemoteAddress entries into non-overlapping prefix
// lists per family.
func nftAddresses(addrs []string) (v4, v6 []string, any, ok bool) {
	var prefixes []netip.Prefix
	for _, a := range addrs {
		if a == "Any" {
			return nil, nil, true, true
		}
		ps, good := addressPrefixes(a)
		if !good {
			return nil, nil, false, false
		}
		prefixes = append(prefixes, ps...)
	}
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int {
		if c := a.Bits() - b.Bits(); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	var kept []netip.Prefix
	for _, p := range prefixes {
		covered := false
		for _, k := range kept {
			if k.Addr().Is4() == p.Addr().Is4() && k.Bits() <= p.Bits() && k.Contains(p.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, p)
		}
	}
	slices.SortFunc(kept, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, p := range kept {
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		if p.Addr().Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	return v4, v6, false, true
}

// addressPrefixes reads one stored RemoteAddress entry; keywords are not
// ok.
func addressPrefixes(s string) ([]netip.Prefix, bool) {
	if lo, hi, isRange := strings.Cut(s, "-"); isRange {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		return rangeToPrefixes(a, b), true
	}
	if addr, mask, isPrefix := strings.Cut(s, "/"); isPrefix {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, false
		}
		bits, err := strconv.Atoi(mask)
		if err != nil {
			m, err := netip.ParseAddr(mask)
			if err != nil {
				return nil, false
			}
			bits = maskLen(m)
		}
		p, err := a.Prefix(bits)
		return []netip.Prefix{p}, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, false
	}
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, true
}

func rangeToPrefixes(lo, hi netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for !hi.Less(lo) {
		bits := lo.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1).Masked()
			if p.Addr() != lo || hi.Less(prefixLast(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		last := prefixLast(p)
		if !last.Less(hi) || !last.Next().IsValid() {
			break
		}
		lo = last.Next()
	}
	return out
}

func prefixLast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for i := off + p.Bits(); i < 128; i++ {
		a[i/8] |= 1 << (7 - uint(i%8))
	}
	out := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		out = out.Unmap()
	}
	return out
}

// enforce loads the ruleset into the namespace when it changed.
func (f *Firewall) enforce(st *State) error {
	if f.opts.Namespace == "" {
		return nil
	}
	rs := Ruleset(st)
	if rs == f.enforced {
		return nil
	}
	cmd := exec.Command("ip", "netns", "exec", f.opts.Namespace, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rs)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("winfw: enforcing the simulated firewall with nft in namespace %s: %v: %s", f.opts.Namespace, err, strings.TrimSpace(out.String()))
	}
	f.enforced = rs
	if f.opts.Logf != nil {
		f.opts.Logf("winfw: enforced the %s profile in namespace %s", st.ActiveProfile, f.opts.Namespace)
	}
	return nil
}
