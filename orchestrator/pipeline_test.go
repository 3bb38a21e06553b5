package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// Converge runs each host's plan and apply in its slot and releases the
// connection before the slot is free, so no more than Parallel
// connections are ever open; Plan then Apply holds one per host until
// Close. Each host is dialed once (plan and apply share the connection),
// and a second run finds nothing to do.
func TestConvergeHoldsAtMostParallelConnections(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"}
	const parallel = 2
	for _, tc := range []struct {
		name     string
		converge bool
		peak     func(int) bool
		want     string
	}{
		{"converge", true, func(n int) bool { return n >= 1 && n <= parallel }, fmt.Sprintf("1..%d", parallel)},
		// The contrast: the barrier path keeps every host's connection.
		{"plan then apply", false, func(n int) bool { return n == len(names) }, fmt.Sprint(len(names))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := map[string]*transporttest.Host{}
			for _, n := range names {
				hosts[n] = &transporttest.Host{}
			}
			o := &openCounter{fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: hosts}}
			e := &Engine{Dialer: o, Platform: o, Parallel: parallel}
			ctx := context.Background()
			var plans []*HostPlan
			if tc.converge {
				plans = e.Converge(ctx, memRules(names...), nil)
			} else {
				plans = e.Plan(ctx, memRules(names...))
				e.Apply(ctx, plans)
			}
			for _, p := range plans {
				if p.Failed() || !p.Applied || p.Left != LeftApplied || p.facts != nil {
					t.Errorf("%s: err %v, apply %v, applied %v, left %q, facts kept %v", p.Host.Name, p.Err, p.ApplyErr, p.Applied, p.Left, p.facts != nil)
				}
			}
			if !tc.peak(o.peak) {
				t.Errorf("%d connections open at once, want %s", o.peak, tc.want)
			}
			if o.dials != len(names) {
				t.Errorf("%d dials for %d hosts, want one each", o.dials, len(names))
			}
			if len(o.backend.Applied()) != len(names) {
				t.Errorf("backend saw %d applies, want %d", len(o.backend.Applied()), len(names))
			}
			if tc.converge && o.open != 0 {
				t.Errorf("%d connections still open after Converge, before Close", o.open)
			}
			if err := e.Close(); err != nil || o.open != 0 {
				t.Errorf("Close: %v, %d left open", err, o.open)
			}
		})
	}

	// A second run over the converged hosts changes nothing.
	hosts := map[string]*transporttest.Host{}
	for _, n := range names {
		hosts[n] = &transporttest.Host{}
	}
	o := &openCounter{fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: hosts}}
	for run := range 2 {
		e := &Engine{Dialer: o, Platform: o, Parallel: parallel}
		for _, p := range e.Converge(context.Background(), memRules(names...), nil) {
			if p.Failed() || p.Applied != (run == 0) || (len(p.Changes) > 0) != (run == 0) {
				t.Errorf("run %d: %s: err %v %v, applied %v, changes %d", run, p.Host.Name, p.Err, p.ApplyErr, p.Applied, len(p.Changes))
			}
		}
		e.Close()
	}
	if n := len(o.backend.Applied()); n != len(names) {
		t.Errorf("two runs applied %d times, want %d (the second changes nothing)", n, len(names))
	}
}

// endHooks records HostEnd and, with stopAfter > 0, closes stop once that
// many hosts have failed (as --max-failed does).
type endHooks struct {
	NoHooks
	mu        sync.Mutex
	ended     map[string]error
	phases    []string
	stop      chan struct{}
	stopAfter int
	failed    int
}

func (h *endHooks) HostDone(host, phase string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.phases = append(h.phases, host+":"+phase)
}

func (h *endHooks) HostEnd(host string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended == nil {
		h.ended = map[string]error{}
	}
	if _, twice := h.ended[host]; twice {
		panic("HostEnd twice for " + host)
	}
	h.ended[host] = err
	if err != nil {
		h.failed++
		if h.failed == h.stopAfter {
			close(h.stop)
		}
	}
}

// A host that fails to plan is never applied, one whose apply fails or
// whose read-back differs fails alone, and every other host converges;
// each host ends once, with its own error, handed on in inventory order.
func TestConvergeIsolatesFailures(t *testing.T) {
	fleet := memFleet{
		"ok":     {name: "ok"},
		"down":   {name: "down", failRun: true},
		"refuse": {name: "refuse", refuse: true},
		"liar":   {name: "liar", lie: true},
		"ok2":    {name: "ok2"},
	}
	names := []string{"ok", "down", "refuse", "liar", "ok2"}
	hooks := &endHooks{}
	e := &Engine{Dialer: fleet, Platform: fleet, Hooks: hooks}
	defer e.Close()
	var order []string
	plans := e.Converge(context.Background(), memRules(names...), func(p *HostPlan) {
		if !p.Applied && p.ApplyErr == nil && p.Err == nil {
			t.Errorf("%s handed on before its apply was over", p.Host.Name)
		}
		order = append(order, p.Host.Name)
	})
	if !slices.Equal(order, names) {
		t.Errorf("handed on %v, want inventory order %v", order, names)
	}
	byName := map[string]*HostPlan{}
	for _, p := range plans {
		byName[p.Host.Name] = p
	}
	for _, n := range []string{"ok", "ok2"} {
		if p := byName[n]; p.Failed() || !p.Applied || strings.Join(fleet[n].rules, ",") != "tcp/6162" {
			t.Errorf("%s: err %v %v, applied %v, rules %v", n, p.Err, p.ApplyErr, p.Applied, fleet[n].rules)
		}
	}
	if p := byName["down"]; p.Err == nil || p.Applied || p.ApplyErr != nil || slices.Contains(hooks.phases, "down:apply") {
		t.Errorf("down: plan err %v, applied %v, apply err %v, phases %v", p.Err, p.Applied, p.ApplyErr, hooks.phases)
	}
	if p := byName["refuse"]; p.ApplyErr == nil || !strings.Contains(p.ApplyErr.Error(), "refused") || p.Left != LeftUnchanged || fleet["refuse"].rules != nil {
		t.Errorf("refuse: %v, left %q, rules %v", p.ApplyErr, p.Left, fleet["refuse"].rules)
	}
	if p := byName["liar"]; p.ApplyErr == nil || len(p.Remaining) != 1 {
		t.Errorf("liar: err %v remaining %v", p.ApplyErr, p.Remaining)
	}
	for _, n := range names {
		err, ok := hooks.ended[n]
		if !ok || (err != nil) != byName[n].Failed() {
			t.Errorf("%s: HostEnd seen %v with %v; host failed: %v", n, ok, err, byName[n].Failed())
		}
	}
}

// A graceful stop lets the host in flight finish its whole pipeline (plan
// and apply) and starts no other: those say "not started" and were never
// contacted. A cancellation interrupts the host in flight before its
// apply, and the others are not started either.
func TestConvergeStopAndCancel(t *testing.T) {
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			release := make(chan struct{})
			started := make(chan string, 8)
			fleet := memFleet{}
			names := []string{"a", "b", "c"}
			for _, n := range names {
				fleet[n] = &memHost{name: n, block: release, started: started}
			}
			stop := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			hooks := &endHooks{}
			e := &Engine{Dialer: fleet, Platform: fleet, Parallel: 1, Stop: stop, Hooks: hooks}
			defer e.Close()
			done := make(chan []*HostPlan)
			go func() { done <- e.Converge(ctx, memRules(names...), nil) }()
			first := <-started
			if how == "stop" {
				close(stop)
			} else {
				cancel()
			}
			close(release)
			plans := <-done
			for _, p := range plans {
				if p.Host.Name == first {
					switch {
					case how == "stop" && (p.Failed() || !p.Applied || strings.Join(fleet[first].rules, ",") != "tcp/6162"):
						t.Errorf("the host in flight (%s) did not finish its apply: %v %v", first, p.Err, p.ApplyErr)
					case how == "cancel" && (p.Applied || fleet[first].rules != nil || p.Err == nil):
						t.Errorf("the canceled host in flight (%s) was applied: %v %v, rules %v", first, p.Err, p.ApplyErr, fleet[first].rules)
					}
					continue
				}
				if how == "stop" && !errors.Is(p.Err, ErrStopped) ||
					how == "cancel" && (!errors.Is(p.Err, context.Canceled) || !strings.HasPrefix(p.Err.Error(), "not started")) {
					t.Errorf("%s: err %v, want not started", p.Host.Name, p.Err)
				}
				if p.Applied || p.ApplyErr != nil || fleet[p.Host.Name].rules != nil {
					t.Errorf("%s was not started, yet: applied %v, apply err %v, rules %v", p.Host.Name, p.Applied, p.ApplyErr, fleet[p.Host.Name].rules)
				}
				if _, ok := hooks.ended[p.Host.Name]; ok {
					t.Errorf("%s was not started, yet HostEnd came", p.Host.Name)
				}
			}
		})
	}
}

// With a failure budget (a hook that closes Stop after the first failed
// host, as --max-failed 1 does), the failed host's pipeline counts as the
// host started: no new host starts after it, and they say so.
func TestConvergeMaxFailedStopsNewHosts(t *testing.T) {
	fleet := memFleet{}
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		fleet[n] = &memHost{name: n, refuse: true}
	}
	hooks := &endHooks{stop: make(chan struct{}), stopAfter: 1}
	e := &Engine{Dialer: fleet, Platform: fleet, Parallel: 1, Hooks: hooks, Stop: hooks.stop}
	defer e.Close()
	var applied, stopped int
	for _, p := range e.Converge(context.Background(), memRules(names...), nil) {
		switch {
		case p.Err == nil && p.ApplyErr != nil && strings.Contains(p.ApplyErr.Error(), "refused"):
			applied++
		case errors.Is(p.Err, ErrStopped) && p.ApplyErr == nil:
			stopped++
		default:
			t.Errorf("%s: err %v, apply err %v", p.Host.Name, p.Err, p.ApplyErr)
		}
	}
	if applied != 1 || stopped != len(names)-1 {
		t.Errorf("%d hosts tried, %d not started; want 1 and %d", applied, stopped, len(names)-1)
	}
}
