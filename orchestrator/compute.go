// Package orchestrator joins an inventory with a policy into each host's
// required rules (Compute, pure), diffs them against what hosts have (Plan,
// pure), and drives connections to apply and verify them.
package orchestrator

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

// Reason says why a rule exists: one flow of the policy, from one source
// role to one destination role.
type Reason struct {
	// Pack is the policy pack and version the flow comes from
	// ("veeam-v13"), or "dir:" and a --policy directory.
	Pack        string `json:"pack"`
	Flow        string `json:"flow"`
	FromRole    string `json:"from_role"`
	ToRole      string `json:"to_role"`
	Description string `json:"description"`
	Section     string `json:"section"`
}

// Rule is a required inbound rule with its reasons.
type Rule struct {
	rule.Rule
	Reasons []Reason
}

// HostRules is everything one host needs.
type HostRules struct {
	Host  *inventory.Host
	Roles []string // assigned and derived, sorted
	Rules []Rule   // sorted by protocol, then ports
	// Notes are flows that concern the host but that portwarden cannot
	// turn into a rule on it: local-only ports, outbound endpoints,
	// destinations that cannot carry a host firewall rule.
	Notes []string
}

// Desired returns the firewall state the host should have.
func (hr *HostRules) Desired() firewall.Desired {
	d := firewall.Desired{Mode: hr.Host.Mode}
	for _, r := range hr.Rules {
		fr := r.Rule
		fr.Comment = ruleComment(r)
		d.Rules = append(d.Rules, fr)
	}
	return d
}

// ruleComment is the short text a backend writes into the host's rule: the
// flows behind it. It carries no addresses (those are in the rule).
func ruleComment(r Rule) string {
	var flows []string
	for _, rs := range r.Reasons {
		if !slices.Contains(flows, rs.Flow) {
			flows = append(flows, rs.Flow)
		}
	}
	c := strings.Join(flows, ",")
	if len(c) > 120 {
		c = c[:117] + "..."
	}
	return c
}

// Addresses maps host names to the addresses they are reached at as a
// traffic source. Hosts whose address is an IP literal need no entry.
type Addresses map[string][]netip.Addr

func (a Addresses) of(h *inventory.Host) []netip.Addr {
	if h.Addr.IsValid() {
		return []netip.Addr{h.Addr}
	}
	return a[h.Name]
}

// prefixesOf is a host's addresses as single-address prefixes.
func prefixesOf(h *inventory.Host, addrs Addresses) []netip.Prefix {
	var ps []netip.Prefix
	for _, a := range addrs.of(h) {
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return ps
}

// source is one inventory host or network that plays a role.
type source struct {
	host     *inventory.Host // nil for a network
	prefixes []netip.Prefix
}

// Compute returns the required rules of every host of inv, in inventory
// order. It is a pure function of its inputs. addrs gives the addresses of
// hosts named by DNS (see ResolveAddresses); a source host without a known
// address is an error, never a silently missing peer.
func Compute(inv *inventory.Inventory, pol *policies.Policy, addrs Addresses) ([]*HostRules, error) {
	var out []*HostRules
	err := ComputeEach(inv, pol, addrs, func(hr *HostRules) { out = append(out, hr) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ComputeEach is Compute handing each host's rules to each, in inventory
// order, as soon as they are complete. The peer sets are shared; a host's
// own sources (its set without its own address) exist only from its turn
// on, so a caller that writes each host and lets it go never holds every
// host's sources at once. each is not called when an error is returned.
func ComputeEach(inv *inventory.Inventory, pol *policies.Policy, addrs Addresses, each func(*HostRules)) error {
	flows, diags := pol.Evaluate(inv.Settings)
	if diags.HasErrors() {
		return fmt.Errorf("evaluating policy: %w", diags)
	}
	out := make([]*HostRules, 0, len(inv.Hosts))
	byName := map[string]*HostRules{}
	roles := map[string][]source{}                // role → hosts and networks that play it
	own := make([][]netip.Prefix, len(inv.Hosts)) // out[i]'s addresses
	for i, h := range inv.Hosts {
		hr := &HostRules{Host: h, Roles: EffectiveRoles(h, pol)}
		out = append(out, hr)
		byName[h.Name] = hr
		ps := prefixesOf(h, addrs)
		own[i] = ps
		for _, r := range hr.Roles {
			roles[r] = append(roles[r], source{host: h, prefixes: ps})
		}
	}
	for _, n := range inv.Networks {
		for _, r := range n.Roles {
			roles[r] = append(roles[r], source{prefixes: n.CIDRs})
		}
	}
	// Sources must have addresses: a DNS name that did not resolve would
	// otherwise drop a peer without a word.
	for _, hr := range out {
		if len(addrs.of(hr.Host)) == 0 {
			return fmt.Errorf("host %s: no address known for %q (resolve it first)", hr.Host.Name, hr.Host.Address)
		}
	}

	// Each rule gathers the roles its sources play; the addresses come
	// from the roles' peer sets, computed and aggregated once per set of
	// roles, at the end.
	peers := newPeerSets(roles)
	type pendingRule struct {
		rule      *Rule
		fromRoles []string
	}
	pending := map[*HostRules]map[string]*pendingRule{}
	addRule := func(hr *HostRules, proto string, ports []rule.PortRange, from string, rs Reason) {
		if pending[hr] == nil {
			pending[hr] = map[string]*pendingRule{}
		}
		k := rule.Spec([]string{proto}, ports)
		r := pending[hr][k]
		if r == nil {
			r = &pendingRule{rule: &Rule{Rule: rule.Rule{Protocol: proto, Ports: ports}}}
			pending[hr][k] = r
		}
		if !slices.Contains(r.fromRoles, from) {
			r.fromRoles = append(r.fromRoles, from)
		}
		if !slices.Contains(r.rule.Reasons, rs) {
			r.rule.Reasons = append(r.rule.Reasons, rs)
		}
	}
	// Notes with the same text from several flows (the seed repeats some
	// tables, e.g. object storage and external repositories) become one
	// note that cites every flow.
	type noteRefs struct {
		refs []string
	}
	notes := map[*HostRules]map[string]*noteRefs{}
	note := func(hr *HostRules, text string, f flowRef) {
		if notes[hr] == nil {
			notes[hr] = map[string]*noteRefs{}
		}
		n := notes[hr][text]
		if n == nil {
			n = &noteRefs{}
			notes[hr][text] = n
		}
		ref := f.Section + ", flow " + f.Name
		if !slices.Contains(n.refs, ref) {
			n.refs = append(n.refs, ref)
		}
	}

	for _, f := range flows {
		if !f.Active {
			continue
		}
		spec := rule.Spec(f.Protocols, f.Ports)
		if f.Endpoint != "" {
			for _, from := range f.From {
				for _, s := range roles[from] {
					if s.host != nil {
						note(byName[s.host.Name], fmt.Sprintf("outbound %s to %s must be allowed wherever egress is filtered: %s",
							spec, f.Endpoint, f.Description), ref(f))
					}
				}
			}
			continue
		}
		for _, to := range f.To {
			toRole := pol.Roles[to]
			for _, dst := range roles[to] {
				if dst.host == nil {
					continue // networks are sources only
				}
				hr := byName[dst.host.Name]
				if f.Local {
					note(hr, fmt.Sprintf("%s is used locally on this host (%s): no inbound rule needed",
						spec, f.Description), ref(f))
					continue
				}
				if !toRole.Firewall {
					// The destination cannot carry a host rule: tell each
					// source host what must be opened elsewhere, and the
					// destination itself (its rules view lists it).
					sourced := false
					for _, from := range f.From {
						for _, s := range roles[from] {
							if s.host == dst.host {
								continue
							}
							sourced = true
							if s.host == nil {
								continue
							}
							note(byName[s.host.Name], fmt.Sprintf("open %s on %s (%s) from this host, outside portwarden: %s",
								spec, dst.host.Name, to, f.Description), ref(f))
						}
					}
					if sourced { // nothing to open when no source exists
						note(hr, fmt.Sprintf("%s (%s) cannot carry a host firewall rule: %s must be opened on it by other means",
							dst.host.Name, to, spec), ref(f))
					}
					continue
				}
				// Sources never include the destination itself: a host
				// that plays both ends talks to itself over loopback.
				for _, from := range f.From {
					if !peers.hasOthers([]string{from}, dst.host, dst.prefixes) {
						if peers.roles[from] != nil && peers.roles[from].isHost[dst.host] {
							note(hr, selfNote(spec, from, to), ref(f))
						}
						continue
					}
					rs := Reason{Pack: f.Pack, Flow: f.Name, FromRole: from, ToRole: to, Description: f.Description, Section: f.Section}
					for _, p := range f.Protocols {
						addRule(hr, p, f.Ports, from, rs)
					}
				}
			}
		}
	}
	for i, hr := range out {
		out[i] = nil // handed over: each owns it now
		self := own[i]
		own[i] = nil
		for _, p := range pending[hr] {
			r := p.rule
			slices.Sort(p.fromRoles)
			r.Protocol = strings.ToLower(r.Protocol)
			r.Ports = rule.NormalizePorts(r.Ports)
			r.Sources = peers.sources(p.fromRoles, hr.Host, self)
			slices.SortFunc(r.Reasons, func(a, b Reason) int {
				return cmp.Or(cmp.Compare(a.Flow, b.Flow), cmp.Compare(a.FromRole, b.FromRole), cmp.Compare(a.ToRole, b.ToRole))
			})
			hr.Rules = append(hr.Rules, *r)
		}
		slices.SortFunc(hr.Rules, func(a, b Rule) int { return compareRules(a.Rule, b.Rule) })
		for text, n := range notes[hr] {
			sort.Strings(n.refs)
			hr.Notes = append(hr.Notes, text+" ["+strings.Join(n.refs, "; ")+"]")
		}
		sort.Strings(hr.Notes)
		delete(pending, hr)
		delete(notes, hr)
		delete(byName, hr.Host.Name)
		each(hr)
	}
	return nil
}

// selfNote says that a flow runs between two roles of one host: it stays on
// the machine, so no inbound rule is needed, but the host still depends on it.
func selfNote(spec, from, to string) string {
	return fmt.Sprintf("%s from %s to %s stays on this host, which plays both roles: no inbound rule needed", spec, from, to)
}

// flowRef is what a note cites of a flow.
type flowRef struct{ Section, Name string }

func ref(f policies.ConcreteFlow) flowRef { return flowRef{f.Section, f.Name} }

// compareRules orders rules by protocol, then by their ports.
func compareRules(a, b rule.Rule) int {
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	for i := 0; i < min(len(a.Ports), len(b.Ports)); i++ {
		if c := cmp.Or(cmp.Compare(a.Ports[i].Lo, b.Ports[i].Lo), cmp.Compare(a.Ports[i].Hi, b.Ports[i].Hi)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Ports), len(b.Ports))
}

// EffectiveRoles returns a host's assigned roles plus the roles the policy
// derives from them (the seed's generic Windows and Linux server tables).
func EffectiveRoles(h *inventory.Host, pol *policies.Policy) []string {
	out := slices.Clone(h.Roles)
	for _, name := range pol.RoleNames() {
		r := pol.Roles[name]
		if !r.Derived() || !r.AllowsOS(h.OS) {
			continue
		}
		for _, from := range r.ImpliedBy {
			if slices.Contains(h.Roles, from) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Destroy returns the rules that remove everything portwarden owns from
// the given hosts: no rules, and additive mode, which hands the inbound
// policy back to the host (on Windows, the profiles' former defaults).
// The inventory's hosts are not modified.
func Destroy(rules []*HostRules) []*HostRules {
	out := make([]*HostRules, len(rules))
	for i, hr := range rules {
		h := *hr.Host
		h.Mode = rule.Additive
		out[i] = &HostRules{Host: &h, Roles: hr.Roles}
	}
	return out
}
