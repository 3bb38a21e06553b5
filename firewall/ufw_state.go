package firewall

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// State implements Backend. It reads portwarden's tuples from ufw's files
// (what ufw itself lists and loads at boot), and checks the kernel: with
// ufw active, every owned tuple's iptables rule must be in ufw's user
// input chain, ahead of the host's own drops, and the INPUT policy must
// be the one /etc/default/ufw asks for.
func (b *UFW) State(f Facts) (State, error) {
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return State{}, err
	}
	st := State{Backend: b.Name()}
	if lf.firewalldActive() {
		st.Warnings = append(st.Warnings, "firewalld is active on this host too: it and ufw both manage the firewall, and a firewalld reload can override ufw's rules")
	}
	if !lf.has("ufw") {
		return State{}, fmt.Errorf("ufw is not installed on this host")
	}
	h, err := ufwHostFromFacts(lf)
	if err != nil {
		return State{}, err
	}
	active := lf.ufwActive()
	if !active {
		st.Warnings = append(st.Warnings, "ufw is not active on this host: its rules, portwarden's among them, are not loaded until ufw is enabled (ufw enable)")
	}
	files := []*ufwFile{h.rules}
	if h.rules6 != nil {
		files = append(files, h.rules6)
	} else {
		st.Warnings = append(st.Warnings, "IPV6=no in "+ufwDefaultPath+": ufw does not filter IPv6 on this host")
	}
	var rules []rule.Rule
	var mgmt *rule.Rule
	for i, file := range files {
		v6 := i == 1
		owned := file.ownedBlocks()
		if len(owned) == 0 {
			continue
		}
		st.Installed = true
		read, err := readUFWOwned(owned)
		if err != nil {
			return State{}, err
		}
		rules = append(rules, read.rules...)
		if read.mgmt != nil {
			if mgmt == nil {
				mgmt = read.mgmt
			} else {
				mgmt.Sources = append(mgmt.Sources, read.mgmt.Sources...)
			}
		}
		st.Drift = append(st.Drift, ufwOrderDrift(file, v6)...)
		if active {
			d, err := ufwKernelDrift(lf, owned, v6)
			if err != nil {
				return State{}, err
			}
			st.Drift = append(st.Drift, d...)
		}
	}
	var merged ruleMerger
	for _, r := range rules {
		merged.add(r)
	}
	st.Rules = merged.rules()
	if mgmt != nil {
		m := mgmt.Normalize()
		st.Management = &m
	}
	st.Mode = rule.Additive
	if h.record.mode == rule.Enforce {
		st.Installed = true
		st.Mode = rule.Enforce
		if h.defaults.inputPolicy != "DROP" {
			st.Drift = append(st.Drift, fmt.Sprintf("enforce mode wants DEFAULT_INPUT_POLICY=\"DROP\" in %s, it is %q", ufwDefaultPath, h.defaults.inputPolicy))
		}
		if active {
			st.Drift = append(st.Drift, ufwPolicyDrift(lf, "DROP", h.rules6 != nil)...)
		}
	}
	if st.Installed {
		// The tuples must be what portwarden writes for the rules read:
		// a part deleted by hand ("ufw delete") or an edited iptables line
		// shows here even where the rules still merge to the same set.
		d := linuxDesired{Desired: Desired{Mode: st.Mode, Rules: st.Rules}}
		if mgmt != nil {
			d.ManagementPort = st.Management.Ports[0].Lo
			d.ManagementSources = st.Management.Sources
		}
		for i, file := range files {
			if !ufwSameBlocks(file.ownedBlocks(), ufwOwnedBlocks(d, i == 1)) {
				st.Drift = append(st.Drift, fmt.Sprintf("portwarden's tuples in %s are not the ones it writes (edited or partly deleted by hand)", []string{ufwRulesPath, ufwRules6Path}[i]))
			}
		}
	}
	return st, nil
}

func ufwSameBlocks(have, want []ufwBlock) bool {
	key := func(bs []ufwBlock) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.tuple.String()+"\n"+strings.Join(b.lines, "\n"))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(have), key(want))
}

// ufwOrderDrift reports a host rule that is not an allow ahead of one of
// portwarden's: it would drop traffic portwarden opens.
func ufwOrderDrift(f *ufwFile, v6 bool) []string {
	lastOwned := -1
	for i, b := range f.blocks {
		if b.tuple.owned() {
			lastOwned = i
		}
	}
	for _, b := range f.blocks[:lastOwned+1] {
		if !b.tuple.owned() && b.tuple.fields[0] != "allow" {
			return []string{fmt.Sprintf("the host's ufw rule %q comes before portwarden's rules in %s and may drop what they open", strings.Join(b.tuple.fields, " "), []string{ufwRulesPath, ufwRules6Path}[ufwFamIndex(v6)])}
		}
	}
	return nil
}

func ufwFamIndex(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

// ufwKernelDrift checks ufw's user input chain in the kernel for every
// owned tuple's rule, as iptables-save prints it.
func ufwKernelDrift(lf *linuxFacts, owned []ufwBlock, v6 bool) ([]string, error) {
	sec, tool, name := linuxSecIPT, "iptables-save", "IPv4"
	if v6 {
		sec, tool, name = linuxSecIP6T, "ip6tables-save", "IPv6"
	}
	text, err := lf.section(sec, tool)
	if err != nil {
		return nil, err
	}
	tables, err := parseIptablesSave(text)
	if err != nil {
		return nil, fmt.Errorf("parsing %s output: %w", tool, err)
	}
	chain := ufwChain(v6)
	var c *iptChainInfo
	if t := tables["filter"]; t != nil {
		c = t.chains[chain]
	}
	if c == nil {
		return []string{fmt.Sprintf("the %s chain %s is not in the kernel: ufw has not loaded its rules (ufw reload)", name, chain)}, nil
	}
	have := map[string]int{}
	for _, l := range c.rules {
		if r, err := iptParsePolicyRule(l, v6); err == nil && len(r.Sources) == 1 {
			have[ufwKernelSig(r.Normalize())]++
		}
	}
	missing := 0
	for _, b := range owned {
		s := ufwBlockSig(b)
		if have[s] == 0 {
			missing++
			continue
		}
		have[s]--
	}
	if missing > 0 {
		return []string{fmt.Sprintf("%d of portwarden's %d ufw rules are not in the kernel's %s chain %s: ufw has not loaded its files (ufw reload)", missing, len(owned), name, chain)}, nil
	}
	return nil, nil
}

// ufwPolicyDrift checks the kernel's INPUT policy, which ufw sets from
// DEFAULT_INPUT_POLICY when it starts.
func ufwPolicyDrift(lf *linuxFacts, want string, v6 bool) []string {
	var out []string
	fams := []struct{ sec, tool, name string }{{linuxSecIPT, "iptables-save", "IPv4"}, {linuxSecIP6T, "ip6tables-save", "IPv6"}}
	if !v6 {
		fams = fams[:1]
	}
	for _, s := range fams {
		text, err := lf.section(s.sec, s.tool)
		if err != nil {
			continue
		}
		tables, err := parseIptablesSave(text)
		if err != nil || tables["filter"] == nil || tables["filter"].chains[iptInput] == nil {
			continue
		}
		if p := tables["filter"].chains[iptInput].policy; p != want {
			out = append(out, fmt.Sprintf("the kernel's %s INPUT policy is %s, not %s: ufw has not loaded /etc/default/ufw (ufw reload)", s.name, p, want))
		}
	}
	return out
}
