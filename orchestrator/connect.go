package orchestrator

import (
	"context"
	"fmt"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
)

// TransportDialer opens SSH to Linux hosts and WinRM to Windows hosts.
type TransportDialer struct {
	// AcceptNewHostKeys records unknown SSH host keys (accept-new).
	AcceptNewHostKeys bool
	// Bastions, if set, shares one connection per bastion among the hosts
	// that jump through it.
	Bastions *transport.BastionPool
	// Handshakes, if set, paces SSH handshakes (in all and per sshd, with
	// a ramp) apart from the number of hosts worked on: see
	// transport.Handshakes.
	Handshakes *transport.Handshakes
}

// Dial implements Dialer.
func (d TransportDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	switch {
	case h.SSH != nil:
		cfg := *h.SSH
		cfg.AcceptNewHostKeys = cfg.AcceptNewHostKeys || d.AcceptNewHostKeys
		cfg.Bastions = d.Bastions
		cfg.Handshakes = d.Handshakes
		return transport.DialSSH(ctx, cfg)
	case h.WinRM != nil:
		return transport.DialWinRM(ctx, *h.WinRM)
	}
	return nil, fmt.Errorf("host %s has no connection settings", h.Name)
}

// Reach implements Reacher: the greeting of the host's sshd (through its
// bastion from the run's pool, as Dial would go) or WinRM listener.
func (d TransportDialer) Reach(ctx context.Context, h *inventory.Host) error {
	switch {
	case h.SSH != nil:
		cfg := *h.SSH
		cfg.Bastions = d.Bastions
		cfg.Handshakes = d.Handshakes
		return transport.ReachSSH(ctx, cfg)
	case h.WinRM != nil:
		return transport.ReachWinRM(ctx, *h.WinRM)
	}
	return fmt.Errorf("host %s has no connection settings", h.Name)
}

// HostPlatform picks facts scripts and firewall backends by OS: the Linux
// facts script and Detect, or the Windows Defender Firewall backend.
type HostPlatform struct{}

// FactsScript implements Platform.
func (HostPlatform) FactsScript(h *inventory.Host) (firewall.Script, error) {
	if h.OS == "windows" {
		return firewall.WindowsFactsScript, nil
	}
	return firewall.LinuxFactsScriptAt(h.PersistRoot)
}

// Backend implements Platform.
func (HostPlatform) Backend(h *inventory.Host, f firewall.Facts) (firewall.Backend, error) {
	if h.OS == "windows" {
		return firewall.Windows{}, nil
	}
	return firewall.Detect(f, h.Firewall, h.PersistRoot)
}
