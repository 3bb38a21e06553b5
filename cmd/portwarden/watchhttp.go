package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// watchStatus is /status: the last round and each host's state in it.
type watchStatus struct {
	FormatVersion   string       `json:"format_version"`
	Inventory       string       `json:"inventory"`
	InventoryValid  bool         `json:"inventory_valid"`
	InventoryDigest string       `json:"inventory_digest"`
	Remediate       bool         `json:"remediate"`
	Every           string       `json:"every"`
	Round           int          `json:"rounds"`
	LastRound       *roundStatus `json:"last_round"`
	NextRound       string       `json:"next_round,omitempty"`

	lastEnd time.Time
}

type roundStatus struct {
	Number          int           `json:"number"`
	Started         string        `json:"started"`
	Ended           string        `json:"ended"`
	DurationSeconds float64       `json:"duration_seconds"`
	Hosts           []hostOutcome `json:"hosts"`
}

// healthy reports whether rounds complete: one has, and the last ended
// no longer ago than two intervals (plus jitter and the round itself).
func (w *watcher) healthy(now time.Time) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status.LastRound == nil {
		return false, "no round has completed yet"
	}
	limit := 2*(w.flags.every+w.flags.jitter) + time.Duration(w.status.LastRound.DurationSeconds*float64(time.Second)) + 10*time.Second
	if age := now.Sub(w.status.lastEnd); age > limit {
		return false, fmt.Sprintf("the last round ended %s ago", age.Round(time.Second))
	}
	return true, "ok"
}

// serve starts the HTTP server on addr and logs the address it bound
// (":0" picks a free port). The returned func shuts it down.
func (w *watcher) serve(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		ok, why := w.healthy(time.Now())
		if !ok {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(rw, why)
	})
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		st := w.status
		w.mu.Unlock()
		st.FormatVersion, st.Inventory, st.Remediate, st.Every = formatVersion, w.flags.inventory, w.flags.remediate, w.flags.every.String()
		rw.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("serving HTTP", "error", err.Error())
		}
	}()
	w.log.Info("listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
