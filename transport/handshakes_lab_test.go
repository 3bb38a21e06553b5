package transport

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/portwarden/portwarden/lab"
)

// tightSSHD starts a second sshd on a lab host, on port 2222, with the
// host's configuration but MaxStartups set to maxStartups, and returns
// the SSHConfig that reaches it and its log. It is stopped in the test's
// cleanup, before the lab goes down.
func tightSSHD(t *testing.T, l *lab.Lab, host lab.Host, maxStartups string) (SSHConfig, string) {
	t.Helper()
	const port = 2222
	base, err := os.ReadFile(filepath.Join(host.Dir, "sshd_config"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "sshd.log")
	cfg := regexp.MustCompile(`(?m)^(Port|PidFile|MaxStartups) .*\n`).ReplaceAllString(string(base), "")
	cfg += fmt.Sprintf("Port %d\nPidFile %s\nMaxStartups %s\n", port, pidFile, maxStartups)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, host.Name, nil, "/bin/sh", "-c",
		`/usr/sbin/sshd -D -f "$1" -E "$2" </dev/null >/dev/null 2>&1 & echo $!`, "sh", cfgPath, logFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sshd pid %q: %v", out, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGTERM) })

	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(host.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(host.Address.String(), strconv.Itoa(port))
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := labSSH(l, host.Name)
	sc.Port, sc.KnownHostsPath = port, kh
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("second sshd on %s: %v; %s", addr, err, b)
		}
	}
	return sc, logFile
}

// dialMany dials n connections to cfg at once and returns the failures.
func dialMany(cfg SSHConfig, n int) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := DialSSH(context.Background(), cfg)
			if err == nil {
				_, err = c.Run(context.Background(), Script{Shell: "sh", Body: "true"})
				c.Close()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func dropsIn(t *testing.T, log string) int {
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "past MaxStartups")
}

// TestSSHHandshakesRespectMaxStartups: an sshd that drops every
// connection past two unauthenticated ones ("MaxStartups 2:100:2") takes
// 40 hosts' worth of connections at once, directly and as the one bastion
// all of them jump through, when a Handshakes limiter paces them: every
// one gets through. Without the limiter the same burst is dropped.
func TestSSHHandshakesRespectMaxStartups(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	tight, log := tightSSHD(t, l, l.Hosts[0], "2:100:2")
	const n = 40

	t.Run("unpaced burst is dropped", func(t *testing.T) {
		before := dropsIn(t, log)
		errs := dialMany(tight, n)
		if d := dropsIn(t, log) - before; d == 0 {
			t.Fatalf("sshd dropped nothing of %d connections at once (%d failed): the test does not test MaxStartups", n, len(errs))
		} else {
			t.Logf("unpaced: sshd dropped %d connections, %d of %d dials failed after retries", d, len(errs), n)
		}
	})
	t.Run("direct", func(t *testing.T) {
		cfg := tight
		cfg.Handshakes = NewHandshakes(HandshakeLimits{})
		if errs := dialMany(cfg, n); len(errs) > 0 {
			t.Fatalf("%d of %d dials failed, first: %v", len(errs), n, errs[0])
		}
		if st := cfg.Handshakes.Stats(); st.PeakPerServer > DefaultHandshakesPerServer {
			t.Errorf("peak handshakes to one sshd %d, want <= %d", st.PeakPerServer, DefaultHandshakesPerServer)
		}
	})
	t.Run("through the bastion", func(t *testing.T) {
		// One bastion connection per host (no BastionPool): every host's
		// connection is a handshake with the tight sshd first.
		cfg := labSSH(l, l.Hosts[1].Name)
		jump := tight
		cfg.ProxyJump = &jump
		cfg.Handshakes = NewHandshakes(HandshakeLimits{})
		if errs := dialMany(cfg, n); len(errs) > 0 {
			t.Fatalf("%d of %d dials through the bastion failed, first: %v", len(errs), n, errs[0])
		}
	})
}
