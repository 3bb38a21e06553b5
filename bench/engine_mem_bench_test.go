package bench

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// fakeFleet is n in-memory hosts (transport/transporttest) planned with
// firewall.Fake. Each host also prints a ruleset section of rulesetKB, as
// a real host's facts carry its ruleset dump and manager files: the facts
// are what a plan held for every host at once.
type fakeFleet struct {
	hosts   map[string]*transporttest.Host
	backend *firewall.Fake
}

const factsBody = "print " + firewall.FakeSection + "\nprint ruleset\n"

func fakeRules(n int) []*orchestrator.HostRules {
	var rules []*orchestrator.HostRules
	for i := range n {
		rules = append(rules, &orchestrator.HostRules{
			Host: &inventory.Host{Name: fmt.Sprintf("h%d", i), Managed: true, Mode: rule.Additive},
			Rules: []orchestrator.Rule{{Rule: rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 6162, Hi: 6162}},
				Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}},
		})
	}
	return rules
}

func newFakeFleet(b *testing.B, rules []*orchestrator.HostRules, rulesetKB int) fakeFleet {
	f := fakeFleet{hosts: map[string]*transporttest.Host{}, backend: &firewall.Fake{}}
	dump := []byte(strings.Repeat("add rule inet foreign input tcp dport 9999 accept\n", rulesetKB*1024/50))
	for _, hr := range rules {
		h := &transporttest.Host{}
		if _, err := h.Conn().Run(context.Background(), transport.Script{Shell: "sh", Body: "put ruleset", Stdin: dump}); err != nil {
			b.Fatal(err)
		}
		f.hosts[hr.Host.Name] = h
	}
	return f
}

func (f fakeFleet) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	return f.hosts[h.Name].Conn(), nil
}
func (fakeFleet) FactsScript(*inventory.Host) (firewall.Script, error) {
	return firewall.Script{Shell: "sh", Body: factsBody}, nil
}
func (f fakeFleet) Backend(*inventory.Host, firewall.Facts) (firewall.Backend, error) {
	return f.backend, nil
}

// heapBytes is the live heap after a collection.
func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// peakHeap samples the heap's object bytes every millisecond until stop
// is closed, and sends the largest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkEngineMemory plans (and, for "apply", applies) a fake fleet of
// 2,000 hosts whose facts carry 32 KB each, every host changing, and
// reports the controller's memory: MB-retained is what the returned plans
// still hold once the run is over (the fleet's own memory subtracted),
// MB-peak-heap the largest live heap above the fleet's during the run.
// A plan keeps a host's facts only while an apply may need them, so
// plan-only runs retain no facts and applied hosts drop theirs.
func BenchmarkEngineMemory(b *testing.B) {
	const hosts, kb = 2000, 32
	for _, mode := range []string{"plan", "plan-keep-for-apply", "apply"} {
		b.Run(fmt.Sprintf("hosts=%d/facts=%dKB/%s", hosts, kb, mode), func(b *testing.B) {
			var retained, peak uint64
			for b.Loop() {
				b.StopTimer()
				rules := fakeRules(hosts)
				withRules := heapBytes()
				fleet := newFakeFleet(b, rules, kb)
				base := heapBytes()
				stop := make(chan struct{})
				peakc := peakHeap(stop)
				b.StartTimer()
				e := &orchestrator.Engine{Dialer: fleet, Platform: fleet, PlanOnly: mode == "plan"}
				plans := e.Plan(context.Background(), rules)
				if mode == "apply" {
					e.Apply(context.Background(), plans)
				}
				e.Close()
				b.StopTimer()
				close(stop)
				peak = max(peak, sub(<-peakc, base))
				for _, pl := range plans {
					if pl.Err != nil || pl.ApplyErr != nil || len(pl.Changes) == 0 {
						b.Fatalf("%s: err %v, apply %v, changes %d", pl.Host.Name, pl.Err, pl.ApplyErr, len(pl.Changes))
					}
				}
				// The fake hosts hold the dumps and record every script,
				// the Fake backend every Desired: fleet memory, not the
				// controller's. Drop them and count what the plans hold.
				e, fleet = nil, fakeFleet{}
				retained = max(retained, sub(heapBytes(), withRules))
				runtime.KeepAlive(plans)
				runtime.KeepAlive(rules)
				b.StartTimer()
			}
			b.ReportMetric(float64(retained)/(1<<20), "MB-retained")
			b.ReportMetric(float64(peak)/(1<<20), "MB-peak-heap")
		})
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
