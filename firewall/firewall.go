// Package firewall holds portwarden's host firewall backends and the
// contract they share.
//
// A backend never talks to a host itself. It turns facts that the
// orchestrator gathered in one round trip into the state portwarden owns on
// the host (State), and turns the desired state into one script that
// replaces that owned state atomically (Apply). The orchestrator runs the
// script over whatever transport reaches the host (SSH, WinRM) and feeds the
// script's output, which repeats the facts format, back to State: so the
// read-back after an apply costs no extra round trip.
//
// Implementations: NFTables (nftables.go), IPTables (iptables.go),
// Firewalld (firewalld.go), UFW (ufw.go) and Windows (windows.go); Fake
// (fake.go) for tests. Detect (detect.go) picks a Linux backend from facts.
//
// Each Linux backend is split by concern: NAME.go holds the type, its
// documentation and constants; NAME_apply.go the apply script;
// NAME_state.go reading the owned state back; nftables_json.go and
// iptables_save.go parse the listings; nftables_render.go and
// iptables_render.go write rulesets; nftables_foreign.go analyzes foreign
// chains. What the Linux backends share: linuxfacts.go (the facts script
// and its parser), linuxdesired.go (validating a Desired, reserved
// comments, merging read-back rules), linuxwarn.go (warnings about other
// firewall managers and chains that drop), guard.go (the apply frame).
package firewall

import (
	"net/netip"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// Desired is everything portwarden wants on one host.
type Desired struct {
	Mode  rule.Mode
	Rules []rule.Rule // normalized, sorted by Key
	// Management is the port the controller reaches the host on (SSH 22,
	// WinRM 5986...) and ManagementSources the controller's addresses. In
	// enforce mode they are always kept open, whatever the policy says.
	ManagementPort    uint16
	ManagementSources []netip.Prefix
	// Guard says how the apply script protects the host: the lock, the
	// armed revert (see Guard). It is not part of the state.
	Guard Guard
}

// State is what portwarden owns on a host, as read back from it.
type State struct {
	Backend string
	// Installed is false when nothing of portwarden's is on the host yet.
	Installed bool
	Mode      rule.Mode
	Rules     []rule.Rule // normalized, sorted by Key
	// Management is the enforce-mode rule that keeps the management port
	// open from the controller (normalized), or nil when there is none.
	Management *rule.Rule
	// Drift lists owned objects besides rules that differ from what Apply
	// writes (a missing jump rule, a changed chain policy). Any entry
	// makes the plan re-apply the host.
	Drift []string
	// Warnings are facts that make owned rules ineffective or risky:
	// another firewall manager that will overwrite them, a Windows profile
	// that is disabled, Group Policy that ignores local rules. The plan
	// shows them on the host.
	Warnings []string
}

// Script is one program sent to a host in one round trip. Shell is "sh"
// (POSIX shell, run as root) or "powershell". Body must not contain
// secrets; Stdin carries data such as a ruleset or a sudo password.
type Script struct {
	Shell string
	Body  string
	Stdin []byte
	// ReadOnly says the script changes nothing on the host (the facts
	// script) and every program it starts ends by itself: over SSH it
	// runs without the host-side timeout process (see transport.Script).
	ReadOnly bool
	// Bounded says every program the script starts ends by itself within
	// seconds and it takes no lock (the confirm and the revert-now of an
	// armed revert: mv, kill, the saved restore's nft -f): it changes the
	// host, so it is not ReadOnly, but like a read-only script it runs
	// without the host-side timeout process.
	Bounded bool
}

// Backend is a host firewall implementation.
type Backend interface {
	// Name is the inventory's name for the backend ("nftables", ...).
	Name() string
	// State parses the state portwarden owns from facts gathered on the
	// host. It fails on output it does not understand: a host that answers
	// nonsense must not be planned against.
	State(f Facts) (State, error)
	// Apply returns one script that replaces portwarden's owned state with
	// d atomically (all or nothing), persists it across reboots, and then
	// prints the same facts sections that State reads, so the result can
	// be verified from the script's own output. f are the facts gathered
	// before (the ones State read): a Linux backend writes the change
	// against what is on the host (existing jumps, foreign chains, ufw's
	// files), and facts that are no longer true make the script fail and
	// change nothing.
	Apply(f Facts, d Desired) (Script, error)
}

// Facts are the sections a facts or apply script printed. Each section
// starts with a line "### portwarden:NAME" and runs to the next marker.
type Facts map[string]string

// SectionMarker begins a facts section.
const SectionMarker = "### portwarden:"

// ParseFacts splits script output into sections.
func ParseFacts(out string) Facts {
	// Sections are slices of out, not copies: a ruleset dump is the
	// largest part of a plan and is held until the apply.
	f := Facts{}
	name, start, pos := "", 0, 0
	flush := func(end int) {
		if name != "" {
			f[name] = out[start:end]
		}
	}
	for line := range strings.Lines(out) {
		at := pos
		pos += len(line)
		trimmed := strings.TrimRight(line, "\r\n")
		if rest, ok := strings.CutPrefix(trimmed, SectionMarker); ok {
			flush(at)
			name, start = strings.TrimSpace(rest), pos
		}
	}
	flush(pos)
	return f
}
