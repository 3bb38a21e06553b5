package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// State implements Backend.
func (b *Firewalld) State(f Facts) (State, error) {
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return State{}, err
	}
	st := State{Backend: b.Name()}
	text, err := lf.section(linuxSecFirewalld, "firewalld.py read")
	if err != nil {
		return State{}, err
	}
	if strings.TrimSpace(text) == "" {
		return State{}, fmt.Errorf("firewalld's view is missing from the facts: firewalld does not run on this host")
	}
	var rb fwdReadback
	if err := json.Unmarshal([]byte(text), &rb); err != nil {
		return State{}, fmt.Errorf("parsing firewalld's view of portwarden's objects: %w", err)
	}
	if rb.Permanent == nil || rb.Runtime == nil {
		return State{}, fmt.Errorf("firewalld's view of portwarden's objects is incomplete")
	}
	perm := *rb.Permanent
	if !firewalldSame(perm, *rb.Runtime) {
		st.Drift = append(st.Drift, "firewalld's runtime configuration of portwarden's objects differs from the permanent one (changed without --permanent, or not reloaded)")
	}
	if perm.Policy == nil {
		if len(perm.IPSets) > 0 {
			st.Installed = true
			st.Drift = append(st.Drift, "policy portwarden is missing while ipsets portwarden-* exist")
		}
		return st, nil
	}
	st.Installed = true
	p := perm.Policy
	switch p.Target {
	case "DROP":
		st.Mode = rule.Enforce
	case "CONTINUE":
		st.Mode = rule.Additive
	default:
		st.Mode = rule.Additive
		st.Drift = append(st.Drift, fmt.Sprintf("policy portwarden has target %q", p.Target))
	}
	if p.Priority != FirewalldPriority || !slices.Equal(p.IngressZones, []string{"ANY"}) || !slices.Equal(p.EgressZones, []string{"HOST"}) {
		st.Drift = append(st.Drift, fmt.Sprintf("policy portwarden has priority %d, ingress %v, egress %v", p.Priority, p.IngressZones, p.EgressZones))
	}
	if len(p.Services)+len(p.Ports)+len(p.Protocols)+len(p.SourcePorts)+len(p.ICMPBlocks)+len(p.ForwardPorts) > 0 || p.Masquerade {
		st.Drift = append(st.Drift, "policy portwarden has services, ports or other settings portwarden does not write")
	}
	rules, mgmt, drift, err := firewalldRules(p.RichRules, perm.IPSets, st.Mode)
	if err != nil {
		return State{}, err
	}
	st.Rules, st.Management = rules, mgmt
	st.Drift = append(st.Drift, drift...)
	st.Drift = append(st.Drift, firewalldKernelDrift(lf, *rb.Runtime, st.Mode)...)
	return st, nil
}

// firewalldSame compares two configurations' objects.
func firewalldSame(a, b fwdObjects) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

var firewalldRichRE = regexp.MustCompile(`^rule family="(ipv4|ipv6)" source ipset="([A-Za-z0-9_.-]+)" port port="([0-9-]+)" protocol="(tcp|udp)" accept$`)

// firewalldRules reads the rules back from the policy's rich rules and
// the ipsets they name.
func firewalldRules(rich []string, ipsets map[string]fwdIPSet, mode rule.Mode) ([]rule.Rule, *rule.Rule, []string, error) {
	var drift []string
	byBase := map[string]*rule.Rule{}
	var bases []string
	reserved := map[string]bool{}
	used := map[string]bool{}
	for _, rr := range rich {
		switch rr {
		case firewalldRuleICMP, firewalldRuleICMPv6, firewalldRuleDHCPv6:
			reserved[rr] = true
			continue
		}
		m := firewalldRichRE.FindStringSubmatch(rr)
		if m == nil {
			drift = append(drift, fmt.Sprintf("policy portwarden has a rich rule portwarden does not write: %s", rr))
			continue
		}
		set, ok := ipsets[m[2]]
		if !ok {
			drift = append(drift, fmt.Sprintf("rich rule names ipset %s, which is missing", m[2]))
			continue
		}
		used[m[2]] = true
		pr, err := rule.ParsePortRange(m[3])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("policy portwarden: rich rule %q: %w", rr, err)
		}
		base := m[2]
		if i := strings.LastIndex(base, firewalldLayerSep); i > 0 {
			base = base[:i]
		}
		base = strings.TrimSuffix(base, firewalldV6Suffix)
		r := byBase[base]
		if r == nil {
			r = &rule.Rule{Protocol: m[4], Comment: set.Description}
			byBase[base] = r
			bases = append(bases, base)
		}
		if r.Protocol != m[4] {
			drift = append(drift, fmt.Sprintf("ipset %s is used for both tcp and udp", base))
		}
		if !slices.Contains(r.Ports, pr) {
			r.Ports = append(r.Ports, pr)
		}
		for _, e := range set.Entries {
			p, err := firewalldEntry(e)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("ipset %s: %w", m[2], err)
			}
			if !slices.Contains(r.Sources, p) {
				r.Sources = append(r.Sources, p)
			}
		}
	}
	for n := range ipsets {
		if !used[n] {
			drift = append(drift, fmt.Sprintf("ipset %s is not used by policy portwarden", n))
		}
	}
	if mode == rule.Enforce && len(reserved) != 3 || mode != rule.Enforce && len(reserved) > 0 {
		drift = append(drift, "policy portwarden's icmp/dhcpv6 rules do not match its mode")
	}
	var m ruleMerger
	var mgmt *rule.Rule
	slices.Sort(bases)
	for _, base := range bases {
		r := byBase[base]
		if base == firewalldMgmt {
			n := r.Normalize()
			n.Comment = ""
			mgmt = &n
			continue
		}
		m.add(*r)
	}
	return m.rules(), mgmt, drift, nil
}

// firewalldEntry parses an ipset entry: an address or a prefix.
func firewalldEntry(e string) (netip.Prefix, error) {
	if strings.Contains(e, "/") {
		return netip.ParsePrefix(e)
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// firewalldKernelDrift checks the kernel ruleset that firewalld built
// (table inet firewalld, when firewalld uses nftables): portwarden's
// policy chain is there and each runtime ipset is a set with its entries.
func firewalldKernelDrift(lf *linuxFacts, rt fwdObjects, mode rule.Mode) []string {
	text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
	if err != nil || strings.TrimSpace(text) == "" {
		return nil // firewalld with its iptables backend, or no nft: firewalld's own view is all there is
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if json.Unmarshal([]byte(text), &doc) != nil {
		return []string{"the kernel ruleset could not be parsed"}
	}
	type set struct {
		Family, Table, Name string
		Elem                []json.RawMessage
	}
	sets := map[string]set{}
	chain, table := false, false
	var lastVerdict string
	for _, o := range doc.Nftables {
		if raw, ok := o["table"]; ok {
			var t struct{ Family, Name string }
			if json.Unmarshal(raw, &t) == nil && t.Family == "inet" && t.Name == "firewalld" {
				table = true
			}
		}
		if raw, ok := o["set"]; ok {
			var s set
			if json.Unmarshal(raw, &s) == nil && s.Family == "inet" && s.Table == "firewalld" {
				sets[s.Name] = s
			}
		}
		if raw, ok := o["chain"]; ok {
			var c struct{ Family, Table, Name string }
			if json.Unmarshal(raw, &c) == nil && c.Family == "inet" && c.Table == "firewalld" && c.Name == "filter_IN_policy_"+firewalldPolicy {
				chain = true
			}
		}
		if raw, ok := o["rule"]; ok {
			var r struct {
				Family, Table, Chain string
				Expr                 []map[string]json.RawMessage
			}
			if json.Unmarshal(raw, &r) == nil && r.Table == "firewalld" && r.Chain == "filter_IN_policy_"+firewalldPolicy && len(r.Expr) == 1 {
				for k := range r.Expr[0] {
					lastVerdict = k
				}
			}
		}
	}
	if !table {
		return nil
	}
	var drift []string
	if rt.Policy != nil && !chain {
		drift = append(drift, "the kernel ruleset has no chain for policy portwarden (inet firewalld filter_IN_policy_portwarden)")
	}
	if rt.Policy != nil && chain && (mode == rule.Enforce) != (lastVerdict == "drop") {
		drift = append(drift, "the kernel's chain for policy portwarden does not end as its mode says")
	}
	for name, ipset := range rt.IPSets {
		s, ok := sets[name]
		if !ok {
			drift = append(drift, fmt.Sprintf("the kernel ruleset has no set %s in table inet firewalld", name))
			continue
		}
		var got []string
		for _, e := range s.Elem {
			got = append(got, nftElemString(e))
		}
		want := slices.Clone(ipset.Entries)
		for i, w := range want {
			if p, err := firewalldEntry(w); err == nil {
				want[i] = rule.PrefixString(p.Masked())
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			drift = append(drift, fmt.Sprintf("the kernel's set %s holds %v, firewalld's ipset %v", name, got, want))
		}
	}
	return drift
}

// nftElemString renders a set element of nft's JSON: an address or a
// prefix.
func nftElemString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var p struct {
		Prefix struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
	}
	if json.Unmarshal(raw, &p) == nil && p.Prefix.Addr != "" {
		return p.Prefix.Addr + "/" + strconv.Itoa(p.Prefix.Len)
	}
	return string(raw)
}
