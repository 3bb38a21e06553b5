package transport

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/lab/wsman"
)

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
	cfg.Port = lab.ForwardForTest(t, "127.0.0.1:0", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)), seen)
	c := dial(t, cfg)
	if got := c.LocalAddr(); got == seen {
		t.Fatalf("the controller's own address is already %s: the test proves nothing", got)
	}
	res, err := c.Run(context.Background(), fwScript(firewall.WindowsFactsScript))
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
	res2, err := other.Run(context.Background(), fwScript(firewall.WindowsFactsScript))
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
