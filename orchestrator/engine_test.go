package orchestrator

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// The engine's own logic (parallelism, stop, failure isolation, read-back)
// is tested here with an in-memory host; the real transports and backends
// are tested against the lab in cmd/portwarden and firewall.

// memHost is a host whose "firewall" is a list of rule keys in memory. Its
// scripts are "facts" and "apply KEY,KEY,...".
type memHost struct {
	mu      sync.Mutex
	rules   []string
	failRun bool          // Run fails (a dropped connection)
	refuse  bool          // apply exits 1 and changes nothing
	lie     bool          // apply reports success but changes nothing
	block   chan struct{} // facts waits for this
	started chan<- string // told when facts starts
	name    string
}

func (m *memHost) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	if m.started != nil {
		m.started <- m.name
	}
	if m.block != nil {
		<-m.block
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failRun {
		return transport.Result{}, errors.New("connection reset by peer")
	}
	if rest, ok := strings.CutPrefix(s.Body, "apply "); ok {
		if m.refuse {
			return transport.Result{ExitCode: 1, Stderr: []byte("refused")}, nil
		}
		if !m.lie {
			m.rules = strings.Split(rest, ",")
		}
	}
	return transport.Result{Stdout: []byte(firewall.SectionMarker + "rules\n" + strings.Join(m.rules, ",") + "\n")}, nil
}
func (m *memHost) LocalAddr() netip.Addr { return netip.MustParseAddr("10.9.9.9") }
func (m *memHost) Close() error          { return nil }

type memFleet map[string]*memHost

func (f memFleet) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	return f[h.Name], nil
}
func (memFleet) FactsScript(*inventory.Host) (firewall.Script, error) {
	return firewall.Script{Shell: "sh", Body: "facts"}, nil
}
func (memFleet) Backend(*inventory.Host, firewall.Facts) (firewall.Backend, error) {
	return memBackend{}, nil
}

type memBackend struct{}

func (memBackend) Name() string { return "mem" }
func (memBackend) State(f firewall.Facts) (firewall.State, error) {
	st := firewall.State{Backend: "mem", Installed: true, Mode: rule.Additive}
	for _, k := range strings.Split(strings.TrimSpace(f["rules"]), ",") {
		if k == "" {
			continue
		}
		proto, ports, _ := strings.Cut(k, "/")
		pr, err := rule.ParsePortRange(ports)
		if err != nil {
			return st, err
		}
		st.Rules = append(st.Rules, rule.Rule{Protocol: proto, Ports: []rule.PortRange{pr},
			Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}})
	}
	return st, nil
}
func (memBackend) Apply(f firewall.Facts, d firewall.Desired) (firewall.Script, error) {
	if _, ok := f["rules"]; !ok {
		return firewall.Script{}, errors.New("apply was not given the facts the plan read")
	}
	var keys []string
	for _, r := range d.Rules {
		keys = append(keys, r.Key())
	}
	return firewall.Script{Shell: "sh", Body: "apply " + strings.Join(keys, ",")}, nil
}

func memRules(names ...string) []*HostRules {
	var out []*HostRules
	for _, n := range names {
		out = append(out, &HostRules{
			Host: &inventory.Host{Name: n, Managed: true, Mode: rule.Additive},
			Rules: []Rule{{Rule: rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 6162, Hi: 6162}},
				Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}},
		})
	}
	return out
}

func TestEngineIsolatesFailures(t *testing.T) {
	fleet := memFleet{
		"ok":     {name: "ok"},
		"down":   {name: "down", failRun: true},
		"refuse": {name: "refuse", refuse: true},
		"liar":   {name: "liar", lie: true},
	}
	e := &Engine{Dialer: fleet, Platform: fleet}
	plans := e.Plan(context.Background(), memRules("ok", "down", "refuse", "liar"))
	e.Apply(context.Background(), plans)
	byName := map[string]*HostPlan{}
	for _, p := range plans {
		byName[p.Host.Name] = p
	}
	if p := byName["ok"]; p.Failed() || !p.Applied || strings.Join(fleet["ok"].rules, ",") != "tcp/6162" {
		t.Errorf("ok: %+v rules %v", p, fleet["ok"].rules)
	}
	if p := byName["down"]; p.Err == nil || !strings.Contains(p.Err.Error(), "gathering facts") || p.Applied {
		t.Errorf("down: err %v applied %v", p.Err, p.Applied)
	}
	if p := byName["refuse"]; p.ApplyErr == nil || !strings.Contains(p.ApplyErr.Error(), "refused") || fleet["refuse"].rules != nil {
		t.Errorf("refuse: %v, rules %v", p.ApplyErr, fleet["refuse"].rules)
	}
	// A host whose apply "succeeds" without changing anything fails
	// verification by read-back.
	if p := byName["liar"]; p.ApplyErr == nil || len(p.Remaining) != 1 {
		t.Errorf("liar: err %v remaining %v", p.ApplyErr, p.Remaining)
	}
	// A second plan of the good host is empty.
	again := e.Plan(context.Background(), memRules("ok"))
	if len(again[0].Changes) != 0 {
		t.Errorf("second plan has changes: %+v", again[0].Changes)
	}
}

func TestEngineStopFinishesInFlightAndStartsNoMore(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 3)
	fleet := memFleet{}
	for _, n := range []string{"a", "b", "c"} {
		fleet[n] = &memHost{name: n, block: release, started: started}
	}
	stop := make(chan struct{})
	e := &Engine{Dialer: fleet, Platform: fleet, Parallel: 1, Stop: stop}
	done := make(chan []*HostPlan)
	go func() { done <- e.Plan(context.Background(), memRules("a", "b", "c")) }()
	first := <-started
	close(stop)
	close(release)
	plans := <-done
	for _, p := range plans {
		if p.Host.Name == first {
			if p.Err != nil {
				t.Errorf("the host in flight (%s) did not finish: %v", first, p.Err)
			}
			continue
		}
		if !errors.Is(p.Err, ErrStopped) {
			t.Errorf("%s: err %v, want ErrStopped", p.Host.Name, p.Err)
		}
	}
}

func TestProbeLocally(t *testing.T) {
	lab.SkipShort(t, "listeners on loopback")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := uint16(ln.Addr().(*net.TCPAddr).Port)
	// A port nobody listens on: bind one and close it.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := uint16(l2.Addr().(*net.TCPAddr).Port)
	l2.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	ps := []*Probe{{Addr: lo, Port: open}, {Addr: lo, Port: closed}}
	probeLocally(context.Background(), ps)
	if ps[0].Outcome != Open || ps[1].Outcome != Refused {
		t.Errorf("outcomes = %s, %s; want open, refused", ps[0].Outcome, ps[1].Outcome)
	}
}

// countingDialer counts dials and closes, to check one connection per host.
type countingDialer struct {
	memFleet
	mu            sync.Mutex
	dials, closes int
}

type countedConn struct {
	transport.Conn
	d *countingDialer
}

func (c countedConn) Close() error {
	c.d.mu.Lock()
	c.d.closes++
	c.d.mu.Unlock()
	return nil
}

func (d *countingDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	d.mu.Lock()
	d.dials++
	d.mu.Unlock()
	time.Sleep(10 * time.Millisecond) // a handshake: concurrent callers overlap
	c, err := d.memFleet.Dial(ctx, h)
	return countedConn{c, d}, err
}

func TestEngineKeepsOneConnectionPerHost(t *testing.T) {
	d := &countingDialer{memFleet: memFleet{"a": {name: "a"}}}
	e := &Engine{Dialer: d, Platform: d.memFleet}
	h := memRules("a")[0].Host
	var wg sync.WaitGroup
	conns := make([]transport.Conn, 8)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.conn(context.Background(), h)
			if err != nil {
				t.Error(err)
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	for _, c := range conns[1:] {
		if c != conns[0] {
			t.Fatal("concurrent callers got different connections to one host")
		}
	}
	e.Close()
	if d.closes != d.dials {
		t.Errorf("%d dials, %d closes: a connection leaked", d.dials, d.closes)
	}
}
