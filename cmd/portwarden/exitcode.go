package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portwarden/portwarden/orchestrator"
)

// Exit codes of the one-shot commands plan and apply, one table for both
// (docs/drift.md). A scheduler can act on each: 2 means "look, something
// drifted", 3 means "alert, and know that every other host was handled".
const (
	exitOK      = 0 // nothing to do, or every host converged
	exitInvalid = 1 // invalid input, or no host could be worked on
	exitChanges = 2 // with --detailed-exitcode: changes found (plan) or made (apply)
	exitPartial = 3 // some hosts failed (or probes did); every other host is done
)

// outcomeCode is the exit code of a plan or apply run over plans: pure,
// table-tested. changed says whether the run found (plan) or made (apply)
// changes; it only counts with detailed.
func outcomeCode(plans []*orchestrator.HostPlan, probeFailures int, changed, detailed bool) int {
	failed := 0
	for _, p := range plans {
		if p.Failed() {
			failed++
		}
	}
	switch {
	case len(plans) > 0 && failed == len(plans):
		return exitInvalid
	case failed > 0 || probeFailures > 0:
		return exitPartial
	case detailed && changed:
		return exitChanges
	}
	return exitOK
}

// applied reports whether an apply changed any host.
func applied(plans []*orchestrator.HostPlan) bool {
	for _, p := range plans {
		if p.Applied {
			return true
		}
	}
	return false
}

// maxFailed is --max-failed: a number of hosts, or a percentage of the
// hosts of the run. Zero means no limit.
type maxFailed struct {
	n       int
	percent bool
}

func (m *maxFailed) String() string {
	if m == nil || m.n == 0 {
		return ""
	}
	if m.percent {
		return strconv.Itoa(m.n) + "%"
	}
	return strconv.Itoa(m.n)
}

func (m *maxFailed) Set(s string) error {
	num, pct := strings.CutSuffix(s, "%")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || (pct && n > 100) {
		return fmt.Errorf("want a number of hosts (at least 1) or a percentage (1%%-100%%), not %q", s)
	}
	m.n, m.percent = n, pct
	return nil
}

// limit is the number of failed hosts, out of total, that stops the run;
// 0 means never. A percentage rounds up, so 10% of 5 hosts is 1.
func (m maxFailed) limit(total int) int {
	if !m.percent {
		return m.n
	}
	return max(1, (total*m.n+99)/100)
}

// oneShot holds the flags that plan and apply share beyond runFlags.
type oneShot struct {
	maxFailed   maxFailed
	metricsFile string
}

func addOneShotFlags(fs *flag.FlagSet, o *oneShot) {
	fs.Var(&o.maxFailed, "max-failed", "stop starting new hosts once `N` hosts (or N% of them) have failed; the hosts in flight finish")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "write the run's metrics to `file` in Prometheus text format, atomically (for node_exporter's textfile collector)")
}

// failGate counts the hosts that fail and closes Stop once limit have:
// the engine then starts no new host, as on the first Ctrl-C. It wraps the
// progress hooks so that nothing else changes. A host counts once, however
// many of its phases fail (a confirm that fails fails its apply too).
type failGate struct {
	orchestrator.Hooks
	limit  int
	stderr io.Writer

	mu     sync.Mutex
	failed map[string]bool
	once   sync.Once
	stop   chan struct{}
}

// gate wraps the session's engine with a failGate for m, if m sets a limit.
func (s *session) gate(m maxFailed, stderr io.Writer) {
	if m.n == 0 {
		return
	}
	g := &failGate{Hooks: s.engine.Hooks, limit: m.limit(len(s.managed())), stderr: stderr, stop: make(chan struct{})}
	parent := s.engine.Stop
	go func() {
		select {
		case <-parent:
			g.close()
		case <-g.stop:
		}
	}()
	s.engine.Hooks, s.engine.Stop = g, g.stop
}

func (g *failGate) close() { g.once.Do(func() { close(g.stop) }) }

// HostEnd passes orchestrator.HostEnder on to the wrapped hooks.
func (g *failGate) HostEnd(host string, err error) {
	if he, ok := g.Hooks.(orchestrator.HostEnder); ok {
		he.HostEnd(host, err)
	}
}

func (g *failGate) HostDone(host, phase string, err error) {
	if g.Hooks != nil {
		g.Hooks.HostDone(host, phase, err)
	}
	if err == nil || errors.Is(err, orchestrator.ErrStopped) {
		return
	}
	g.mu.Lock()
	trip := false
	if !g.failed[host] {
		if g.failed == nil {
			g.failed = map[string]bool{}
		}
		g.failed[host] = true
		trip = len(g.failed) == g.limit
	}
	g.mu.Unlock()
	if trip {
		fmt.Fprintf(g.stderr, "portwarden: %s failed (--max-failed %d): starting no new host; the hosts in flight finish.\n", countHosts(g.limit), g.limit)
		g.close()
	}
}

// writeMetrics writes --metrics-file, if asked; a non-negative code means
// it failed and the run must exit with it.
func (o oneShot) writeMetrics(plans []*orchestrator.HostPlan, began time.Time, stderr io.Writer) int {
	if o.metricsFile == "" {
		return -1
	}
	now := time.Now()
	if err := writeMetricsFile(o.metricsFile, plans, now.Sub(began), now); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitInvalid
	}
	return -1
}
