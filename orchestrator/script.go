package orchestrator

import (
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/transport"
)

// toScript is the transport's form of a firewall script, bounded by
// timeout (zero: the connection's command timeout).
func toScript(s firewall.Script, timeout time.Duration) transport.Script {
	return transport.Script{Shell: s.Shell, Body: s.Body, Stdin: s.Stdin, Timeout: timeout, ReadOnly: s.ReadOnly, Bounded: s.Bounded}
}
