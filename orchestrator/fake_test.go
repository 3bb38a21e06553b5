package orchestrator

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// fakeFleet reaches transporttest hosts by name and plans them with
// firewall.Fake: the whole engine without namespaces.
type fakeFleet struct {
	hosts   map[string]*transporttest.Host
	backend *firewall.Fake
}

func (f fakeFleet) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	fh, ok := f.hosts[h.Name]
	if !ok {
		return nil, fmt.Errorf("connecting to %s: no such host", h.Name)
	}
	return fh.Conn(), nil
}
func (fakeFleet) FactsScript(*inventory.Host) (firewall.Script, error) {
	return firewall.FakeFactsScript, nil
}
func (f fakeFleet) Backend(*inventory.Host, firewall.Facts) (firewall.Backend, error) {
	return f.backend, nil
}

func TestEngineConvergesOnFakes(t *testing.T) {
	fleet := fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{
		"additive": {},
		"enforce":  {Local: netip.MustParseAddr("192.0.2.50")},
	}}
	// The enforce host reports the controller's address as it sees the
	// session, as a Linux host's facts script does from $SSH_CONNECTION.
	if _, err := fleet.hosts["enforce"].Conn().Run(context.Background(), transport.Script{Shell: "sh", Body: "put session",
		Stdin: []byte("ssh_connection=192.0.2.50 50000 192.0.2.9 22\n")}); err != nil {
		t.Fatal(err)
	}
	rules := func() []*HostRules {
		hr := memRules("additive", "enforce")
		hr[1].Host.Mode = rule.Enforce
		hr[1].Host.SSH = &transport.SSHConfig{Port: 22}
		return hr
	}
	ctx := context.Background()
	e := &Engine{Dialer: fleet, Platform: fleet}
	defer e.Close()

	plans := e.Plan(ctx, rules())
	for _, p := range plans {
		if p.Err != nil {
			t.Fatalf("%s: %v", p.Host.Name, p.Err)
		}
		if p.Current.Installed || len(p.Changes) == 0 {
			t.Fatalf("%s: a fresh host plans no change: %+v", p.Host.Name, p)
		}
	}
	e.Apply(ctx, plans)
	for _, p := range plans {
		if p.Failed() || !p.Applied {
			t.Fatalf("%s: apply failed: %v, remaining %v", p.Host.Name, p.ApplyErr, p.Remaining)
		}
	}
	applied := fleet.backend.Applied()
	if len(applied) != 2 {
		t.Fatalf("backend saw %d applies, want 2", len(applied))
	}
	for _, d := range applied {
		if len(d.Rules) != 1 || d.Rules[0].Key() != "tcp/6162" {
			t.Errorf("applied %+v", d)
		}
		if d.Mode == rule.Enforce && (d.ManagementPort != 22 || len(d.ManagementSources) != 1 || d.ManagementSources[0].Addr() != netip.MustParseAddr("192.0.2.50")) {
			t.Errorf("enforce host lost its management rule: %+v", d)
		}
	}

	// A second run, with fresh connections, finds nothing to do.
	e2 := &Engine{Dialer: fleet, Platform: fleet}
	defer e2.Close()
	for _, p := range e2.Plan(ctx, rules()) {
		if p.Err != nil || !p.Current.Installed || len(p.Changes) != 0 {
			t.Errorf("%s: second plan: err %v, changes %+v", p.Host.Name, p.Err, p.Changes)
		}
	}

	// A host changed behind portwarden's back is planned again.
	fleet.hosts["additive"] = &transporttest.Host{}
	e3 := &Engine{Dialer: fleet, Platform: fleet}
	defer e3.Close()
	for _, p := range e3.Plan(ctx, rules()) {
		if want := p.Host.Name == "additive"; (len(p.Changes) > 0) != want {
			t.Errorf("%s after reset: changes %+v", p.Host.Name, p.Changes)
		}
	}
}
