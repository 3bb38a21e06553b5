package transport

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 100 * ms}, {1, 0.5, 150 * ms}, {1, 1, 200 * ms},
		{2, 0, 200 * ms}, {2, 1, 400 * ms},
		{3, 0.25, 500 * ms},
		{4, 1, 1600 * ms},
		{5, 0, 1000 * ms}, {5, 1, 2000 * ms}, // capped at sshBackoffMax
		{40, 1, 2000 * ms}, {0, 0, 1000 * ms}, // no overflow, no zero
		{2, -3, 200 * ms}, {2, 7, 400 * ms}, // jitter clamped to [0, 1]
	} {
		if got := backoff(tt.n, tt.jitter); got != tt.want {
			t.Errorf("backoff(%d, %v) = %s, want %s", tt.n, tt.jitter, got, tt.want)
		}
	}
}

func TestAttemptLimit(t *testing.T) {
	if got := attemptLimit(errors.New("ssh: handshake failed: EOF")); got != sshDialAttempts {
		t.Errorf("dropped handshake: %d attempts, want %d", got, sshDialAttempts)
	}
	if got := attemptLimit(timeoutErr{}); got != 2 {
		t.Errorf("dial timeout: %d attempts, want 2", got)
	}
}

func TestNextWindow(t *testing.T) {
	for _, tt := range []struct {
		w, ceiling       int
		ok, busy         bool
		want, wantCeilng int
	}{
		{2, 8, true, false, 3, 8},   // ramp up
		{8, 8, true, false, 8, 8},   // up to the ceiling
		{8, 8, false, true, 4, 7},   // a busy server halves it, the ceiling drops below 8
		{3, 8, false, true, 1, 2},   // MaxStartups 2: found at the third
		{2, 2, true, false, 2, 2},   // and kept there
		{1, 8, false, true, 1, 1},   // never below one
		{5, 8, false, false, 5, 8},  // an answer (auth refused...) changes nothing
		{12, 8, false, false, 8, 8}, // never above the ceiling
	} {
		w, c := nextWindow(tt.w, tt.ceiling, tt.ok, tt.busy)
		if w != tt.want || c != tt.wantCeilng {
			t.Errorf("nextWindow(%d, %d, ok %v, busy %v) = %d, %d; want %d, %d", tt.w, tt.ceiling, tt.ok, tt.busy, w, c, tt.want, tt.wantCeilng)
		}
	}
}

// TestHandshakesBound: many dials at once to one server never have more
// handshakes in flight than its window, which ramps up with successes.
func TestHandshakesBound(t *testing.T) {
	h := NewHandshakes(HandshakeLimits{InFlight: 5, PerServer: 4, Initial: 1})
	var inA, peakA, inAll, peakAll atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			server := "a:22"
			if i%2 == 1 {
				server = "b" + string(rune('0'+i%10)) + ":22"
			}
			done, err := h.acquire(context.Background(), server)
			if err != nil {
				t.Error(err)
				return
			}
			n := inAll.Add(1)
			peakAll.Store(max(peakAll.Load(), n))
			if server == "a:22" {
				m := inA.Add(1)
				peakA.Store(max(peakA.Load(), m))
			}
			time.Sleep(time.Millisecond)
			// Leave the counts before the turn ends: counted after done,
			// the next holder could be counted while this one still is.
			if server == "a:22" {
				inA.Add(-1)
			}
			inAll.Add(-1)
			done(true, false)
		}()
	}
	wg.Wait()
	st := h.Stats()
	if st.Peak > 5 || st.PeakPerServer > 4 || peakAll.Load() > 5 || peakA.Load() > 4 {
		t.Errorf("peaks: %+v, observed all %d, one server %d; want <= 5 and <= 4", st, peakAll.Load(), peakA.Load())
	}
	if w := h.servers["a:22"].window; w != 4 {
		t.Errorf("window after 30 successes = %d, want the cap 4", w)
	}
	// A busy server halves it; a waiting dial gives up with its context.
	done, _ := h.acquire(context.Background(), "c:22")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.acquire(ctx, "c:22"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second turn on a window of %d: %v, want to wait until the context ends", h.servers["c:22"].window, err)
	}
	done(false, true)
	if w := h.servers["c:22"].window; w != 1 {
		t.Errorf("window after a busy failure = %d, want it to stay at the floor 1", w)
	}
	// Ramped up to 3, a busy failure halves the window to 1 and lowers
	// the ceiling below the 3 it failed at.
	for range 2 {
		d, _ := h.acquire(context.Background(), "d:22")
		d(true, false)
	}
	if w := h.servers["d:22"].window; w != 3 {
		t.Fatalf("window after 2 successes from 1 = %d, want 3", w)
	}
	d, _ := h.acquire(context.Background(), "d:22")
	d(false, true)
	if s := h.servers["d:22"]; s.window != 1 || s.ceiling != 2 {
		t.Errorf("after a busy failure at 3: window %d ceiling %d, want 1 and 2", s.window, s.ceiling)
	}
	var nilH *Handshakes
	if d, err := nilH.acquire(context.Background(), "x:22"); err != nil || d == nil {
		t.Errorf("nil Handshakes: %v", err)
	}
}
