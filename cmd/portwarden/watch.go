package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
)

// watchFlags are watch's options.
type watchFlags struct {
	common
	every, jitter time.Duration
	remediate     bool
	listen        string
	logFormat     string
	stateDir      string
	auditLog      string
	connectFlags
	keepConnections int
	profile         profileFlags
}

const watchSynopsis = "watch --inventory FILE --every 15m [--jitter 1m] [--remediate] [--listen ADDR] [--log-format text|json] [--state-dir DIR] [--audit-log FILE] [--keep-connections N]"

func parseWatchFlags(args []string, stderr io.Writer) (*watchFlags, int) {
	var w watchFlags
	fs := newFlagSet("watch", watchSynopsis, stderr, &w.common)
	fs.DurationVar(&w.every, "every", 15*time.Minute, "time between the starts of two rounds")
	fs.DurationVar(&w.jitter, "jitter", 0, "add a random delay up to this long to each interval, so that many controllers do not run at once")
	fs.BoolVar(&w.remediate, "remediate", false, "apply what drifted, host by host (without it, watch only reports)")
	fs.StringVar(&w.listen, "listen", "", "serve /metrics, /healthz and /status on this `address` (\":9750\" means loopback; give 0.0.0.0:9750 for every interface)")
	fs.StringVar(&w.logFormat, "log-format", "text", "log format: text or json (for journald, Loki)")
	fs.StringVar(&w.stateDir, "state-dir", "/var/lib/portwarden", "`directory` for the lock file and the default audit log")
	fs.StringVar(&w.auditLog, "audit-log", "", "append one JSON line per host change to `file` (default STATE-DIR/audit.log)")
	addConnectFlags(fs, &w.connectFlags)
	fs.IntVar(&w.keepConnections, "keep-connections", orchestrator.DefaultPoolMax,
		"SSH connections kept open between rounds (checked with keepalives, replaced when dead); 0 opens new ones each round")
	addProfileFlags(fs, &w.profile)
	if code := parseFlags(fs, args, &w.common); code >= 0 {
		return nil, code
	}
	bad := func(format string, a ...any) (*watchFlags, int) {
		fmt.Fprintf(stderr, "portwarden watch: "+format+"\n", a...)
		return nil, exitInvalid
	}
	connErr := w.connectFlags.check()
	switch {
	case w.every < time.Second:
		return bad("--every must be at least 1s, not %s", w.every)
	case w.jitter < 0:
		return bad("--jitter must not be negative")
	case w.logFormat != "text" && w.logFormat != "json":
		return bad("--log-format must be text or json, not %q", w.logFormat)
	case connErr != "":
		return bad("%s", connErr)
	case w.keepConnections < 0:
		return bad("--keep-connections must not be negative")
	}
	if w.auditLog == "" {
		w.auditLog = filepath.Join(w.stateDir, "audit.log")
	}
	if w.listen != "" && strings.HasPrefix(w.listen, ":") {
		w.listen = "127.0.0.1" + w.listen
	}
	return &w, -1
}

// watchConfig is one valid reading of the inventory and policy.
type watchConfig struct {
	inv    *inventory.Inventory
	rules  []*orchestrator.HostRules
	digest string
}

// watcher runs rounds. cfg is replaced by SIGHUP when the new reading is
// valid; a round uses the config it started with.
type watcher struct {
	flags   *watchFlags
	log     *slog.Logger
	metrics *fleetMetrics
	stop    <-chan struct{}
	// dialer and pool outlive rounds: bastion connections, the handshake
	// pacing and, with --keep-connections, the hosts' connections.
	dialer orchestrator.TransportDialer
	pool   *orchestrator.ConnPool

	mu     sync.Mutex
	cfg    *watchConfig
	status watchStatus
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code := parseWatchFlags(args, stderr)
	if code >= 0 {
		return code
	}
	if err := startProfiles(f.profile); err != nil {
		fmt.Fprintf(stderr, "portwarden watch: %s\n", err)
		return exitInvalid
	}
	watching.Store(true) // an interrupt during a reload still ends watch gracefully
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return watch(ctx, f, stderr, stopRequested, hup)
}

// watch runs rounds until stop is closed; each value on reload re-reads
// the inventory and policy.
func watch(ctx context.Context, f *watchFlags, stderr io.Writer, stop <-chan struct{}, reload <-chan os.Signal) int {
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if f.logFormat == "json" {
		h = slog.NewJSONHandler(stderr, nil)
	}
	w := &watcher{flags: f, log: slog.New(h), metrics: newFleetMetrics(), stop: stop,
		dialer: f.dialer()}
	if f.keepConnections > 0 {
		w.pool = &orchestrator.ConnPool{Max: f.keepConnections}
		defer w.pool.Close()
		w.metrics.observePool(w.pool)
	}

	if err := os.MkdirAll(f.stateDir, 0o750); err != nil {
		fmt.Fprintf(stderr, "portwarden watch: creating the state directory: %s\n", err)
		return exitInvalid
	}
	lp, err := lockPath(f.stateDir, f.inventory)
	if err != nil {
		fmt.Fprintf(stderr, "portwarden watch: %s\n", err)
		return exitInvalid
	}
	lock, err := acquireLock(lp)
	if err != nil {
		fmt.Fprintf(stderr, "portwarden watch: %s\n", err)
		return exitInvalid
	}
	defer lock.release()

	if !w.firstLoad(ctx) {
		select {
		case <-stop:
			w.log.Info("stopped while loading the inventory: no host was contacted")
			return exitOK
		default:
		}
		return exitInvalid // the first reading must be valid: there is nothing to keep
	}
	if f.listen != "" {
		shutdown, err := w.serve(f.listen)
		if err != nil {
			fmt.Fprintf(stderr, "portwarden watch: %s\n", err)
			return exitInvalid
		}
		defer shutdown()
	}
	go func() {
		for range reload {
			w.log.Info("reloading the inventory and policy", "signal", "SIGHUP")
			w.reload(ctx)
		}
	}()
	w.log.Info("watching", "inventory", f.inventory, "every", f.every.String(), "jitter", f.jitter.String(),
		"remediate", f.remediate, "audit_log", f.auditLog)
	for {
		w.round(ctx)
		wait := f.every
		if f.jitter > 0 {
			wait += rand.N(f.jitter)
		}
		w.mu.Lock()
		w.status.NextRound = time.Now().Add(wait).UTC().Format(time.RFC3339)
		w.mu.Unlock()
		select {
		case <-stop:
			w.log.Info("stopped")
			return exitOK
		case <-ctx.Done():
			w.log.Info("canceled")
			return exitOK
		case <-time.After(wait):
		}
	}
}

// firstLoad is the first reload, canceled when stop closes: until it
// returns, no host is contacted, so a stop (SIGTERM from systemd) ends
// watch at once even if resolving a name blocks.
func (w *watcher) firstLoad(ctx context.Context) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return w.reload(ctx)
}

// reload reads the inventory and policy; an invalid reading is logged
// with its diagnostics (file:line) and sets portwarden_inventory_valid 0,
// and the last valid config stays in force.
func (w *watcher) reload(ctx context.Context) bool {
	var diagOut bytes.Buffer
	c := w.flags.common
	c.format = "json" // diagnostics as JSON, to log them one by one
	inv, _, rules, ok := computeRules(ctx, &c, &diagOut)
	if ctx.Err() != nil {
		return false // canceled: what it found (names that "did not resolve") is not about the inventory
	}
	w.logDiagnostics(diagOut.Bytes(), ok)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		w.metrics.invValid.Set(0)
		w.status.InventoryValid = false
		if w.cfg != nil {
			w.log.Error("the inventory or policy is invalid: keeping the last valid one", "inventory", w.flags.inventory)
		}
		return false
	}
	w.cfg = &watchConfig{inv: inv, rules: rules, digest: inventoryDigest(inv)}
	w.metrics.invValid.Set(1)
	w.status.InventoryValid = true
	w.status.InventoryDigest = w.cfg.digest
	w.log.Info("inventory loaded", "inventory", w.flags.inventory, "hosts", len(rules), "digest", w.cfg.digest)
	return true
}

// logDiagnostics logs what computeRules wrote: a JSON diagnostics
// document, or an error line.
func (w *watcher) logDiagnostics(out []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var doc struct {
			Diagnostics []jsonDiagnostic `json:"diagnostics"`
		}
		if err := dec.Decode(&doc); err != nil {
			rest, _ := io.ReadAll(dec.Buffered())
			if text := strings.TrimSpace(string(rest)); text != "" && err != io.EOF {
				w.log.Error("loading the inventory", "error", text)
			}
			return
		}
		for _, d := range doc.Diagnostics {
			attrs := []any{"severity", d.Severity, "summary", d.Summary, "detail", d.Detail}
			if d.Range != nil {
				attrs = append([]any{"file", d.Range.Filename, "line", d.Range.Start.Line, "column", d.Range.Start.Column,
					"pos", fmt.Sprintf("%s:%d:%d", d.Range.Filename, d.Range.Start.Line, d.Range.Start.Column)}, attrs...)
			}
			if d.Severity == "error" {
				w.log.Error("inventory diagnostic", attrs...)
			} else {
				w.log.Warn("inventory diagnostic", attrs...)
			}
		}
	}
}

func (w *watcher) config() *watchConfig {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg
}

// round plans every host, and with --remediate applies the drifted ones;
// a host that fails never stops the others. The last round's connections
// are reused when they still answer a keepalive (a no-op round costs one
// command per host and no handshake); a dead one is replaced by a new
// dial, and a host that was down is simply tried again.
func (w *watcher) round(ctx context.Context) {
	cfg := w.config()
	start := time.Now()
	eng := &orchestrator.Engine{
		Dialer:            w.dialer,
		Pool:              w.pool,
		Platform:          orchestrator.HostPlatform{},
		Parallel:          w.flags.parallel,
		ManagementSources: cfg.inv.ManagementSources,
		Stop:              w.stop,
	}
	defer eng.Close()
	plans := eng.Plan(ctx, cfg.rules)
	if w.flags.remediate {
		eng.Apply(ctx, plans)
		if err := (auditLog{w.flags.auditLog}).append(auditEntries("watch", plans, cfg.digest, time.Now())); err != nil {
			w.log.Error("writing the audit log", "error", err.Error())
		}
	}
	end := time.Now()
	outs := outcomes(plans)
	w.metrics.observe(outs, end.Sub(start), end)
	w.logRound(outs, end.Sub(start))
	w.mu.Lock()
	w.status.Round++
	w.status.LastRound = &roundStatus{Number: w.status.Round, Started: start.UTC().Format(time.RFC3339Nano),
		Ended: end.UTC().Format(time.RFC3339Nano), DurationSeconds: end.Sub(start).Seconds(), Hosts: outs}
	w.status.lastEnd = end
	w.mu.Unlock()
}

// logRound logs a line per host that drifted, was repaired or failed, and
// one summary line.
func (w *watcher) logRound(outs []hostOutcome, took time.Duration) {
	counts := map[string]int{}
	repaired := 0
	for _, o := range outs {
		counts[o.State]++
		switch {
		case o.State == stateFailed && strings.HasPrefix(o.Error, "not started"):
			// Stopped before its turn: not this host's failure.
		case o.State == stateFailed:
			w.log.Error("host failed", "host", o.Host, "kind", o.ErrorKind, "error", o.Error)
		case o.Repaired:
			repaired++
			w.log.Info("host repaired", "host", o.Host, "changes", o.Changes)
		case o.Drift:
			w.log.Warn("host in drift", "host", o.Host, "changes", o.Pending)
		}
	}
	w.log.Info("round done", "hosts", len(outs), "in_sync", counts[stateInSync], "drift", counts[stateDrift],
		"failed", counts[stateFailed], "repaired", repaired, "duration", took.Round(time.Millisecond).String())
}
