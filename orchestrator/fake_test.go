package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

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

// A plan keeps a host's facts only while an apply may need them: not for
// a host without changes, not on a PlanOnly engine or in Verify, and not
// after the host was applied. An engine that only plans refuses to apply.
func TestEngineKeepsFactsOnlyForApply(t *testing.T) {
	fleet := fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{"fresh": {}, "done": {}}}
	ctx := context.Background()
	setup := &Engine{Dialer: fleet, Platform: fleet}
	plans := setup.Plan(ctx, memRules("done"))
	setup.Apply(ctx, plans)
	setup.Close()
	if plans[0].facts != nil || !plans[0].Applied {
		t.Fatalf("after apply: facts kept %v, applied %v (%v)", plans[0].facts != nil, plans[0].Applied, plans[0].ApplyErr)
	}

	e := &Engine{Dialer: fleet, Platform: fleet}
	defer e.Close()
	byName := map[string]*HostPlan{}
	for _, p := range e.Plan(ctx, memRules("fresh", "done")) {
		byName[p.Host.Name] = p
	}
	if p := byName["fresh"]; p.Err != nil || len(p.Changes) == 0 || p.facts == nil {
		t.Errorf("fresh host with changes: err %v, changes %d, facts kept %v", p.Err, len(p.Changes), p.facts != nil)
	}
	if p := byName["done"]; p.Err != nil || len(p.Changes) != 0 || p.facts != nil {
		t.Errorf("converged host: err %v, changes %d, facts kept %v", p.Err, len(p.Changes), p.facts != nil)
	}
	for _, p := range e.Verify(ctx, memRules("fresh")) {
		if p.facts != nil || len(p.Remaining) == 0 {
			t.Errorf("verify kept facts (%v) or lost the difference %v", p.facts != nil, p.Remaining)
		}
	}

	only := &Engine{Dialer: fleet, Platform: fleet, PlanOnly: true}
	defer only.Close()
	plans = only.Plan(ctx, memRules("fresh"))
	if plans[0].facts != nil || len(plans[0].Changes) == 0 {
		t.Fatalf("PlanOnly: facts kept %v, changes %v", plans[0].facts != nil, plans[0].Changes)
	}
	only.Apply(ctx, plans)
	if plans[0].Applied || plans[0].ApplyErr == nil || plans[0].Left != LeftUnchanged {
		t.Errorf("PlanOnly plan was applied: applied %v, err %v, left %q", plans[0].Applied, plans[0].ApplyErr, plans[0].Left)
	}
}

// gatedFleet is fakeFleet whose host "slow" answers its facts only after
// gate is closed.
type gatedFleet struct {
	fakeFleet
	gate chan struct{}
}

func (g gatedFleet) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == "slow" {
		select {
		case <-g.gate:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("slow: never released: the plans before it were not handed on while it ran")
		}
	}
	return g.fakeFleet.Dial(ctx, h)
}

// PlanEach hands plans on in inventory order while later hosts are still
// being planned: "slow" (last) is released only by the delivery of the
// hosts before it. Every plan is handed on once, and hosts a stop kept
// from starting come with their error.
func TestPlanEachStreamsInOrder(t *testing.T) {
	names := []string{"a", "b", "c", "slow"}
	hosts := map[string]*transporttest.Host{}
	for _, n := range names {
		hosts[n] = &transporttest.Host{}
	}
	g := gatedFleet{fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: hosts}, gate: make(chan struct{})}
	e := &Engine{Dialer: g, Platform: g, Parallel: 4}
	defer e.Close()
	var got []string
	plans := e.PlanEach(context.Background(), memRules(names...), func(p *HostPlan) {
		got = append(got, p.Host.Name)
		if p.Host.Name == "c" {
			close(g.gate)
		}
	})
	if !slices.Equal(got, names) {
		t.Fatalf("handed on %v, want %v", got, names)
	}
	for _, p := range plans {
		if p.Err != nil {
			t.Errorf("%s: %v", p.Host.Name, p.Err)
		}
	}

	stop := make(chan struct{})
	close(stop)
	e2 := &Engine{Dialer: g, Platform: g, Stop: stop}
	defer e2.Close()
	got = nil
	e2.PlanEach(context.Background(), memRules(names...), func(p *HostPlan) {
		if !errors.Is(p.Err, ErrStopped) {
			t.Errorf("%s: err %v, want ErrStopped", p.Host.Name, p.Err)
		}
		got = append(got, p.Host.Name)
	})
	if !slices.Equal(got, names) {
		t.Errorf("stopped run handed on %v, want %v", got, names)
	}
}

// openCounter dials fakeFleet hosts and counts the connections open at
// once.
type openCounter struct {
	fakeFleet
	mu                sync.Mutex
	open, peak, dials int
}

type openConn struct {
	transport.Conn
	c    *openCounter
	once sync.Once
}

func (c *openConn) Close() error {
	c.once.Do(func() { c.c.mu.Lock(); c.c.open--; c.c.mu.Unlock() })
	return c.Conn.Close()
}

func (o *openCounter) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	c, err := o.fakeFleet.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.dials++
	o.open++
	o.peak = max(o.peak, o.open)
	o.mu.Unlock()
	return &openConn{Conn: c, c: o}, nil
}

// A plan-only engine closes each host's connection once the host is
// planned, so it holds about Parallel connections, not one per host; an
// engine that may apply keeps them for the apply.
func TestPlanOnlyReleasesConnections(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	hosts := map[string]*transporttest.Host{}
	for _, n := range names {
		hosts[n] = &transporttest.Host{}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		planOnly bool
		peak     int
		open     int // after Plan, before Close
	}{
		{planOnly: true, peak: 1, open: 0},
		{planOnly: false, peak: len(names), open: len(names)},
	} {
		o := &openCounter{fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: hosts}}
		e := &Engine{Dialer: o, Platform: o, Parallel: 1, PlanOnly: tc.planOnly}
		for _, p := range e.Plan(ctx, memRules(names...)) {
			if p.Err != nil || len(p.Changes) == 0 {
				t.Fatalf("PlanOnly %v: %s: err %v, changes %d", tc.planOnly, p.Host.Name, p.Err, len(p.Changes))
			}
		}
		if o.peak != tc.peak || o.open != tc.open {
			t.Errorf("PlanOnly %v: peak %d open %d after the plan, want %d and %d", tc.planOnly, o.peak, o.open, tc.peak, tc.open)
		}
		if err := e.Close(); err != nil || o.open != 0 {
			t.Errorf("PlanOnly %v: Close: %v, %d left open", tc.planOnly, err, o.open)
		}
	}
}
