package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/transport"
)

// fleetMetrics are the metrics of watch's /metrics and of one-shot runs'
// --metrics-file. Their names are an interface (docs/drift.md). They live
// in a private registry: no Go runtime metrics, nothing global.
type fleetMetrics struct {
	reg           *prometheus.Registry
	hostUp        *prometheus.GaugeVec
	inDrift       *prometheus.GaugeVec
	pending       *prometheus.GaugeVec
	remediations  *prometheus.CounterVec
	errs          *prometheus.CounterVec
	roundDuration prometheus.Histogram
	lastRound     prometheus.Gauge
	lastSuccess   prometheus.Gauge
	invValid      prometheus.Gauge
	hosts         *prometheus.GaugeVec
}

// Host states of portwarden_hosts and of /status.
const (
	stateInSync = "in_sync"
	stateDrift  = "drift"
	stateFailed = "failed"
)

func newFleetMetrics() *fleetMetrics {
	m := &fleetMetrics{
		reg: prometheus.NewRegistry(),
		hostUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "portwarden_host_up",
			Help: "1 when the host could be reached and read in the last round."}, []string{"host"}),
		inDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "portwarden_host_in_drift",
			Help: "1 when the last round's plan found the host differing from the policy (before any repair in that round)."}, []string{"host"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "portwarden_host_changes_pending",
			Help: "Plan changes the host still needs after the last round (0 once repaired)."}, []string{"host"}),
		remediations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portwarden_remediations_total",
			Help: "Changes applied to the host and verified by read-back."}, []string{"host"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portwarden_errors_total",
			Help: "Failures per host and kind (connect, auth, hostkey, timeout, plan, apply, verify)."}, []string{"host", "kind"}),
		roundDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "portwarden_round_duration_seconds",
			Help: "Duration of a round: plan of every host, and apply of the drifted ones when remediating.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 12)}),
		lastRound: prometheus.NewGauge(prometheus.GaugeOpts{Name: "portwarden_last_round_timestamp_seconds",
			Help: "When the last round ended (Unix time)."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "portwarden_last_success_timestamp_seconds",
			Help: "When the last round in which no host failed ended (Unix time)."}),
		invValid: prometheus.NewGauge(prometheus.GaugeOpts{Name: "portwarden_inventory_valid",
			Help: "1 when the inventory and policy last read were valid; 0 when the last read failed (the last valid one stays in force)."}),
		hosts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "portwarden_hosts",
			Help: "Managed hosts by state after the last round: in_sync, drift, failed."}, []string{"state"}),
	}
	m.reg.MustRegister(m.hostUp, m.inDrift, m.pending, m.remediations, m.errs, m.roundDuration,
		m.lastRound, m.lastSuccess, m.invValid, m.hosts)
	return m
}

// observePool exports what watch's connection pool does, read when
// scraped: a no-op round over warm connections adds to reused only.
func (m *fleetMetrics) observePool(p *orchestrator.ConnPool) {
	counter := func(name, help string, v func(orchestrator.PoolStats) int) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(p.Stats())) })
	}
	m.reg.MustRegister(
		counter("portwarden_connections_dialed_total", "Connections dialed for rounds (a handshake each; confirming an apply dials its own, not counted).",
			func(s orchestrator.PoolStats) int { return s.Dials }),
		counter("portwarden_connections_reused_total", "Connections kept from an earlier round and reused (no handshake).",
			func(s orchestrator.PoolStats) int { return s.Reused }),
		counter("portwarden_connections_dead_total", "Kept connections found dead by a keepalive and closed.",
			func(s orchestrator.PoolStats) int { return s.Dead }),
	)
}

// hostOutcome is one host's result of a round, as metrics, logs and
// /status see it: pure data, computed from the plan.
type hostOutcome struct {
	Host      string `json:"host"`
	Address   string `json:"address"`
	State     string `json:"state"`
	Up        bool   `json:"up"`
	Drift     bool   `json:"drift"`    // the round's plan found changes
	Changes   int    `json:"changes"`  // how many
	Pending   int    `json:"pending"`  // changes still needed after the round
	Repaired  bool   `json:"repaired"` // the round applied and verified them
	ErrorKind string `json:"error_kind,omitempty"`
	Error     string `json:"error,omitempty"`
}

func outcomeOf(p *orchestrator.HostPlan) hostOutcome {
	o := hostOutcome{Host: p.Host.Name, Address: p.Host.Address, Up: true}
	switch {
	case p.Err != nil:
		o.ErrorKind, o.Error = errorKind(p.Err, "plan"), p.Err.Error()
		o.Up = !connectionKind(o.ErrorKind)
		o.State = stateFailed
		return o
	}
	o.Drift, o.Changes = len(p.Changes) > 0, len(p.Changes)
	o.Pending = len(p.Changes)
	switch {
	case p.ApplyErr != nil:
		kind := "apply"
		if p.Applied {
			kind = "verify" // sent, but the read-back differs
		}
		o.ErrorKind, o.Error = errorKind(p.ApplyErr, kind), p.ApplyErr.Error()
		if p.Applied {
			o.Pending = len(p.Remaining)
		}
		o.State = stateFailed
	case p.Applied:
		o.Repaired, o.Pending = true, len(p.Remaining)
		o.State = stateInSync
	case o.Drift:
		o.State = stateDrift
	default:
		o.State = stateInSync
	}
	return o
}

// connectionKind reports whether an error kind means the host could not
// be reached or logged into.
func connectionKind(kind string) bool {
	switch kind {
	case "connect", "auth", "hostkey", "timeout":
		return true
	}
	return false
}

// errorKind classifies a host's error for portwarden_errors_total; def is
// the kind of errors that are none of the connection kinds.
func errorKind(err error, def string) string {
	var hk *transport.HostKeyError
	var ae *transport.AuthError
	var se *transport.SudoError
	switch {
	case errors.As(err, &hk):
		return "hostkey"
	case errors.As(err, &ae), errors.As(err, &se):
		return "auth"
	case strings.HasPrefix(err.Error(), "connecting to"), strings.Contains(err.Error(), ": connecting"):
		return "connect"
	case errors.Is(err, transport.ErrCommandTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return def
}

// observe records one round's outcomes. Gauges describe the last round
// only, so hosts that left the inventory disappear from them.
func (m *fleetMetrics) observe(outcomes []hostOutcome, took time.Duration, end time.Time) {
	m.hostUp.Reset()
	m.inDrift.Reset()
	m.pending.Reset()
	states := map[string]int{stateInSync: 0, stateDrift: 0, stateFailed: 0}
	for _, o := range outcomes {
		m.hostUp.WithLabelValues(o.Host).Set(b2f(o.Up))
		m.inDrift.WithLabelValues(o.Host).Set(b2f(o.Drift))
		m.pending.WithLabelValues(o.Host).Set(float64(o.Pending))
		m.remediations.WithLabelValues(o.Host).Add(b2f(o.Repaired))
		if o.ErrorKind != "" {
			m.errs.WithLabelValues(o.Host, o.ErrorKind).Inc()
		}
		states[o.State]++
	}
	for s, n := range states {
		m.hosts.WithLabelValues(s).Set(float64(n))
	}
	m.roundDuration.Observe(took.Seconds())
	m.lastRound.Set(float64(end.Unix()))
	if states[stateFailed] == 0 {
		m.lastSuccess.Set(float64(end.Unix()))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writeMetricsFile writes one run's metrics for node_exporter's textfile
// collector: to a temporary file next to path, renamed over it, so the
// collector never reads half a file.
func writeMetricsFile(path string, plans []*orchestrator.HostPlan, took time.Duration, end time.Time) error {
	m := newFleetMetrics()
	m.invValid.Set(1)
	m.observe(outcomes(plans), took, end)
	if err := prometheus.WriteToTextfile(path, m.reg); err != nil {
		return fmt.Errorf("writing metrics file: %w", err)
	}
	return nil
}

func outcomes(plans []*orchestrator.HostPlan) []hostOutcome {
	out := make([]hostOutcome, len(plans))
	for i, p := range plans {
		out[i] = outcomeOf(p)
	}
	return out
}
