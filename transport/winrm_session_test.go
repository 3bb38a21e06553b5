package transport

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/lab/wsman"
)

// forward is a TCP port forward on loopback: connections to its address
// reach to, coming from the local address from (as through NAT, the host
// sees from, not the client's address).
func forward(t *testing.T, to string, from netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := d.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestWinRMHostSeesTheClient: the controller reaches the host through a
// port forward that connects from another address. The facts script asks
// the host which client created the shell the transport opened
// ($PortwardenShellId, Get-WSManInstance -ResourceURI shell -Enumerate):
// the host's view (the forwarder's address) is what SessionClient gives,
// not the controller's local address.
func TestWinRMHostSeesTheClient(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{}, pki)
	seen := netip.MustParseAddr("127.0.0.3")
	cfg := h.config()
	cfg.Port = forward(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)), seen)
	c := dial(t, cfg)
	if got := c.LocalAddr(); got == seen {
		t.Fatalf("the controller's own address is already %s: the test proves nothing", got)
	}
	res, err := c.Run(context.Background(), Script(firewall.WindowsFactsScript))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("facts: %v exit %d\n%s", err, res.ExitCode, res.Stderr)
	}
	f := firewall.ParseFacts(string(res.Stdout))
	got, ok := firewall.SessionClient(f)
	if !ok || got != seen {
		t.Fatalf("SessionClient = %s %v, want the host's view %s (controller's local address %s)\n%s", got, ok, seen, c.LocalAddr(), res.Stdout)
	}
	// Another shell of the same user (a second run at the same time) is
	// not confused with this one.
	other := dial(t, h.config())
	res2, err := other.Run(context.Background(), Script(firewall.WindowsFactsScript))
	if err != nil {
		t.Fatal(err)
	}
	if got2, _ := firewall.SessionClient(firewall.ParseFacts(string(res2.Stdout))); got2 != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("the direct connection's shell reports %s", got2)
	}
	// A script without the shell id (not run by this transport) says so.
	if !strings.Contains(firewall.WindowsFactsScript.Body, "$PortwardenShellId") {
		t.Error("the facts script does not use $PortwardenShellId")
	}
}
