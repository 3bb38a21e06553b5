package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
)

// ConnPool keeps connections open from one run to the next (watch's
// rounds), so that a round over warm connections costs one command per
// host and no handshake. It holds at most Max idle connections; an idle
// connection is checked with a keepalive (transport.KeepAliver, SSH's
// keepalive@openssh.com) every KeepAlive and again before it is reused,
// and a dead one is closed and replaced by a new dial. Only connections
// that can be checked so are kept; others (WinRM) are closed after each
// run as before. A connection on which a script failed to run is never
// kept. The zero value is ready to use; Close ends it.
type ConnPool struct {
	// Max is the number of idle connections kept; <= 0 means
	// DefaultPoolMax. Past it, the connections idle longest are closed.
	Max int
	// KeepAlive is the interval of keepalives on idle connections; <= 0
	// means DefaultPoolKeepAlive.
	KeepAlive time.Duration

	mu      sync.Mutex
	idle    map[string]*pooledConn // by host name
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
	stats   PoolStats
	checkTO time.Duration // keepalive timeout; tests shorten it
}

// Defaults of ConnPool.
const (
	DefaultPoolMax       = 1024
	DefaultPoolKeepAlive = 30 * time.Second
	poolCheckTimeout     = 10 * time.Second
)

// PoolStats count what a ConnPool did.
type PoolStats struct {
	// Dials are new connections, Reused idle connections handed out
	// again, Dead idle connections whose keepalive failed.
	Dials, Reused, Dead int
}

type pooledConn struct {
	conn  transport.Conn
	key   string // the host's connection settings: a change means a new dial
	since time.Time
}

// connKey identifies the settings a connection was made with, so that a
// reloaded inventory that changes a host's address, port, user, key or
// bastion does not reuse a connection made with the old ones. It is a
// hash: the settings hold secrets.
func connKey(h *inventory.Host) string {
	b, err := json.Marshal(struct {
		Address string
		SSH     *transport.SSHConfig
		WinRM   *transport.WinRMConfig
	}{h.Address, h.SSH, h.WinRM})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// get returns an idle connection to h that answers a keepalive, or a new
// one from dial.
func (p *ConnPool) get(ctx context.Context, h *inventory.Host, dial Dialer) (transport.Conn, error) {
	key := connKey(h)
	p.mu.Lock()
	pc := p.idle[h.Name]
	delete(p.idle, h.Name)
	p.mu.Unlock()
	if pc != nil {
		if pc.key == key && p.alive(ctx, pc.conn) {
			p.count(func(s *PoolStats) { s.Reused++ })
			return pc.conn, nil
		}
		pc.conn.Close()
		if pc.key == key {
			p.count(func(s *PoolStats) { s.Dead++ })
		}
	}
	c, err := dial.Dial(ctx, h)
	if err == nil {
		p.count(func(s *PoolStats) { s.Dials++ })
	}
	return c, err
}

func (p *ConnPool) alive(ctx context.Context, c transport.Conn) bool {
	ka, ok := c.(transport.KeepAliver)
	if !ok {
		return false
	}
	to := p.checkTO
	if to <= 0 {
		to = poolCheckTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	return ka.KeepAlive(cctx) == nil
}

func (p *ConnPool) count(f func(*PoolStats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// Stats returns the counts so far.
func (p *ConnPool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// shellKeeper is a connection that can keep a shell running for the
// read-only scripts of its next runs (transport's SSH connections: a
// facts round then costs a host no new session, login shell or exec).
type shellKeeper interface{ KeepShell() }

// put takes back a connection after a run: kept if it can be checked,
// healthy and within Max, closed otherwise. A kept connection is asked to
// keep a shell (shellKeeper): it will be used again.
func (p *ConnPool) put(h *inventory.Host, c transport.Conn, healthy bool) error {
	if _, ok := c.(transport.KeepAliver); !ok || !healthy {
		return c.Close()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return c.Close()
	}
	if p.idle == nil {
		p.idle = map[string]*pooledConn{}
	}
	var evict []transport.Conn
	if old := p.idle[h.Name]; old != nil {
		evict = append(evict, old.conn)
	}
	p.idle[h.Name] = &pooledConn{conn: c, key: connKey(h), since: time.Now()}
	if ks, ok := c.(shellKeeper); ok {
		ks.KeepShell()
	}
	max := p.Max
	if max <= 0 {
		max = DefaultPoolMax
	}
	for len(p.idle) > max {
		oldest := ""
		for name, pc := range p.idle {
			if oldest == "" || pc.since.Before(p.idle[oldest].since) {
				oldest = name
			}
		}
		evict = append(evict, p.idle[oldest].conn)
		delete(p.idle, oldest)
	}
	if p.stop == nil {
		p.stop = make(chan struct{})
		p.wg.Add(1)
		go p.keepAlive(p.stop)
	}
	p.mu.Unlock()
	var errs []error
	for _, c := range evict {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// keepAlive checks the idle connections every KeepAlive until stop is
// closed; a dead one is closed and forgotten.
func (p *ConnPool) keepAlive(stop <-chan struct{}) {
	defer p.wg.Done()
	every := p.KeepAlive
	if every <= 0 {
		every = DefaultPoolKeepAlive
	}
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		idle := make(map[string]*pooledConn, len(p.idle))
		for name, pc := range p.idle {
			idle[name] = pc
		}
		p.mu.Unlock()
		// A few checks at once: a dead host's check waits for its
		// timeout, and must not hold up the others'.
		sem := make(chan struct{}, poolCheckers)
		var wg sync.WaitGroup
		for name, pc := range idle {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				p.checkIdle(ctx, name, pc)
			}()
		}
		wg.Wait()
	}
}

// poolCheckers is how many idle connections keepAlive checks at once.
const poolCheckers = 16

// checkIdle closes and forgets an idle connection that does not answer.
func (p *ConnPool) checkIdle(ctx context.Context, name string, pc *pooledConn) {
	if p.alive(ctx, pc.conn) {
		return
	}
	p.mu.Lock()
	mine := p.idle[name] == pc
	if mine {
		delete(p.idle, name)
		p.stats.Dead++
	}
	p.mu.Unlock()
	if mine { // else taken meanwhile: its taker checks it
		pc.conn.Close()
	}
}

// Idle is the number of connections kept now.
func (p *ConnPool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Close closes every idle connection and stops the keepalives; later
// puts close their connection.
func (p *ConnPool) Close() error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.stop != nil {
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
	var errs []error
	for name, pc := range idle {
		if err := pc.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing connection to %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
