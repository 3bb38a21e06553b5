package orchestrator

import (
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
)

// Work is what one script asks of a host: the rules it reads or writes
// and its size (body and stdin), which carries the sources.
type Work struct {
	Rules       int
	ScriptBytes int
}

// The timeout of a script grows with its work from the transport's
// default. Windows pays far more per rule: each is a NetSecurity cmdlet
// call, where Linux loads a whole ruleset in one nft or iptables-restore.
// The size term covers sending the script and data on a slow link
// (100 KiB/s) and parsing them on the host.
const (
	timeoutPerRuleLinux   = 50 * time.Millisecond
	timeoutPerRuleWindows = 500 * time.Millisecond
	timeoutPerKiB         = 10 * time.Millisecond
	// MaxCommandTimeout bounds a scaled timeout: past it, a script is
	// stuck, not busy.
	MaxCommandTimeout = 30 * time.Minute
)

// CommandTimeout is how long a script may run on a host of that OS: the
// configured command_timeout when the inventory sets one (it is the
// admin's word, taken as is), else the transport's default plus time per
// rule and per KiB, at most MaxCommandTimeout.
func CommandTimeout(configured time.Duration, os string, w Work) time.Duration {
	if configured > 0 {
		return configured
	}
	base, perRule := transport.DefaultCommandTimeout, timeoutPerRuleLinux
	if os == "windows" {
		base, perRule = transport.DefaultWinRMCommandTimeout, timeoutPerRuleWindows
	}
	d := base + time.Duration(max(w.Rules, 0))*perRule + time.Duration(max(w.ScriptBytes, 0)/1024)*timeoutPerKiB
	return min(d, MaxCommandTimeout)
}

// scriptFor is the transport's form of s for host h, with the timeout
// its work needs.
func scriptFor(h *inventory.Host, s firewall.Script, rules int) transport.Script {
	var configured time.Duration
	switch {
	case h.SSH != nil:
		configured = h.SSH.CommandTimeout
	case h.WinRM != nil:
		configured = h.WinRM.CommandTimeout
	}
	w := Work{Rules: rules, ScriptBytes: len(s.Body) + len(s.Stdin)}
	return toScript(s, CommandTimeout(configured, h.OS, w))
}
