package main

// SIGTERM while the inventory loads (issue 9, "loading is cancellable"):
// the real binary, run inside a lab host's namespaces, whose own
// /etc/resolv.conf names a DNS server that never answers, so that loading
// blocks on resolving a host's name. A FIFO named *.hcl and a file() of a
// FIFO are refused at once (internal/hclsrc opens them O_NONBLOCK and
// fstats them), so they do not block at all; the test checks that too.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// blackholeDNS listens on host's address, port 53 (UDP), counts the
// queries and never answers them. It writes the host's own
// /etc/resolv.conf (an overlay: this machine's file is not changed) to
// name it.
func blackholeDNS(t *testing.T, l *lab.Lab, host string) *atomic.Int64 {
	t.Helper()
	h, _ := l.Host(host)
	pc, err := l.ListenPacket(host, "udp", net.JoinHostPort(h.Address.String(), "53"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var queries atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			queries.Add(1)
		}
	}()
	conf := fmt.Sprintf("nameserver %s\noptions timeout:30 attempts:2\n", h.Address)
	execOK(t, l, host, "sh", "-c", `rm -f /etc/resolv.conf && printf '%s' "$1" >/etc/resolv.conf`, "sh", conf)
	if got := execOK(t, l, host, "cat", "/etc/resolv.conf"); got != conf {
		t.Fatalf("%s's resolv.conf is %q", host, got)
	}
	return &queries
}

// sshConnections counts the new TCP connections to port 22 a host has
// received since the call, with a counting rule in its own namespace.
func sshConnections(t *testing.T, l *lab.Lab, host string) func() int {
	t.Helper()
	fault(t, l, host, "tcp dport 22 ct state new counter")
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() int {
		m := re.FindStringSubmatch(execOK(t, l, host, "nft", "list table inet pwfault"))
		if m == nil {
			t.Fatalf("%s: no counter in its pwfault table", host)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// inHost is argv run in host's mount and network namespaces, as the
// lab's own Exec runs it (nsenter execs argv: the process is argv's).
func inHost(l *lab.Lab, host string, argv ...string) *exec.Cmd {
	h, _ := l.Host(host)
	return exec.Command("nsenter", append([]string{"--mount=" + filepath.Join(l.Dir, "ns", host), "--net=/run/netns/" + h.Namespace, "--"}, argv...)...)
}

func TestTermDuringLoad(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bin := buildPortwarden(t)
	queries := blackholeDNS(t, l, "lnx01")
	conns := map[string]func() int{"lnx02": sshConnections(t, l, "lnx02"), "lnx03": sshConnections(t, l, "lnx03")}

	// lnx02 is named by a DNS name that lnx01's resolver never answers;
	// lnx03 by its address: without the interrupt it would be applied.
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx02": {roles: []string{"backup_repository"}},
		"lnx03": {roles: []string{"backup_repository"}},
	}, "")
	h2, _ := l.Host("lnx02")
	src, _ := os.ReadFile(inv)
	named := strings.Replace(string(src), fmt.Sprintf("address = %q", h2.Address), `address = "lnx02.pwlab.test"`, 1)
	if named == string(src) {
		t.Fatalf("no address of lnx02 in the inventory:\n%s", src)
	}
	os.WriteFile(inv, []byte(named), 0o600)

	for _, tc := range []struct {
		name string
		argv []string
		want string // on stderr
		code int
	}{
		{"apply", []string{"apply", "--inventory", inv, "--auto-approve"}, "Interrupted before any host was contacted.", 130},
		{"plan json", []string{"plan", "--inventory", inv, "--format", "json"}, "Interrupted before any host was contacted.", 130},
		// Watch treats SIGTERM as systemd's stop: exit 0, logged.
		{"watch", []string{"watch", "--inventory", inv, "--remediate", "--every", "1m", "--state-dir", t.TempDir()}, "stopped while loading the inventory: no host was contacted", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := queries.Load()
			cmd := inHost(l, "lnx01", append([]string{bin}, tc.argv...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			t.Cleanup(func() { cmd.Process.Kill(); <-exited })
			// Loading is blocked once the resolver has asked for the name.
			for deadline := time.Now().Add(60 * time.Second); queries.Load() == before; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no DNS query in 60s:\n%s", stderr.String())
				}
				select {
				case <-exited:
					t.Fatalf("portwarden ended before it resolved lnx02's name:\n%s%s", stdout.String(), stderr.String())
				default:
				}
			}
			sent := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// The resolver's own bound is 5 s per name (30 s in resolv.conf):
			// ending well before it is the interrupt's doing.
			select {
			case <-exited:
			case <-time.After(3 * time.Second):
				t.Fatalf("portwarden did not end within 3s of SIGTERM:\n%s", stderr.String())
			}
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q on stderr:\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, stdout.String(), stderr.String())
			}
			if strings.Contains(stderr.String(), "Unresolvable address") {
				t.Errorf("the canceled lookup was reported as an unresolvable name:\n%s", stderr.String())
			}
			t.Logf("%s: ended %s after SIGTERM", tc.name, took.Round(time.Millisecond))
		})
	}
	// No host was contacted or changed.
	for host, n := range conns {
		if got := n(); got != 0 {
			t.Errorf("%s received %d SSH connections", host, got)
		}
		if o := owned(l, host); o != "" {
			t.Errorf("%s was changed:\n%s", host, o)
		}
	}

	// A FIFO named *.hcl, a directory holding one, and a file() of a
	// FIFO: refused at once with what they are, though nobody writes to
	// them; nothing contacted either.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoDir := filepath.Join(dir, "inv")
	os.Mkdir(fifoDir, 0o700)
	syscall.Mkfifo(filepath.Join(fifoDir, "b.hcl"), 0o600)
	keyFIFO := filepath.Join(dir, "passphrase")
	syscall.Mkfifo(keyFIFO, 0o600)
	withFile := filepath.Join(dir, "file.hcl")
	os.WriteFile(withFile, []byte(strings.Replace(string(src), "connect_timeout = \"3s\"",
		fmt.Sprintf("connect_timeout = \"3s\"\n    passphrase = file(%q)", keyFIFO), 1)), 0o600)
	for _, inv := range []string{fifo, fifoDir, withFile} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, "apply", "--inventory", inv, "--auto-approve").CombinedOutput()
		blocked := ctx.Err() != nil
		cancel()
		if blocked {
			t.Fatalf("%s: portwarden blocked on a FIFO: %v\n%s", inv, err, out)
		}
		var ee *exec.ExitError
		if !strings.Contains(string(out), "a FIFO") || !errors.As(err, &ee) || ee.ExitCode() != exitInvalid {
			t.Errorf("%s: %v, want exit 1 naming a FIFO:\n%s", inv, err, out)
		}
	}
	for host, n := range conns {
		if got := n(); got != 0 {
			t.Errorf("%s received %d SSH connections", host, got)
		}
	}
}
