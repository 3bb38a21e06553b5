package transport

import (
	"context"
	"sync"
)

// Handshakes bounds the SSH handshakes in flight during a run, apart from
// the number of hosts being worked on: sshd drops connections beyond
// MaxStartups (10:30:100 by default: past 10 unauthenticated connections
// it drops 30% of new ones, rising to all at 100), and a burst of hundreds
// of connections to one sshd, a bastion above all, fails most of them.
//
// Two limits apply to each handshake (TCP connect, key exchange and
// authentication; waiting for a turn does not count against the connect
// timeout):
//   - at most InFlight handshakes at once in all;
//   - to one sshd (address and port) at most its window, which starts at
//     Initial, grows by one with every handshake that succeeds (the ramp
//     up) up to a ceiling, at first PerServer. A handshake that fails in a
//     way that says the server is busy (refused, reset, EOF before the
//     banner, timed out: see transientDialError) halves the window and
//     lowers the ceiling below the window it failed at, for the rest of the
//     run: an sshd with a low MaxStartups is found once, not probed again
//     and again. A retry (dialRetry, with jittered backoff) then waits for
//     a turn in the smaller window.
//
// A nil *Handshakes limits nothing. The zero value is not ready: use
// NewHandshakes.
type Handshakes struct {
	limits HandshakeLimits

	mu       sync.Mutex
	inFlight int
	servers  map[string]*serverWindow
	changed  chan struct{} // closed and replaced when a turn may be free
	peak     int
}

// HandshakeLimits configures Handshakes; a zero field takes its default.
type HandshakeLimits struct {
	InFlight  int // default DefaultHandshakesInFlight
	PerServer int // default DefaultHandshakesPerServer
	Initial   int // default DefaultHandshakesInitial
}

// Defaults of HandshakeLimits. PerServer stays under MaxStartups' default
// start (10) so that a default sshd never drops one of ours; Initial is
// low enough for a server configured far below that default.
const (
	DefaultHandshakesInFlight  = 32
	DefaultHandshakesPerServer = 8
	DefaultHandshakesInitial   = 2
)

type serverWindow struct {
	inFlight int
	window   int
	ceiling  int
	peak     int
}

// NewHandshakes returns a limiter for one run.
func NewHandshakes(l HandshakeLimits) *Handshakes {
	if l.InFlight <= 0 {
		l.InFlight = DefaultHandshakesInFlight
	}
	if l.PerServer <= 0 {
		l.PerServer = DefaultHandshakesPerServer
	}
	if l.Initial <= 0 {
		l.Initial = DefaultHandshakesInitial
	}
	l.Initial = min(l.Initial, l.PerServer)
	return &Handshakes{limits: l, servers: map[string]*serverWindow{}, changed: make(chan struct{})}
}

// acquire waits for a turn to shake hands with the sshd at server
// ("host:port") and returns the function that ends the turn: busy says
// whether the handshake failed as a busy server does.
func (h *Handshakes) acquire(ctx context.Context, server string) (done func(ok, busy bool), err error) {
	if h == nil {
		return func(bool, bool) {}, nil
	}
	h.mu.Lock()
	for {
		s := h.servers[server]
		if s == nil {
			s = &serverWindow{window: h.limits.Initial, ceiling: h.limits.PerServer}
			h.servers[server] = s
		}
		if h.inFlight < h.limits.InFlight && s.inFlight < s.window {
			h.inFlight++
			s.inFlight++
			h.peak = max(h.peak, h.inFlight)
			s.peak = max(s.peak, s.inFlight)
			h.mu.Unlock()
			var once sync.Once
			return func(ok, busy bool) { once.Do(func() { h.release(s, ok, busy) }) }, nil
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
	}
}

func (h *Handshakes) release(s *serverWindow, ok, busy bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight--
	s.inFlight--
	s.window, s.ceiling = nextWindow(s.window, s.ceiling, ok, busy)
	close(h.changed)
	h.changed = make(chan struct{})
}

// nextWindow is the ramp: on success the window grows by one up to the
// ceiling; on a busy server it halves and the ceiling drops below the
// window that failed. Neither goes below one.
func nextWindow(w, ceiling int, ok, busy bool) (window, newCeiling int) {
	switch {
	case ok:
		w++
	case busy:
		ceiling = min(ceiling, w-1)
		w /= 2
	}
	ceiling = max(ceiling, 1)
	return min(max(w, 1), ceiling), ceiling
}

// HandshakeStats are the peaks a Handshakes saw, for tests and benchmarks.
type HandshakeStats struct {
	// Peak is the most handshakes in flight at once; PeakPerServer the
	// most to any one sshd.
	Peak, PeakPerServer int
}

// Stats returns the peaks so far.
func (h *Handshakes) Stats() HandshakeStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HandshakeStats{Peak: h.peak}
	for _, s := range h.servers {
		st.PeakPerServer = max(st.PeakPerServer, s.peak)
	}
	return st
}
