package orchestrator

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/transport"
)

// TestRunLeavesNothingBehind: a whole run over real sshds (plan, apply
// with commit-confirmed, a second plan; two hosts behind a pooled bastion,
// handshakes paced), then a watch-like reuse through a ConnPool, ends with
// the goroutine count back at its baseline and no TCP connection of this
// process left open to the lab. Not parallel: both counts are the
// process's.
func TestRunLeavesNothingBehind(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv, diags := inventory.Load(l.InventoryPath(), pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	bastion := inv.Host(l.Hosts[0].Name).SSH
	for _, h := range l.Hosts[1:] {
		jump := *bastion
		inv.Host(h.Name).SSH.ProxyJump = &jump
	}
	addrs, err := ResolveAddresses(context.Background(), inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Compute(inv, pol, addrs)
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	if n := labSockets(t, l.Subnet); n != 0 {
		t.Fatalf("%d connections to the lab before the run", n)
	}

	dialer := TransportDialer{Bastions: &transport.BastionPool{}, Handshakes: transport.NewHandshakes(transport.HandshakeLimits{})}
	ctx := context.Background()
	e := &Engine{Dialer: dialer, Platform: HostPlatform{}, Guard: firewall.Guard{ConfirmTimeout: firewall.DefaultConfirmTimeout}}
	plans := e.Plan(ctx, rules)
	e.Apply(ctx, plans)
	for _, p := range plans {
		if p.Failed() || (len(p.Changes) > 0 && !p.Applied) {
			t.Errorf("%s: plan %v, apply %v, remaining %v", p.Host.Name, p.Err, p.ApplyErr, p.Remaining)
		}
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
	e = &Engine{Dialer: dialer, Platform: HostPlatform{}}
	for _, p := range e.Plan(ctx, rules) {
		if p.Err != nil || len(p.Changes) != 0 {
			t.Errorf("%s after apply: %v, %d changes", p.Host.Name, p.Err, len(p.Changes))
		}
	}
	e.Close()
	waitGoroutines(t, base)
	if n := labSockets(t, l.Subnet); n != 0 {
		t.Errorf("%d connections to the lab left open after the run", n)
	}

	// Rounds through a pool keep connections (from the second round on
	// with a resident shell for the facts), and Close ends them all.
	pool := &ConnPool{}
	for range 3 {
		e := &Engine{Dialer: dialer, Platform: HostPlatform{}, Pool: pool}
		e.Plan(ctx, rules)
		e.Close()
	}
	if st := pool.Stats(); st.Dials != len(l.Hosts) || st.Reused != 2*len(l.Hosts) {
		t.Errorf("pool: %+v, want %d dials and %d reuses", st, len(l.Hosts), 2*len(l.Hosts))
	}
	if n := labSockets(t, l.Subnet); n == 0 {
		t.Error("the pool kept no connection open")
	}
	if err := pool.Close(); err != nil {
		t.Error(err)
	}
	waitGoroutines(t, base)
	if n := labSockets(t, l.Subnet); n != 0 {
		t.Errorf("%d connections to the lab left open after the pool closed", n)
	}
}

// labSockets counts this process's TCP sockets whose remote address is in
// subnet (from /proc/net/tcp, matched by inode with /proc/self/fd).
func labSockets(t *testing.T, subnet netip.Prefix) int {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || !mine[f[9]] {
			continue
		}
		// rem_address is HEX_IP:HEX_PORT, the IPv4 address little-endian.
		hexIP, _, _ := strings.Cut(f[2], ":")
		v, err := strconv.ParseUint(hexIP, 16, 32)
		if err != nil {
			continue
		}
		a := netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
		if subnet.Contains(a) && f[3] != "0A" { // not a listener
			n++
		}
	}
	return n
}
