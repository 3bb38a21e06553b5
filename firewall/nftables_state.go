package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

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
				st.Mode = rule.Enforce
			case "accept":
				st.Mode = rule.Additive
			default:
				return State{}, fmt.Errorf("chain inet portwarden input has an unknown policy %q", c.Policy)
			}
			if own, err = nftParseChain(c); err != nil {
				return State{}, err
			}
			st.Rules = own.rules.rules()
			if len(own.mgmt) > 0 {
				m := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: own.port, Hi: own.port}}, Sources: own.mgmt}.Normalize()
				st.Management = &m
			}
			if d := own.preambleDrift(st.Mode, nftFamily); d != "" {
				st.Drift = append(st.Drift, "chain inet portwarden input: "+d)
			} else if st.Mode == rule.Enforce && len(own.mgmt) == 0 {
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
func (c *nftChainContent) preambleDrift(mode rule.Mode, fam string) string {
	if d := linuxPreambleDrift(c.fixed, nftPreambleKinds(mode, fam), mode); len(d) > 0 {
		return d[0]
	}
	return ""
}

func nftPreambleKinds(mode rule.Mode, fam string) []string {
	if mode != rule.Enforce {
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
func (c *nftChainContent) equal(want *nftChainContent, mode rule.Mode, fam string) bool {
	if c.preambleDrift(mode, fam) != "" {
		return false
	}
	if !slices.Equal(normPrefixes(c.mgmt), normPrefixes(want.mgmt)) || len(want.mgmt) > 0 && c.port != want.port {
		return false
	}
	a, b := c.rules.rules(), want.rules.rules()
	return slices.EqualFunc(a, b, func(x, y rule.Rule) bool {
		return x.Key() == y.Key() && slices.Equal(x.Sources, y.Sources)
	})
}

func normPrefixes(p []netip.Prefix) []netip.Prefix {
	return (rule.Rule{Sources: p}).Normalize().Sources
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
		pr, err := nftParsePolicyRule(r)
		if err != nil {
			return nil, fmt.Errorf("chain %s, rule handle %d: %w", c, r.Handle, err)
		}
		out.rules.add(pr)
	}
	return out, nil
}
