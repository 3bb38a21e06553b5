package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "dial tcp 198.18.0.9:22: i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransientDialError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", fmt.Errorf("connecting to root@h:22: %w", refused), true},
		{"reset in handshake", fmt.Errorf("connecting to root@h:22: ssh: handshake failed: %w", reset), true},
		{"EOF before banner (MaxStartups)", fmt.Errorf("connecting to root@h:22: ssh: handshake failed: %w", io.EOF), true},
		{"kex_exchange_identification text", errors.New("kex_exchange_identification: read: Connection reset by peer"), true},
		{"dial timeout", fmt.Errorf("connecting to root@h:22: timed out after 10s: %w", timeoutErr{}), true},
		{"through a bastion", fmt.Errorf("connecting to root@h:22 through its proxy jump: %w", fmt.Errorf("connecting to b: %w", refused)), true},
		{"host key", fmt.Errorf("connecting: %w", &HostKeyError{Kind: HostKeyChanged}), false},
		{"auth", &AuthError{User: "root", Host: "h:22", Err: errors.New("ssh: unable to authenticate")}, false},
		{"canceled", fmt.Errorf("%w (%v)", context.Canceled, refused), false},
		{"no route", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, false},
		{"bad port", errors.New("ssh to h: bad port 70000"), false},
		{"unknown name", &net.DNSError{Err: "no such host", Name: "nope", IsNotFound: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := transientDialError(tc.err); got != tc.want {
				t.Errorf("transientDialError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSSHBackoffIsJitteredAndBounded(t *testing.T) {
	seen := map[time.Duration]bool{}
	for n := 1; n <= 10; n++ {
		bound := min(sshBackoffBase<<(n-1), sshBackoffMax)
		for range 20 {
			d := sshBackoff(n)
			if d < bound/2 || d > bound {
				t.Fatalf("sshBackoff(%d) = %s, want within [%s, %s]", n, d, bound/2, bound)
			}
			seen[d] = true
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct delays in 200: no jitter", len(seen))
	}
}

// dropFirst is an SSH server on loopback that closes the first drops
// connections before its banner, as sshd does past MaxStartups, then
// serves.
func dropFirst(t *testing.T, drops int32, auth bool) (cfg SSHConfig, accepted *atomic.Int32) {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, _ := ssh.NewSignerFromKey(hostPriv)
	scfg := &ssh.ServerConfig{PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
		if !auth {
			return nil, errors.New("no")
		}
		return nil, nil
	}}
	ln, port, kh := loopbackServer(t, scfg, hostSigner)
	accepted = &atomic.Int32{}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1) <= drops {
				nc.Close()
				continue
			}
			go func() {
				defer nc.Close()
				sc, chans, reqs, err := ssh.NewServerConn(nc, scfg)
				if err != nil {
					return
				}
				defer sc.Close()
				go ssh.DiscardRequests(reqs)
				for nch := range chans {
					nch.Reject(ssh.Prohibited, "test server")
				}
			}()
		}
	}()
	return SSHConfig{Address: "127.0.0.1", Port: port, User: "admin", Password: "pw", KnownHostsPath: kh, ConnectTimeout: 5 * time.Second}, accepted
}

func TestDialSSHRetriesDroppedConnections(t *testing.T) {
	t.Run("dropped before the banner, then served", func(t *testing.T) {
		cfg, accepted := dropFirst(t, 2, true)
		c, err := DialSSH(context.Background(), cfg)
		if err != nil {
			t.Fatalf("dial after two drops: %v", err)
		}
		c.Close()
		if n := accepted.Load(); n != 3 {
			t.Errorf("%d connections, want 3", n)
		}
	})
	t.Run("always dropped: bounded", func(t *testing.T) {
		cfg, accepted := dropFirst(t, 1000, true)
		_, err := DialSSH(context.Background(), cfg)
		if err == nil || !transientDialError(err) {
			t.Fatalf("got %v, want a transient error", err)
		}
		if n := accepted.Load(); n != sshDialAttempts {
			t.Errorf("%d attempts, want %d", n, sshDialAttempts)
		}
	})
	t.Run("auth refused: not retried", func(t *testing.T) {
		cfg, accepted := dropFirst(t, 0, false)
		_, err := DialSSH(context.Background(), cfg)
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("got %v, want an *AuthError", err)
		}
		if n := accepted.Load(); n != 1 {
			t.Errorf("%d attempts for a refused login, want 1", n)
		}
	})
}
