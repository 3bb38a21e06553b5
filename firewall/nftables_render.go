package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// nftFamilies says which address families a table of family fam sees.
func nftFamilies(fam string) (v4, v6 bool) {
	return fam != "ip6", fam != "ip"
}

// nftRuleLines renders the rules of portwarden's chain for a table of
// family fam: the enforce preamble, then the policy rules.
func nftRuleLines(d linuxDesired, fam string) []string {
	v4, v6 := nftFamilies(fam)
	var out []string
	if d.Mode == rule.Enforce {
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
		out = append(out, nftSourceRules(d.ManagementSources, "tcp", []rule.PortRange{{Lo: p, Hi: p}}, commentManagement, v4, v6)...)
	}
	for _, r := range d.Rules {
		out = append(out, nftSourceRules(r.Sources, r.Protocol, r.Ports, r.Comment, v4, v6)...)
	}
	return out
}

// nftSourceRules renders one rule per address family: its sources are one
// anonymous set, whatever their number (a rule of a large fleet carries
// thousands). nft merges touching elements of such a set into ranges
// (10.0.0.1 and 10.0.0.2/31 become 10.0.0.1-10.0.0.3); the read-back
// turns ranges into prefixes again, so the state equals the desired one.
func nftSourceRules(src []netip.Prefix, proto string, ports []rule.PortRange, comment string, v4, v6 bool) []string {
	var out []string
	s4, s6 := rule.SplitFamilies(src)
	for _, fam := range []struct {
		on   bool
		kw   string
		srcs []netip.Prefix
	}{{v4, "ip", s4}, {v6, "ip6", s6}} {
		if !fam.on || len(fam.srcs) == 0 {
			continue
		}
		line := fam.kw + " saddr " + nftSet(fam.srcs, rule.PrefixString) + " " + proto + " dport " + nftSet(ports, rule.PortRange.String) + " accept"
		if comment != "" {
			line += ` comment "` + comment + `"`
		}
		out = append(out, line)
	}
	return out
}

func nftSet[T any](xs []T, str func(T) string) string {
	if len(xs) == 1 {
		return str(xs[0])
	}
	var b strings.Builder
	b.WriteString("{ ")
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(str(x))
	}
	b.WriteString(" }")
	return b.String()
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
		if d.Mode == rule.Enforce {
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
			jump := fmt.Sprintf("insert rule %s %s %s jump %s comment \"%s\"\n", fam, name, c.Name, nftOwnedChain, rule.Tag)
			fmt.Fprintf(&bt, "add chain %s %s %s\n", fam, name, c.Name)
			bt.WriteString(jump)
			if !f.jumpOK(c) {
				lv.WriteString(jump)
			}
		}
	}
	return lv.String(), bt.String(), nil
}
