package orchestrator

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// kaConn is a fake host's connection that answers keepalives until it is
// cut.
type kaConn struct {
	transport.Conn
	cut    atomic.Bool
	closed atomic.Bool
	kept   atomic.Int32 // KeepShell calls
}

func (c *kaConn) KeepShell() { c.kept.Add(1) }

func (c *kaConn) KeepAlive(context.Context) error {
	if c.cut.Load() || c.closed.Load() {
		return errors.New("connection lost")
	}
	return nil
}

func (c *kaConn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	if c.cut.Load() || c.closed.Load() {
		return transport.Result{ExitCode: -1}, errors.New("connection lost")
	}
	return c.Conn.Run(ctx, s)
}

func (c *kaConn) Close() error { c.closed.Store(true); return nil }

// kaFleet dials kaConns to fakeFleet's hosts and remembers them.
type kaFleet struct {
	fakeFleet
	mu    sync.Mutex
	conns map[string][]*kaConn
}

func (f *kaFleet) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	c, err := f.fakeFleet.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	kc := &kaConn{Conn: c}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[h.Name] = append(f.conns[h.Name], kc)
	return kc, nil
}

func (f *kaFleet) dials(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns[name])
}

func (f *kaFleet) last(name string) *kaConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[name][len(f.conns[name])-1]
}

// TestConnPoolAcrossRounds: rounds through a ConnPool reuse the last
// round's connections (no dial), replace a dead one, drop one a script
// failed on, follow a changed configuration, and stay within Max; Close
// closes them all and stops the keepalives.
func TestConnPoolAcrossRounds(t *testing.T) {
	base := runtime.NumGoroutine()
	fleet := &kaFleet{conns: map[string][]*kaConn{}, fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{"a": {}, "b": {}, "c": {}}}}
	pool := &ConnPool{KeepAlive: 10 * time.Millisecond}
	rules := memRules("a", "b", "c")
	for _, r := range rules {
		r.Host.SSH = &transport.SSHConfig{Address: r.Host.Name, Port: 22}
	}
	round := func() []*HostPlan {
		e := &Engine{Dialer: fleet, Platform: fleet, Pool: pool}
		defer e.Close()
		plans := e.Plan(context.Background(), rules)
		for _, p := range plans {
			if p.Err != nil {
				t.Fatalf("%s: %v", p.Host.Name, p.Err)
			}
		}
		return plans
	}
	round()
	for _, n := range []string{"a", "b", "c"} {
		if k := fleet.last(n).kept.Load(); k != 1 {
			t.Errorf("%s: a kept connection was asked to keep a shell %d times, want 1", n, k)
		}
	}
	round()
	if st := pool.Stats(); st.Dials != 3 || st.Reused != 3 {
		t.Errorf("two rounds: %+v, want 3 dials then 3 reused", st)
	}
	for _, n := range []string{"a", "b", "c"} {
		if fleet.dials(n) != 1 {
			t.Errorf("%s dialed %d times in two rounds", n, fleet.dials(n))
		}
	}

	// A connection cut while idle is found dead (by the keepalives or at
	// reuse) and replaced.
	fleet.last("a").cut.Store(true)
	round()
	if fleet.dials("a") != 2 || fleet.dials("b") != 1 || !fleet.conns["a"][0].closed.Load() {
		t.Errorf("after a cut: dials a %d b %d, old closed %v", fleet.dials("a"), fleet.dials("b"), fleet.conns["a"][0].closed.Load())
	}

	// A connection a script failed on is not kept: cut it during a round.
	e := &Engine{Dialer: fleet, Platform: fleet, Pool: pool}
	c, err := e.conn(context.Background(), rules[1].Host)
	if err != nil {
		t.Fatal(err)
	}
	fleet.last("b").cut.Store(true)
	if _, err := c.Run(context.Background(), transport.Script{Shell: "sh", Body: "true"}); err == nil {
		t.Fatal("a cut connection ran a script")
	}
	e.Close()
	if !fleet.last("b").closed.Load() || pool.Idle() != 2 {
		t.Errorf("broken connection kept: closed %v, idle %d", fleet.last("b").closed.Load(), pool.Idle())
	}
	if k := fleet.last("b").kept.Load(); k != 3 {
		t.Errorf("b: the broken connection was asked to keep a shell %d times, want 3 (once per round it was kept after)", k)
	}

	// A changed port (a reloaded inventory) means a new connection.
	rules[2].Host.SSH = &transport.SSHConfig{Address: "c", Port: 2222}
	round()
	if fleet.dials("c") != 2 {
		t.Errorf("c dialed %d times after its port changed, want 2", fleet.dials("c"))
	}

	// Max bounds the idle connections.
	small := &ConnPool{Max: 1}
	e = &Engine{Dialer: fleet, Platform: fleet, Pool: small}
	e.Plan(context.Background(), rules)
	e.Close()
	if small.Idle() != 1 {
		t.Errorf("Max 1 keeps %d", small.Idle())
	}
	small.Close()

	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	for n, cs := range fleet.conns {
		for i, c := range cs {
			if !c.closed.Load() {
				t.Errorf("%s connection %d still open after Close", n, i)
			}
		}
	}
	waitGoroutines(t, base)
}

// waitGoroutines waits until no more goroutines run than base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
