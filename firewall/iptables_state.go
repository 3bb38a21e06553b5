package firewall

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// iptContent is PORTWARDEN-INPUT of one family, parsed.
type iptContent struct {
	rules []rule.Rule
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
		rule                  rule.Rule
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
		ports := rule.PortsString(r.Ports)
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
	var last *rule.Rule
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
func iptParsePolicyRule(l iptLine, v6 bool) (rule.Rule, error) {
	var r rule.Rule
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
				return rule.Rule{}, err
			}
		default:
			return rule.Rule{}, fmt.Errorf("unexpected %q in %q", a[i], l.text)
		}
		switch a[i-1] {
		case "-s":
			p, err := netip.ParsePrefix(v)
			if err != nil {
				addr, err2 := netip.ParseAddr(v)
				if err2 != nil {
					return rule.Rule{}, fmt.Errorf("source %q: %w", v, err)
				}
				if addr.Zone() != "" {
					return rule.Rule{}, fmt.Errorf("source %q: %w", v, errZone)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			if p.Addr().Is6() != v6 {
				return rule.Rule{}, fmt.Errorf("source %s of the other address family", p)
			}
			r.Sources = append(r.Sources, p)
		case "-p":
			if v != "tcp" && v != "udp" {
				return rule.Rule{}, fmt.Errorf("unexpected protocol %q", v)
			}
			r.Protocol = v
		case "-m":
			if v != "multiport" && v != "tcp" && v != "udp" && v != "comment" {
				return rule.Rule{}, fmt.Errorf("unexpected match %q in %q", v, l.text)
			}
		case "--dports", "--dport":
			for _, s := range strings.Split(v, ",") {
				p, err := rule.ParsePortRange(strings.Replace(s, ":", "-", 1))
				if err != nil {
					return rule.Rule{}, err
				}
				r.Ports = append(r.Ports, p)
			}
		case "--comment":
			r.Comment = v
		case "-j":
			if v != "ACCEPT" {
				return rule.Rule{}, fmt.Errorf("unexpected target %q", v)
			}
			accept = true
		}
	}
	if !accept || len(r.Sources) == 0 || len(r.Ports) == 0 || r.Protocol == "" {
		return rule.Rule{}, fmt.Errorf("not a rule portwarden writes: %q", l.text)
	}
	return r, nil
}

func iptPreambleKinds(mode rule.Mode, v6 bool) []string {
	if mode != rule.Enforce {
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
	var mgmt *rule.Rule
	var modes []rule.Mode
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
		mode := rule.Additive
		if c.fixed[commentDrop] {
			mode = rule.Enforce
			if !c.dropLast {
				st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s: portwarden's DROP is not its last rule", fam.name, iptChain))
			}
		}
		modes = append(modes, mode)
		for _, d := range linuxPreambleDrift(c.fixed, iptPreambleKinds(mode, fam.v6), mode) {
			st.Drift = append(st.Drift, fmt.Sprintf("%s chain %s: %s", fam.name, iptChain, d))
		}
		for _, r := range c.rules {
			merged.add(r)
		}
		if len(c.mgmt) > 0 {
			if mgmt == nil {
				mgmt = &rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: c.mgmtPort, Hi: c.mgmtPort}}}
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
		st.Mode = rule.Enforce
		for _, m := range modes {
			if m != rule.Enforce {
				st.Mode = rule.Additive
			}
		}
		if len(modes) > 1 && slices.Contains(modes, rule.Enforce) && st.Mode == rule.Additive {
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
