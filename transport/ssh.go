package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshConn is one SSH connection, reused for every Run.
type sshConn struct {
	cfg    SSHConfig // with defaults
	name   string    // "user@host:port", for errors
	client *ssh.Client
	jump   *sshConn // the bastion, closed with this connection
	// releaseJump, when set, hands the bastion back to its pool instead
	// of closing it.
	releaseJump func()
	local       netip.Addr

	// The resident shell of a kept connection (ssh_resident.go); resMu
	// also makes it serve one script at a time.
	resMu      sync.Mutex
	keepShell  bool
	res        *sshResident
	resClosed  bool
	resRefused bool // a resident shell ended before its first round

	closeOnce sync.Once
	closeErr  error
}

// DialSSH opens one SSH connection to a host; every Run on it opens one
// session. The host key is checked against known_hosts (see SSHConfig);
// an unknown or changed key is a *HostKeyError, a refused login an
// *AuthError. ConnectTimeout bounds the TCP connection and the SSH
// handshake together; ctx can end them too. With ProxyJump the bastion is
// reached first (itself possibly through its own ProxyJump) and the host
// through a direct-tcpip channel of the bastion's connection.
//
// A connection attempt that failed for a transient reason (see
// transientDialError) is retried with jittered backoff, a few times.
func DialSSH(ctx context.Context, cfg SSHConfig) (Conn, error) {
	c, err := dialRetry(ctx, func() (*sshConn, error) { return dialSSH(ctx, cfg) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

func sshDefaults(cfg SSHConfig) (SSHConfig, error) {
	if cfg.Address == "" {
		return cfg, errors.New("ssh: no address")
	}
	cfg, err := SSHDefaults(cfg)
	if err != nil {
		return cfg, fmt.Errorf("ssh to %s: %w", cfg.Address, err)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("ssh to %s: bad port %d", cfg.Address, cfg.Port)
	}
	if strings.ContainsAny(cfg.SudoPassword, "\n\r") {
		return cfg, fmt.Errorf("ssh to %s: the sudo password contains a line break", cfg.Address)
	}
	return cfg, nil
}

func dialSSH(ctx context.Context, cfg SSHConfig) (*sshConn, error) {
	cfg, err := sshDefaults(cfg)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	c := &sshConn{cfg: cfg, name: cfg.User + "@" + addr}

	// The bastion first: its own dial waits for its own turn and has its
	// own connect timeout.
	if cfg.ProxyJump != nil {
		jcfg := *cfg.ProxyJump
		if jcfg.Handshakes == nil {
			jcfg.Handshakes = cfg.Handshakes
		}
		if cfg.Bastions != nil {
			c.jump, c.releaseJump, err = cfg.Bastions.get(ctx, jcfg)
		} else {
			c.jump, err = dialSSH(ctx, jcfg)
		}
		if err != nil {
			return nil, fmt.Errorf("connecting to %s through its proxy jump: %w", c.name, err)
		}
	}
	// A turn to shake hands with the host's sshd (see Handshakes): waiting
	// for it is not part of the connect timeout.
	turnDone, err := cfg.Handshakes.acquire(ctx, addr)
	if err != nil {
		c.dropJump()
		return nil, fmt.Errorf("connecting to %s: waiting for a turn to connect: %w", c.name, err)
	}
	conn, err := c.handshake(ctx, addr)
	if err != nil {
		// A dial ended by the caller (its deadline or a cancel) says
		// nothing about the server: only the server's own refusals,
		// resets and drops narrow its window.
		turnDone(false, ctx.Err() == nil && transientDialError(err))
		c.dropJump()
		return nil, err
	}
	turnDone(true, false)
	if c.jump == nil {
		c.local = sshAddrOf(conn.LocalAddr())
	}
	// Through a bastion the host sees the bastion, not us; no round trip
	// is spent asking it (the facts script reports $SSH_CONNECTION).
	return c, nil
}

// handshake connects to the host (directly or through c.jump), shakes
// hands and logs in, within the connect timeout, and sets c.client.
func (c *sshConn) handshake(ctx context.Context, addr string) (net.Conn, error) {
	cfg := c.cfg
	auth, methods, offered, cleanup, err := sshAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	defer cleanup()
	hostKey, algos, err := hostKeyCheck(cfg, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	ccfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
	}

	// The connect timeout covers reaching the host and the handshake.
	tctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	if c.jump != nil {
		conn, err = c.jump.client.DialContext(tctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s through %s: %w", c.name, c.jump.name, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
		}
	} else {
		var d net.Dialer
		conn, err = d.DialContext(tctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", c.name, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
		}
	}

	// Deadlines do not work on a channel of the bastion, so the handshake
	// is bounded by closing the connection.
	stop := context.AfterFunc(tctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, ccfg)
	if !stop() {
		if err == nil {
			sc.Close()
			err = errors.New("handshake interrupted")
		}
		err = sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err)
	}
	if err != nil {
		conn.Close()
		var hke *HostKeyError
		if errors.As(err, &hke) {
			return nil, fmt.Errorf("connecting to %s: %w", c.name, hke)
		}
		if sshAuthFailure(err) {
			return nil, &AuthError{User: cfg.User, Host: addr, Methods: methods, Offered: offered(), Err: err}
		}
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	c.client = ssh.NewClient(sc, chans, reqs)
	return conn, nil
}

// connectErr explains an error of a connection attempt that ctx or the
// connect timeout ended.
func sshConnectErr(parent, tctx context.Context, timeout time.Duration, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("%w (%v)", parent.Err(), err)
	}
	var ne net.Error
	if errors.Is(tctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

func sshAddrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// LocalAddr is the local address of the TCP connection to the host;
// invalid through a ProxyJump, where only the host knows whom it sees
// (the facts script's $SSH_CONNECTION).
func (c *sshConn) LocalAddr() netip.Addr { return c.local }

// Close closes the connection and the bastion's.
func (c *sshConn) Close() error {
	c.closeOnce.Do(func() {
		// The client first: a round in the resident shell then sees its
		// output end and returns, so closeResident does not wait for it.
		if c.client != nil {
			c.closeErr = c.client.Close()
		}
		c.closeResident()
		c.dropJump()
		if errors.Is(c.closeErr, net.ErrClosed) {
			c.closeErr = nil
		}
	})
	return c.closeErr
}
