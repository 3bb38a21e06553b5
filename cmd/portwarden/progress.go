package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress implements orchestrator.Hooks: a bar on a terminal, a line per
// host elsewhere (logs, CI), or nothing.
type progress struct {
	w    io.Writer
	mode string // "bar", "lines", "none"
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
}

func newProgress(w io.Writer, mode, format string) *progress {
	if mode == "auto" {
		mode = "none"
		if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) && format == "text" {
			mode = "bar"
		}
	}
	return &progress{w: w, mode: mode}
}

func (p *progress) start(what string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
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

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

func (p *progress) HostStart(host, phase string) {}

func (p *progress) HostDone(host, phase string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "bar":
		if p.bar != nil {
			_ = p.bar.Add(1)
		}
	case "lines":
		if err != nil {
			fmt.Fprintf(p.w, "%s: %s failed\n", host, phase)
		} else {
			fmt.Fprintf(p.w, "%s: %s done\n", host, phase)
		}
	}
}
