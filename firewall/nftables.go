package firewall

import "github.com/portwarden/portwarden/rule"

// NFTables is the nftables backend. It owns the table "inet portwarden",
// whose base chain "input" (type filter, hook input, priority filter)
// holds the rules: policy accept in additive mode; policy drop in enforce
// mode, after a preamble that accepts established and related traffic,
// loopback, essential ICMP and ICMPv6 (neighbor discovery included),
// DHCPv6 replies and the management port from the controller.
//
// # Foreign chains that drop
//
// In nftables an accept ends a packet's trip through one base chain only:
// every other base chain on the same hook still sees the packet, and a
// foreign chain whose policy is drop (or whose last rule drops or rejects
// unconditionally) drops it whatever portwarden's table says. The
// priority of portwarden's chain cannot change that, so it stays at
// "filter" (0), the usual place of filter chains. On such a host Apply
// also puts the same rules into a regular chain "portwarden_input" that
// it creates inside each such foreign table (only the families that table
// sees), and inserts one jump to it, commented "portwarden", as the first
// rule of each dropping input chain. A re-apply flushes and refills that
// chain and keeps the jump if it is the only one and first; otherwise it
// deletes every jump by handle and inserts one again. Removing everything
// (an additive Desired without rules) deletes the jumps and those chains
// too. Tables managed by iptables-nft are never touched (writing native
// rules into them breaks the iptables tools); their drops are reported as
// Warnings, as are drops in iptables-legacy.
//
// State reports what is missing or wrong around the rules as Drift, so
// that the plan re-applies the host: no jump, or more than one, in a
// foreign chain that drops; a portwarden_input chain that is missing,
// differs from the table's rules, or is left over; the table's chain with
// another hook, type or priority; an enforce preamble that is incomplete;
// the ruleset not persisted. A jump that is present but not first is only
// a Warning: rules above it may well be harmless (fail2ban inserts its
// own at the top), and Apply moves it back to the top whenever it runs.
//
// # Facts
//
// Apply needs the facts gathered before it (its Facts parameter, the ones
// State read) to find the foreign chains that drop and the handles of existing jumps.
// A transaction built from facts that are no longer true (a jump deleted
// meanwhile, a foreign table gone) fails as a whole in nft and changes
// nothing; gathering facts again and re-applying then succeeds.
//
// # Persistence
//
// The apply script writes the ruleset to ROOT/etc/portwarden/portwarden.nft
// and makes sure the nftables service's configuration (ROOT/etc/nftables.conf,
// or ROOT/etc/sysconfig/nftables.conf where only that exists) includes it:
// it appends one line `include "FILE" # portwarden` if no include of FILE
// is there, and creates a minimal configuration if there is none. The file
// must load after the foreign tables it jumps from, which the appended
// include does. It is self-contained: it recreates the table with the
// add-then-delete idiom, and for the foreign part it adds the foreign table
// and chain if missing (empty, without a hook, so a missing foreign
// ruleset cannot make the boot-time load fail). Removing everything
// empties the file (it is kept in case an untagged include names it) and
// removes the tagged include line.
type NFTables struct {
	// Root replaces "/" for the persisted files: "" or "/" on a real host;
	// the lab gives each namespace host its own, since namespaces share
	// the machine's file system.
	Root string
}

// Name implements Backend.
func (*NFTables) Name() string { return "nftables" }

const (
	nftFamily     = "inet"
	nftTable      = rule.Tag // table inet portwarden
	nftInputChain = "input"
	nftOwnedChain = rule.Tag + "_input" // in foreign tables
	// nftPersistPath is in a directory of its own: configurations that
	// include /etc/nftables.d/*.nft would load the file twice.
	nftPersistPath = "/etc/portwarden/portwarden.nft"
	// nftPersistMarker separates the live transaction from the persisted
	// file on the apply script's standard input; nftEndMarker ends it,
	// so that a truncated input is refused.
	nftPersistMarker = "# portwarden:persist"
	nftEndMarker     = "# portwarden:end"
)

// nftICMPTypes and nftICMPv6Types are what enforce mode lets in besides
// established and related traffic: the errors that path MTU discovery and
// diagnostics need, ping, and for IPv6 neighbor discovery and multicast
// listener queries, without which IPv6 stops working on the link.
var (
	nftICMPTypes   = []string{"destination-unreachable", "echo-request", "time-exceeded", "parameter-problem"}
	nftICMPv6Types = []string{"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
		"echo-request", "mld-listener-query", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"}
)

// Confirm implements Confirmer.
func (b *NFTables) Confirm(id string) (Script, error) { return linuxConfirmer{b.Root}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *NFTables) RevertNow(id string) (Script, error) { return linuxConfirmer{b.Root}.RevertNow(id) }
