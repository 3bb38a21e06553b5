package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/transport"
)

// Local mode (--local): plan, apply and verify run on the host itself,
// for hosts whose SSH is turned off (hardened repositories). The same
// computation, backends and scripts; the scripts run in a local shell
// instead of over SSH.

// localDialer "connects" to the one host that is this machine, and to no
// other: a probe or a second host can never run locally by mistake.
type localDialer struct {
	host string
}

func (d localDialer) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name != d.host {
		return nil, fmt.Errorf("local mode: %s is not this machine (only %s is)", h.Name, d.host)
	}
	return localConn{}, nil
}

// localConn runs scripts with sh on this machine.
type localConn struct{}

func (localConn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	if s.Shell != "" && s.Shell != "sh" {
		return transport.Result{}, fmt.Errorf("running script locally: only sh scripts, not %q", s.Shell)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", s.Body)
	cmd.Stdin = bytes.NewReader(s.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.ExitCode = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("running script locally: %w", err)
	}
	return res, nil
}

// LocalAddr is invalid: there is no controller connection to keep open.
func (localConn) LocalAddr() netip.Addr { return netip.Addr{} }
func (localConn) Close() error          { return nil }

// localRefusal decides whether local mode may run for the selected hosts:
// exactly one Linux host, run as root, whose addresses include one of
// this machine's (loopback aside). Pure, so it is table-tested.
func localRefusal(selected []*inventory.Host, euid int, hostAddrs, machine []netip.Addr) error {
	if len(selected) != 1 {
		return fmt.Errorf("--local works on exactly one host, this machine: name it with --host (%d selected)", len(selected))
	}
	h := selected[0]
	if h.OS != "linux" {
		return fmt.Errorf("--local runs on Linux hosts only; %s is %s", h.Name, h.OS)
	}
	if !h.Managed {
		return fmt.Errorf("--local: %s is not managed in the inventory", h.Name)
	}
	if euid != 0 {
		return fmt.Errorf("--local changes this machine's firewall and must run as root (running as uid %d)", euid)
	}
	for _, a := range hostAddrs {
		if slices.Contains(machine, a.Unmap()) {
			return nil
		}
	}
	var theirs, ours []string
	for _, a := range hostAddrs {
		theirs = append(theirs, a.String())
	}
	for _, a := range machine {
		ours = append(ours, a.String())
	}
	if len(ours) == 0 {
		ours = []string{"none besides loopback"}
	}
	return fmt.Errorf("--local: %s is not this machine: the inventory gives it %s, this machine has %s",
		h.Name, strings.Join(theirs, ", "), strings.Join(ours, ", "))
}

// machineAddrs are this machine's interface addresses, without loopback.
func machineAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing this machine's addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

// useLocal switches the session to local mode, or says why it may not.
func (s *session) useLocal() error {
	hosts := s.managed()
	var hostAddrs []netip.Addr
	if len(hosts) == 1 {
		h := hosts[0]
		if h.Addr.IsValid() {
			hostAddrs = []netip.Addr{h.Addr}
		} else {
			hostAddrs = s.addrs[h.Name]
		}
	}
	machine, err := machineAddrs()
	if err != nil {
		return err
	}
	if err := localRefusal(hosts, os.Geteuid(), hostAddrs, machine); err != nil {
		return err
	}
	s.engine.Dialer = localDialer{host: hosts[0].Name}
	return nil
}

var _ orchestrator.Dialer = localDialer{}
