package firewall

import (
	"fmt"
)

// IPTables is the iptables backend. It owns the chain PORTWARDEN-INPUT of
// the filter table, for IPv4 (iptables) and IPv6 (ip6tables), and the one
// jump to it, commented "portwarden", that it inserts as the first rule
// of INPUT. In additive mode the chain holds only the accept rules and
// returns to INPUT for everything else; in enforce mode it accepts
// established and related traffic, loopback, essential ICMP/ICMPv6,
// DHCPv6 replies and the management port from the controller, then the
// rules, and ends with a DROP: the INPUT policy itself is never changed.
//
// # One restore per family
//
// Apply runs one iptables-restore --noflush and one ip6tables-restore
// --noflush, each atomic for its family. Declaring ":PORTWARDEN-INPUT"
// creates the chain or, with --noflush, flushes it. The jump cannot be
// made idempotent the same way: deleting a jump that is missing fails the
// whole restore, and inserting one unconditionally would add another on
// every apply. So Apply reads the facts from before it (its Facts
// parameter): if INPUT holds exactly one jump and it is first, the
// restore leaves it alone; otherwise it deletes every jump there is (by
// its rule as iptables-save printed it) and inserts one at position 1. If
// the facts are no longer true the restore fails and changes nothing.
// Both families are checked with --test before either is applied, so a
// family refusing the change leaves both unchanged in all but a race.
//
// Removing everything (an additive Desired without rules) deletes the
// jumps and the chains.
//
// # Rules
//
// A rule's sources go into one -s list (iptables makes one rule per
// source), its ports into -m multiport --dports, which takes at most 15
// ports (a range counts as two): a rule with more ports is split, and
// every part after the first carries a comment starting with
// "portwarden:cont" so that State puts them together again.
//
// State reports as Drift: a missing jump, more than one, an incomplete
// enforce preamble, a DROP that is not last, one family's chain missing
// or in another mode, the rules not persisted. A jump that is not first
// is only a Warning (see NFTables).
//
// # Persistence
//
// After a successful restore the script writes iptables-save and
// ip6tables-save to ROOT/etc/iptables/rules.v4 and rules.v6, the files
// Debian's iptables-persistent (netfilter-persistent) loads at boot.
// They hold the whole of each family's tables, as netfilter-persistent
// itself saves them.
type IPTables struct {
	// Root replaces "/" for the persisted files (see NFTables.Root).
	Root string
	// Legacy uses the iptables-legacy tools on a host whose default
	// iptables is the nf_tables variant (Detect sets it where the host's
	// rules are in the legacy tables).
	Legacy bool
}

// Name implements Backend.
func (*IPTables) Name() string { return "iptables" }

const (
	iptChain     = "PORTWARDEN-INPUT"
	iptInput     = "INPUT"
	iptPersistV4 = "/etc/iptables/rules.v4"
	iptPersistV6 = "/etc/iptables/rules.v6"
	// iptMultiport is the most ports one multiport match takes.
	iptMultiport = 15
	iptV4Marker  = "# portwarden:ipv4"
	iptV6Marker  = "# portwarden:ipv6"
	iptEndMarker = "# portwarden:end"
)

var (
	iptICMPTypes   = []int{3, 8, 11, 12}                        // unreachable, echo request, time exceeded, parameter problem
	iptICMPv6Types = []int{1, 2, 3, 4, 128, 130, 134, 135, 136} // as nftICMPv6Types
)

// iptFamily is one address family's tools and facts.
type iptFamily struct {
	v6               bool
	name             string // "IPv4" or "IPv6"
	save, restore    string
	section, persist string
}

// families returns the families the backend manages on a host: IPv4
// always, IPv6 when its tools are there.
func (b *IPTables) families(lf *linuxFacts) ([]iptFamily, error) {
	legacy := b.Legacy && lf.iptablesVariant() != "legacy"
	infix, sec := "", ""
	if legacy {
		infix, sec = "-legacy", "_legacy"
	}
	v4 := iptFamily{false, "IPv4", "iptables" + infix + "-save", "iptables" + infix + "-restore", linuxSecIPT + sec, iptPersistV4}
	v6 := iptFamily{true, "IPv6", "ip6tables" + infix + "-save", "ip6tables" + infix + "-restore", linuxSecIP6T + sec, iptPersistV6}
	if !lf.has(v4.save) || !lf.has(v4.restore) {
		return nil, fmt.Errorf("%s and %s are not both installed on this host", v4.save, v4.restore)
	}
	fams := []iptFamily{v4}
	if lf.has(v6.save) && lf.has(v6.restore) {
		fams = append(fams, v6)
	}
	return fams, nil
}

// Confirm implements Confirmer.
func (b *IPTables) Confirm(id string) (Script, error) { return linuxConfirmer{b.Root}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *IPTables) RevertNow(id string) (Script, error) { return linuxConfirmer{b.Root}.RevertNow(id) }
