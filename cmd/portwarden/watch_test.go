package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/transport"
)

func TestOutcomeOf(t *testing.T) {
	h := &inventory.Host{Name: "h", Address: "198.18.0.1", Managed: true}
	one := []orchestrator.Change{{}}
	two := []orchestrator.Change{{}, {}}
	for _, tc := range []struct {
		name string
		plan orchestrator.HostPlan
		want hostOutcome
	}{
		{"in sync", orchestrator.HostPlan{Changes: []orchestrator.Change{}},
			hostOutcome{State: stateInSync, Up: true}},
		{"drift, not repaired", orchestrator.HostPlan{Changes: two},
			hostOutcome{State: stateDrift, Up: true, Drift: true, Changes: 2, Pending: 2}},
		{"drift, repaired", orchestrator.HostPlan{Changes: two, Applied: true},
			hostOutcome{State: stateInSync, Up: true, Drift: true, Changes: 2, Repaired: true}},
		{"unreachable", orchestrator.HostPlan{Err: errors.New("connecting to root@h:22: connection refused")},
			hostOutcome{State: stateFailed, ErrorKind: "connect", Error: "connecting to root@h:22: connection refused"}},
		{"host key", orchestrator.HostPlan{Err: fmt.Errorf("connecting to h: %w", &transport.HostKeyError{Kind: transport.HostKeyChanged})},
			hostOutcome{State: stateFailed, ErrorKind: "hostkey"}},
		{"auth", orchestrator.HostPlan{Err: fmt.Errorf("connecting to h: %w", &transport.AuthError{Err: errors.New("no")})},
			hostOutcome{State: stateFailed, ErrorKind: "auth"}},
		{"facts script failed: reachable", orchestrator.HostPlan{Err: errors.New("gathering facts: script exited 1")},
			hostOutcome{State: stateFailed, Up: true, ErrorKind: "plan", Error: "gathering facts: script exited 1"}},
		{"apply failed", orchestrator.HostPlan{Changes: one, ApplyErr: errors.New("applying: nft failed")},
			hostOutcome{State: stateFailed, Up: true, Drift: true, Changes: 1, Pending: 1, ErrorKind: "apply", Error: "applying: nft failed"}},
		{"read-back differs", orchestrator.HostPlan{Changes: two, Applied: true, ApplyErr: errors.New("read-back differs"), Remaining: one},
			hostOutcome{State: stateFailed, Up: true, Drift: true, Changes: 2, Pending: 1, ErrorKind: "verify", Error: "read-back differs"}},
		{"apply timed out", orchestrator.HostPlan{Changes: one, ApplyErr: fmt.Errorf("applying: %w", transport.ErrCommandTimeout)},
			hostOutcome{State: stateFailed, Up: true, Drift: true, Changes: 1, Pending: 1, ErrorKind: "timeout", Error: "applying: command timed out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.plan.Host = h
			got := outcomeOf(&tc.plan)
			tc.want.Host, tc.want.Address = "h", "198.18.0.1"
			if tc.want.Error == "" {
				got.Error = "" // long transport messages: the kind is what is tested
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("outcome (-want +got):\n%s", d)
			}
		})
	}
}

func TestWatchFlags(t *testing.T) {
	var stderr bytes.Buffer
	f, code := parseWatchFlags([]string{"--inventory", "x.hcl", "--listen", ":9750", "--state-dir", "/tmp/s"}, &stderr)
	if code >= 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if f.listen != "127.0.0.1:9750" || f.auditLog != "/tmp/s/audit.log" || f.every != 15*time.Minute {
		t.Errorf("defaults: listen %q audit %q every %s", f.listen, f.auditLog, f.every)
	}
	for _, bad := range [][]string{
		{"--inventory", "x.hcl", "--every", "10ms"},
		{"--inventory", "x.hcl", "--log-format", "xml"},
		{"--inventory", "x.hcl", "--jitter", "-1s"},
		{"--every", "1m"},
	} {
		stderr.Reset()
		if _, code := parseWatchFlags(bad, &stderr); code != exitInvalid || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, message %q; want 1 with a message", bad, code, stderr.String())
		}
	}
}

func TestWatchHealth(t *testing.T) {
	w := &watcher{flags: &watchFlags{every: time.Minute}}
	now := time.Now()
	if ok, _ := w.healthy(now); ok {
		t.Error("healthy before any round")
	}
	w.status.LastRound, w.status.lastEnd = &roundStatus{DurationSeconds: 1}, now.Add(-30*time.Second)
	if ok, why := w.healthy(now); !ok {
		t.Errorf("unhealthy 30s after a round of a 1m interval: %s", why)
	}
	if ok, _ := w.healthy(now.Add(5 * time.Minute)); ok {
		t.Error("healthy when no round ended for 5 intervals")
	}
}
