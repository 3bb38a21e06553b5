package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress implements orchestrator.Hooks: a bar on a terminal, a line per
// host elsewhere (logs, CI), a JSON event stream for machines, or nothing.
type progress struct {
	w    io.Writer
	mode string // "bar", "lines", "json", "none"
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	// perHost: the bar counts hosts done (HostEnd), not phases done.
	perHost bool
	// failed are the per-host errors not yet written: without lines or
	// json events, finish writes them, each with its host.
	failed []string
}

func newProgress(w io.Writer, mode, format string) *progress {
	if mode == "auto" {
		mode = "none"
		if f, ok := rawWriter(w).(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) && format == "text" {
			mode = "bar"
		}
	}
	if mode == "bar" {
		// The bar draws with \r and escapes, and prints only our text.
		w = rawWriter(w)
	}
	return &progress{w: w, mode: mode}
}

func (p *progress) start(what string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.perHost = false
	p.newBar(what, total)
}

// startHosts starts a bar over total hosts, each counted once when the
// engine is done with it (orchestrator.HostEnder): for Converge, whose
// hosts are planned, and applied if they have changes, in one slot.
func (p *progress) startHosts(what string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.perHost = true
	p.newBar(what, total)
}

func (p *progress) newBar(what string, total int) {
	if p.mode != "bar" || total == 0 {
		return
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(0),
	)
}

// above runs write, which writes to stdout, with the bar taken off the
// terminal and drawn again after it, so that text streamed while the
// engine works does not run into the bar.
func (p *progress) above(write func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		write()
		return
	}
	_ = p.bar.Clear()
	write()
	_ = p.bar.RenderBlank()
}

// HostEnd implements orchestrator.HostEnder: a bar over hosts counts it.
func (p *progress) HostEnd(string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil && p.perHost {
		_ = p.bar.Add(1)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	for _, f := range p.failed {
		fmt.Fprintln(p.w, f)
	}
	p.failed = nil
}

// progressEvent is one line of --progress json: a stable, versioned wire
// form, one JSON object per line.
type progressEvent struct {
	FormatVersion string `json:"format_version"`
	Time          string `json:"time"`
	Host          string `json:"host"`
	Phase         string `json:"phase"`
	Event         string `json:"event"` // "start", "done" or "failed"
	Error         string `json:"error,omitempty"`
}

func (p *progress) event(host, phase, ev string, err error) {
	e := progressEvent{FormatVersion: formatVersion, Time: time.Now().UTC().Format(time.RFC3339Nano), Host: host, Phase: phase, Event: ev}
	if err != nil {
		e.Error = err.Error()
	}
	b, _ := json.Marshal(e)
	p.w.Write(append(b, '\n'))
}

func (p *progress) HostStart(host, phase string) {
	if p.mode == "json" {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.event(host, phase, "start", nil)
	}
}

func (p *progress) HostDone(host, phase string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "bar":
		if p.bar != nil && phase != "confirm" && !p.perHost { // confirm: part of the host's apply
			_ = p.bar.Add(1)
		}
		p.keep(host, phase, err)
	case "json":
		ev := "done"
		if err != nil {
			ev = "failed"
		}
		p.event(host, phase, ev, err)
	case "lines":
		if err != nil {
			fmt.Fprintf(p.w, "%s: %s failed: %s\n", host, phase, indentRest(err.Error(), "  "))
		} else {
			fmt.Fprintf(p.w, "%s: %s done\n", host, phase)
		}
	default:
		p.keep(host, phase, err)
	}
}

// keep holds a host's error for finish: under a bar, or with no progress
// display, the errors come after the phase, each with its host.
func (p *progress) keep(host, phase string, err error) {
	if err != nil {
		p.failed = append(p.failed, fmt.Sprintf("Error: %s: %s failed: %s", host, phase, indentRest(err.Error(), "  ")))
	}
}
