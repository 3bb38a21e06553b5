package orchestrator

import (
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
)

// roleMembers is everything that plays one role, with the role's peer set
// computed once: the aggregated addresses of every member.
type roleMembers struct {
	all    *netipx.IPSet      // every member's addresses
	nets   *netipx.IPSet      // the networks' prefixes only
	hosts  map[netip.Addr]int // how many member hosts have each address
	isHost map[*inventory.Host]bool
}

func newRoleMembers(srcs []source) *roleMembers {
	m := &roleMembers{hosts: map[netip.Addr]int{}, isHost: map[*inventory.Host]bool{}}
	var all, nets netipx.IPSetBuilder
	for _, s := range srcs {
		for _, p := range s.prefixes {
			all.AddPrefix(p.Masked())
			if s.host == nil {
				nets.AddPrefix(p.Masked())
			}
		}
		if s.host != nil {
			m.isHost[s.host] = true
			// Each of the host's addresses once, however the caller's
			// Addresses lists them.
			own := slices.Clone(s.prefixes)
			slices.SortFunc(own, netip.Prefix.Compare)
			for _, p := range slices.Compact(own) {
				m.hosts[p.Addr()]++
			}
		}
	}
	m.all, _ = all.IPSet() // prefixes are valid: inventory and Addresses hold parsed ones
	m.nets, _ = nets.IPSet()
	return m
}

// coveredByOther says whether a, an address of h, is also an address of
// another member: a network that contains it or another host that has it.
func (m *roleMembers) coveredByOther(h *inventory.Host, a netip.Addr) bool {
	n := m.hosts[a]
	if m.isHost[h] {
		n--
	}
	return n > 0 || m.nets.Contains(a)
}

// peerSets hands out the sources of rules: the union of the peer sets of
// some roles, without the destination host's own addresses. Unions are
// memoized by roles, so every host that is not itself a member shares one
// slice, and each set is aggregated once.
type peerSets struct {
	roles map[string]*roleMembers
	union map[string][]netip.Prefix // roles joined by "\x00" → aggregated union
}

func newPeerSets(roles map[string][]source) *peerSets {
	ps := &peerSets{roles: map[string]*roleMembers{}, union: map[string][]netip.Prefix{}}
	for r, srcs := range roles {
		ps.roles[r] = newRoleMembers(srcs)
	}
	return ps
}

// drops returns the addresses of dst to leave out of the peer sets of
// roles: its own, unless another member also has them.
func (ps *peerSets) drops(roles []string, dst *inventory.Host, dstAddrs []netip.Prefix) []netip.Addr {
	var drop []netip.Addr
	for _, p := range dstAddrs {
		a := p.Addr()
		member, other := false, false
		for _, r := range roles {
			m := ps.roles[r]
			if m == nil {
				continue
			}
			member = member || m.isHost[dst]
			other = other || m.coveredByOther(dst, a)
		}
		if member && !other && !slices.Contains(drop, a) {
			drop = append(drop, a)
		}
	}
	return drop
}

// hasOthers says whether anything but dst plays any of roles, without
// building dst's own set.
func (ps *peerSets) hasOthers(roles []string, dst *inventory.Host, dstAddrs []netip.Prefix) bool {
	all := ps.unionOf(roles)
	drop := ps.drops(roles, dst, dstAddrs)
	for _, p := range all {
		if !p.IsSingleIP() || !slices.Contains(drop, p.Addr()) {
			return true
		}
	}
	return false
}

// sources returns the addresses of everything that plays any of roles
// (sorted, unique), except dst itself, aggregated into the fewest
// prefixes. The union of roles is shared by every destination that is not
// a member (callers must not modify it: its capacity is its length, so an
// append copies); a member gets its own slice, which is not kept.
func (ps *peerSets) sources(roles []string, dst *inventory.Host, dstAddrs []netip.Prefix) []netip.Prefix {
	out := ps.unionOf(roles)
	for _, a := range ps.drops(roles, dst, dstAddrs) {
		out = rule.RemoveAddr(out, a)
	}
	return slices.Clip(out)
}

// unionOf is the aggregated union of the peer sets of roles, built once
// per combination of roles.
func (ps *peerSets) unionOf(roles []string) []netip.Prefix {
	key := strings.Join(roles, "\x00")
	out, ok := ps.union[key]
	if !ok {
		var b netipx.IPSetBuilder
		for _, r := range roles {
			if m := ps.roles[r]; m != nil {
				b.AddSet(m.all)
			}
		}
		set, _ := b.IPSet()
		out = set.Prefixes()
		slices.SortFunc(out, rule.ComparePrefix)
		out = slices.Clip(out)
		ps.union[key] = out
	}
	return out
}
