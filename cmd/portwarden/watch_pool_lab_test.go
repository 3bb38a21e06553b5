package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// sshLogins counts the logins a lab host's sshd accepted: one per
// handshake.
func sshLogins(t *testing.T, l *lab.Lab, name string) int {
	t.Helper()
	h, _ := l.Host(name)
	b, err := os.ReadFile(filepath.Join(h.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Accepted publickey")
}

// cutSSHSessions kills, by pid, the per-connection sshd processes of a
// lab host (see sshdSessions): every SSH connection to the host drops, as
// when a NAT forgets it or the host reboots. It returns how many it
// killed.
func cutSSHSessions(t *testing.T, l *lab.Lab, name string) int {
	t.Helper()
	h, _ := l.Host(name)
	n := 0
	for _, pid := range sshdSessions(t, h.PID) {
		if syscall.Kill(pid, syscall.SIGTERM) == nil {
			n++
		}
	}
	return n
}

// startWatch runs the built binary's watch with args (plus a JSON log and
// a listener on a free loopback port) and returns it, the base URL of its
// HTTP endpoints, its log, and a channel with its exit. It is killed in
// the test's cleanup if still running.
func startWatch(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *logLines, <-chan error) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"watch"}, args...), "--listen", "127.0.0.1:0", "--log-format", "json")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logs := &logLines{}
	go func() {
		logs.read(stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// The bound address is in the log.
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := logs.find("listening", nil); m != nil {
			base = "http://" + m["addr"].(string)
		}
	}
	if base == "" {
		t.Fatalf("watch never logged its address:\n%s", logs)
	}
	return cmd, base, logs, exited
}

// stopWatch sends SIGTERM and expects a clean exit within 10s.
func stopWatch(t *testing.T, cmd *exec.Cmd, logs *logLines, exited <-chan error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("watch after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("watch did not exit within 10s of SIGTERM")
	}
}

// TestWatchReusesConnections: watch's rounds after the first make no SSH
// handshake (sshd logs no new login), and a host whose connection was cut
// between rounds is reconnected and stays in sync.
func TestWatchReusesConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bin := buildPortwarden(t)
	hosts := []string{"lnx01", "lnx02", "lnx03"}
	inv := twoReposAndAGateway(t, l)
	cmd, base, logs, exited := startWatch(t, bin, "--inventory", inv, "--every", "1s", "--remediate", "--state-dir", t.TempDir())
	inSync := func(m string) bool {
		for _, h := range hosts {
			if !metricIs(m, fmt.Sprintf(`portwarden_host_up{host=%q}`, h), 1) || !metricIs(m, fmt.Sprintf(`portwarden_host_in_drift{host=%q}`, h), 0) {
				return false
			}
		}
		return true
	}
	// rounds waits for n more rounds to end, all hosts in sync.
	rounds := func(n int, what string) {
		t.Helper()
		m := eventually(t, base, 30*time.Second, "a round", func(string) bool { return true })
		last, _ := metricValue(m, "portwarden_last_round_timestamp_seconds")
		for range n {
			m = eventually(t, base, 30*time.Second, what, func(m string) bool {
				now, _ := metricValue(m, "portwarden_last_round_timestamp_seconds")
				return now > last && inSync(m)
			})
			last, _ = metricValue(m, "portwarden_last_round_timestamp_seconds")
		}
	}
	eventually(t, base, 60*time.Second, "all hosts up and in sync", inSync)
	rounds(1, "a round in sync") // the converging round's confirms are over

	logins := map[string]int{}
	for _, h := range hosts {
		logins[h] = sshLogins(t, l, h)
	}
	m := eventually(t, base, 10*time.Second, "a round", func(string) bool { return true })
	dialed, _ := metricValue(m, "portwarden_connections_dialed_total")
	reused, _ := metricValue(m, "portwarden_connections_reused_total")
	rounds(2, "two no-op rounds")
	for _, h := range hosts {
		if n := sshLogins(t, l, h); n != logins[h] {
			t.Errorf("%s: %d new SSH logins in two no-op rounds, want 0 (connections reused)", h, n-logins[h])
		}
	}
	m = eventually(t, base, 10*time.Second, "a round", func(string) bool { return true })
	if d, _ := metricValue(m, "portwarden_connections_dialed_total"); d != dialed {
		t.Errorf("connections dialed went from %v to %v over no-op rounds", dialed, d)
	}
	if r, _ := metricValue(m, "portwarden_connections_reused_total"); r < reused+6 {
		t.Errorf("connections reused went from %v to %v over two rounds of 3 hosts, want +6 or more", reused, r)
	}

	// Cut lnx02's connection between rounds: the next round finds it dead
	// (keepalive), dials once, and the host stays up and in sync.
	if n := cutSSHSessions(t, l, "lnx02"); n == 0 {
		t.Fatal("lnx02 had no SSH session to cut: the connection was not kept")
	}
	rounds(2, "rounds after the cut")
	if n := sshLogins(t, l, "lnx02") - logins["lnx02"]; n != 1 {
		t.Errorf("lnx02: %d new logins after its connection was cut, want 1 (one reconnect, then reuse)", n)
	}
	for _, h := range []string{"lnx01", "lnx03"} {
		if n := sshLogins(t, l, h); n != logins[h] {
			t.Errorf("%s: %d new logins, want 0", h, n-logins[h])
		}
	}
	// Found dead by the keepalive before reuse, or (cut during a round)
	// by the failed script: either way one new dial.
	m = eventually(t, base, 10*time.Second, "a round", func(string) bool { return true })
	if d, _ := metricValue(m, "portwarden_connections_dialed_total"); d != dialed+1 {
		t.Errorf("connections dialed went from %v to %v after one cut, want +1", dialed, d)
	}
	if v, _ := metricValue(m, "portwarden_connections_dead_total"); v > 1 {
		t.Errorf("portwarden_connections_dead_total = %v after one cut, want at most 1", v)
	}
	stopWatch(t, cmd, logs, exited)
}
