package transport

import (
	"context"
	"strconv"
	"strings"
	"sync"
)

// dropJump lets go of the bastion: back to its pool, or closed.
func (c *sshConn) dropJump() {
	switch {
	case c.releaseJump != nil:
		c.releaseJump()
		c.releaseJump = nil
	case c.jump != nil:
		c.jump.Close()
	}
}

// BastionPool shares one SSH connection to each bastion among the hosts
// behind it, for the length of a run: N hosts behind a bastion cost N+1
// handshakes instead of 2N. A bastion connection is closed when the last
// host using it closes. The zero value is ready to use.
type BastionPool struct {
	mu sync.Mutex
	m  map[string]*bastion
}

type bastion struct {
	ready chan struct{} // closed when conn or err is set
	conn  *sshConn
	err   error
	refs  int
}

// bastionKey identifies a bastion connection: the same address and port,
// user and credentials. Secrets are not part of it (they come from the
// same inventory attributes as the rest of the key).
func bastionKey(cfg SSHConfig) string {
	return strings.Join([]string{cfg.User, cfg.Address, strconv.Itoa(cfg.Port), cfg.PrivateKeyPath,
		cfg.KnownHostsPath, strconv.FormatBool(cfg.Agent)}, "\x00")
}

// get returns a connection to the bastion cfg names, dialing it once for
// all concurrent callers, and a release function. A failed dial is not
// kept: the next caller tries again.
func (p *BastionPool) get(ctx context.Context, cfg SSHConfig) (*sshConn, func(), error) {
	key := bastionKey(cfg)
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]*bastion{}
	}
	b := p.m[key]
	if b == nil {
		b = &bastion{ready: make(chan struct{})}
		p.m[key] = b
		p.mu.Unlock()
		b.conn, b.err = dialSSH(ctx, cfg)
		p.mu.Lock()
		if b.err != nil {
			delete(p.m, key)
		}
		close(b.ready)
	}
	p.mu.Unlock()
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	p.mu.Lock()
	if b.refs < 0 { // closed by its last user meanwhile: dial afresh
		p.mu.Unlock()
		return p.get(ctx, cfg)
	}
	b.refs++
	p.mu.Unlock()
	var once sync.Once
	return b.conn, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			b.refs--
			if b.refs == 0 {
				b.refs = -1
				if p.m[key] == b {
					delete(p.m, key)
				}
				b.conn.Close()
			}
		})
	}, nil
}
