package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
)

func TestOutcomeCode(t *testing.T) {
	ok := func() *orchestrator.HostPlan { return &orchestrator.HostPlan{Changes: []orchestrator.Change{}} }
	drift := func() *orchestrator.HostPlan { return &orchestrator.HostPlan{Changes: []orchestrator.Change{{}}} }
	down := func() *orchestrator.HostPlan {
		return &orchestrator.HostPlan{Err: errors.New("connecting to x: refused")}
	}
	repaired := func() *orchestrator.HostPlan {
		p := drift()
		p.Applied = true
		return p
	}
	applyFailed := func() *orchestrator.HostPlan {
		p := drift()
		p.ApplyErr = errors.New("applying: nft failed")
		return p
	}
	type plans = []*orchestrator.HostPlan
	for _, tc := range []struct {
		name     string
		plans    plans
		probes   int
		changed  bool
		detailed bool
		want     int
	}{
		{"no hosts", nil, 0, false, true, exitOK},
		{"all in sync", plans{ok(), ok()}, 0, false, true, exitOK},
		{"drift, plain exit code", plans{ok(), drift()}, 0, true, false, exitOK},
		{"drift, detailed", plans{ok(), drift()}, 0, true, true, exitChanges},
		{"repaired, detailed", plans{ok(), repaired()}, 0, true, true, exitChanges},
		{"one down, drift elsewhere", plans{down(), drift()}, 0, true, true, exitPartial},
		{"one down, the rest in sync", plans{down(), ok()}, 0, false, false, exitPartial},
		{"apply failed on one, repaired the other", plans{applyFailed(), repaired()}, 0, true, true, exitPartial},
		{"probes failed", plans{repaired()}, 1, true, true, exitPartial},
		{"every host down", plans{down(), down()}, 0, false, true, exitInvalid},
		{"every apply failed", plans{applyFailed()}, 0, false, true, exitInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := outcomeCode(tc.plans, tc.probes, tc.changed, tc.detailed); got != tc.want {
				t.Errorf("outcomeCode = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMaxFailedFlag(t *testing.T) {
	for _, tc := range []struct {
		in      string
		total   int
		want    int
		wantErr bool
	}{
		{"1", 10, 1, false},
		{"3", 2, 3, false},
		{"10%", 5, 1, false},
		{"50%", 5, 3, false},
		{"100%", 4, 4, false},
		{"0", 0, 0, true},
		{"-2", 0, 0, true},
		{"101%", 0, 0, true},
		{"x%", 0, 0, true},
	} {
		var m maxFailed
		err := m.Set(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("Set(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && m.limit(tc.total) != tc.want {
			t.Errorf("%q of %d hosts: limit %d, want %d", tc.in, tc.total, m.limit(tc.total), tc.want)
		}
		if err == nil && m.String() != tc.in {
			t.Errorf("String() = %q, want %q", m.String(), tc.in)
		}
	}
}

// TestFailGate: the gate closes Stop at the limit, counts neither
// successes nor hosts a stop kept from starting, and passes every event on.
func TestFailGate(t *testing.T) {
	var events bytes.Buffer
	s := &session{engine: &orchestrator.Engine{Hooks: &progress{w: &events, mode: "lines"}, Stop: make(chan struct{})}}
	for _, name := range []string{"a", "b", "c", "d"} {
		s.rules = append(s.rules, &orchestrator.HostRules{Host: hostNamed(name)})
	}
	var stderr bytes.Buffer
	var m maxFailed
	if err := m.Set("50%"); err != nil {
		t.Fatal(err)
	}
	s.gate(m, &stderr)
	g := s.engine.Hooks.(*failGate)
	if g.limit != 2 {
		t.Fatalf("limit %d, want 2 (50%% of 4)", g.limit)
	}
	stopped := func() bool {
		select {
		case <-s.engine.Stop:
			return true
		default:
			return false
		}
	}
	g.HostDone("a", "plan", nil)
	g.HostDone("b", "plan", errors.New("connecting to b: refused"))
	g.HostDone("c", "plan", orchestrator.ErrStopped)
	if stopped() {
		t.Fatal("stopped after one failure, want two")
	}
	g.HostDone("d", "apply", errors.New("applying: failed"))
	if !stopped() {
		t.Fatal("not stopped after two failures")
	}
	g.HostDone("a", "apply", errors.New("applying: failed")) // a third must not close twice
	if got := bytes.Count(events.Bytes(), []byte("\n")); got != 5 {
		t.Errorf("the wrapped hooks saw %d events, want 5:\n%s", got, events.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("--max-failed 2")) {
		t.Errorf("no message about the stop: %q", stderr.String())
	}
}

// TestFailGateFollowsInterrupt: a closed parent Stop (Ctrl-C) closes the
// gate's Stop too.
func TestFailGateFollowsInterrupt(t *testing.T) {
	parent := make(chan struct{})
	s := &session{engine: &orchestrator.Engine{Hooks: orchestrator.NoHooks{}, Stop: parent},
		rules: []*orchestrator.HostRules{{Host: hostNamed("a")}}}
	s.gate(maxFailed{n: 5}, &bytes.Buffer{})
	close(parent)
	<-s.engine.Stop // hangs (and the test times out) if the interrupt is lost
}

func hostNamed(name string) *inventory.Host { return &inventory.Host{Name: name, Managed: true} }
