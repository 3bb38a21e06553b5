package main

import (
	"context"
	"fmt"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
)

// dialer opens SSH to Linux hosts and WinRM to Windows hosts.
type dialer struct {
	acceptNew bool
}

func (d *dialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	switch {
	case h.SSH != nil:
		cfg := *h.SSH
		cfg.AcceptNewHostKeys = cfg.AcceptNewHostKeys || d.acceptNew
		return transport.DialSSH(ctx, cfg)
	case h.WinRM != nil:
		return transport.DialWinRM(ctx, *h.WinRM)
	}
	return nil, fmt.Errorf("host %s has no connection settings", h.Name)
}

// platform picks facts scripts and backends by OS.
type platform struct{}

func (platform) FactsScript(h *inventory.Host) (firewall.Script, error) {
	if h.OS == "windows" {
		return firewall.WindowsFactsScript, nil
	}
	return firewall.LinuxFactsScriptAt(h.PersistRoot)
}

func (platform) Backend(h *inventory.Host, f firewall.Facts) (firewall.Backend, error) {
	if h.OS == "windows" {
		return firewall.Windows{}, nil
	}
	return firewall.Detect(f, h.Firewall, h.PersistRoot)
}
