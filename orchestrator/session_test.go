package orchestrator

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// windowsFleet is fakeFleet whose facts include the Windows section with
// the host's view of the WinRM shell.
type windowsFleet struct{ fakeFleet }

func (windowsFleet) FactsScript(*inventory.Host) (firewall.Script, error) {
	return firewall.Script{Shell: "sh", Body: "print " + firewall.FakeSection + "\nprint windows-session\n"}, nil
}

// TestEngineTakesTheWindowsHostsView: the management source of a Windows
// host in enforce mode is the ClientIP its WinRM service reports for the
// shell, not the controller's local address (here they differ, as behind
// NAT); a host that cannot say is not planned in enforce mode, and
// additive mode does not need it.
func TestEngineTakesTheWindowsHostsView(t *testing.T) {
	fleet := windowsFleet{fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{
		"natted":   {Local: netip.MustParseAddr("192.0.2.50")},
		"mute":     {Local: netip.MustParseAddr("192.0.2.50")},
		"additive": {Local: netip.MustParseAddr("192.0.2.50")},
	}}}
	for name, section := range map[string]string{"natted": "client=198.51.100.7\n", "mute": "enumerate=failed\n", "additive": "enumerate=failed\n"} {
		if _, err := fleet.hosts[name].Conn().Run(context.Background(), transport.Script{Shell: "sh", Body: "put windows-session", Stdin: []byte(section)}); err != nil {
			t.Fatal(err)
		}
	}
	rules := memRules("natted", "mute", "additive")
	for _, hr := range rules {
		hr.Host.OS = "windows"
		hr.Host.WinRM = &transport.WinRMConfig{Port: 5986}
		if hr.Host.Name != "additive" {
			hr.Host.Mode = rule.Enforce
		}
	}
	e := &Engine{Dialer: fleet, Platform: fleet}
	defer e.Close()
	plans := e.Plan(context.Background(), rules)
	byName := map[string]*HostPlan{}
	for _, p := range plans {
		byName[p.Host.Name] = p
	}
	if p := byName["natted"]; p.Err != nil || len(p.Desired.ManagementSources) != 1 || p.Desired.ManagementSources[0] != netip.MustParsePrefix("198.51.100.7/32") || p.Desired.ManagementPort != 5986 {
		t.Errorf("natted: err %v, management %v port %d", p.Err, p.Desired.ManagementSources, p.Desired.ManagementPort)
	}
	if p := byName["mute"]; p.Err == nil || !strings.Contains(p.Err.Error(), "ClientIP of its WinRM shell") {
		t.Errorf("mute: planned in enforce mode without the host's view: %v", p.Err)
	}
	if p := byName["additive"]; p.Err != nil {
		t.Errorf("additive: %v", p.Err)
	}
}
