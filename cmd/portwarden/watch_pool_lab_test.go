package main

import (
	"fmt"
	"os"
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
	return strings.Count(string(labHostFile(t, l, name, "sshd.log")), "Accepted publickey")
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

// residentShells are the pids of a lab host's resident shells (see
// transport's KeepShell): "sh -s portwarden-script" whose parent is one
// of the host's sshd processes. A facts round's subshells have the same
// command line but the shell as their parent.
func residentShells(t *testing.T, l *lab.Lab, name string) []int {
	t.Helper()
	h, _ := l.Host(name)
	var out []int
	for _, pid := range descendants(h.PID, "sh") {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || string(cmdline) != "sh\x00-s\x00portwarden-script\x00" {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + f[1] + "/comm")
		if strings.TrimSpace(string(comm)) == "sshd" {
			out = append(out, pid)
		}
	}
	return out
}

// watchHTTP starts watch (startWatch) with a JSON log and its HTTP
// endpoints on a free loopback port, and returns it with their base URL.
func watchHTTP(t *testing.T, bin string, args ...string) (*watchProc, string) {
	t.Helper()
	p := startWatch(t, bin, append(args, "--listen", "127.0.0.1:0", "--log-format", "json")...)
	m := p.waitLine(t, "listening", nil)
	return p, "http://" + m["addr"].(string)
}

// TestWatchReusesConnections: watch's rounds after the first make no SSH
// handshake (sshd logs no new login), and a host whose connection was cut
// between rounds is reconnected and stays in sync.
func TestWatchReusesConnections(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bin := buildPortwarden(t)
	hosts := []string{"lnx01", "lnx02", "lnx03"}
	inv := twoReposAndAGateway(t, l)
	p, base := watchHTTP(t, bin, "--inventory", inv, "--every", "1s", "--remediate", "--state-dir", t.TempDir())
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
	// The warm rounds' facts ran in one resident shell per host, the same
	// one round after round.
	shells := map[string][]int{}
	for _, h := range hosts {
		if shells[h] = residentShells(t, l, h); len(shells[h]) != 1 {
			t.Errorf("%s: resident shells %v after warm rounds, want one", h, shells[h])
		}
	}
	rounds(1, "one more no-op round")
	for _, h := range hosts {
		if got := residentShells(t, l, h); fmt.Sprint(got) != fmt.Sprint(shells[h]) {
			t.Errorf("%s: resident shells %v after one more round, were %v", h, got, shells[h])
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
	// lnx02's new connection has a resident shell of its own again; when
	// watch ends, no host keeps one.
	if got := residentShells(t, l, "lnx02"); len(got) != 1 || fmt.Sprint(got) == fmt.Sprint(shells["lnx02"]) {
		t.Errorf("lnx02: resident shells %v after the reconnect (before: %v), want one new", got, shells["lnx02"])
	}
	p.stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for _, h := range hosts {
		for len(residentShells(t, l, h)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := residentShells(t, l, h); len(got) > 0 {
			t.Errorf("%s: resident shells %v left after watch ended", h, got)
		}
	}
}
