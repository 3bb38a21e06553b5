package main

// The watch acceptance test: the real binary, as a service would run it,
// against the lab; signals sent to its process; metrics, /status and
// /healthz read over HTTP.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// buildPortwarden builds this command into the test's temporary directory.
// logLines collects a process's JSON log lines.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
}

func (l *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		l.mu.Lock()
		l.lines = append(l.lines, m)
		l.raw = append(l.raw, sc.Text())
		l.mu.Unlock()
	}
}

// find returns the first line with msg for which ok holds.
func (l *logLines) find(msg string, ok func(map[string]any) bool) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m != nil && m["msg"] == msg && (ok == nil || ok(m)) {
			return m
		}
	}
	return nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond (given /metrics) until it holds or the time is up.
func eventually(t *testing.T, base string, within time.Duration, what string, cond func(metrics string) bool) string {
	t.Helper()
	var text string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(150 * time.Millisecond) {
		_, text = httpGet(t, base+"/metrics")
		if cond(text) {
			return text
		}
	}
	t.Fatalf("%s: not within %s; last metrics:\n%s", what, within, text)
	return ""
}

func metricIs(text, series string, want float64) bool {
	v, ok := metricValue(text, series)
	return ok && v == want
}

func metricAtLeast(text, series string, want float64) bool {
	v, ok := metricValue(text, series)
	return ok && v >= want
}

func TestWatch(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bin := buildPortwarden(t)
	hosts := []string{"lnx01", "lnx02", "lnx03"}
	inv := twoReposAndAGateway(t, l)
	stateDir := t.TempDir()

	cmd := exec.Command(bin, "watch", "--inventory", inv, "--every", "2s", "--remediate", "--listen", "127.0.0.1:0",
		"--log-format", "json", "--state-dir", stateDir)
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

	// Every host up and in sync (the first round repairs the fresh hosts).
	eventually(t, base, 30*time.Second, "all hosts up and in sync", func(m string) bool {
		for _, h := range hosts {
			if !metricIs(m, fmt.Sprintf(`portwarden_host_up{host=%q}`, h), 1) || !metricIs(m, fmt.Sprintf(`portwarden_host_in_drift{host=%q}`, h), 0) {
				return false
			}
		}
		return metricIs(m, `portwarden_hosts{state="in_sync"}`, 3) && metricIs(m, "portwarden_inventory_valid", 1)
	})
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}

	// One instance per inventory: a second watch says who holds the lock.
	_, errOut, code := runCLI(t, "watch", "--inventory", inv, "--every", "2s", "--state-dir", stateDir)
	if code != exitInvalid || !strings.Contains(errOut, fmt.Sprintf("process %d holds the lock", cmd.Process.Pid)) {
		t.Errorf("second watch: exit %d, want 1 naming pid %d: %s", code, cmd.Process.Pid, errOut)
	}

	// Drift by hand shows in host_in_drift and is repaired within a round.
	m := eventually(t, base, 10*time.Second, "a round", func(string) bool { return true })
	repairsBefore, _ := metricValue(m, `portwarden_remediations_total{host="lnx02"}`)
	execOK(t, l, "lnx02", "nft", "delete table inet portwarden")
	eventually(t, base, 15*time.Second, "drift on lnx02 in the metrics", func(m string) bool {
		return metricIs(m, `portwarden_host_in_drift{host="lnx02"}`, 1)
	})
	eventually(t, base, 15*time.Second, "lnx02 repaired", func(m string) bool {
		return metricIs(m, `portwarden_host_in_drift{host="lnx02"}`, 0) &&
			metricAtLeast(m, `portwarden_remediations_total{host="lnx02"}`, repairsBefore+1)
	})
	if out := execOK(t, l, "lnx02", "nft", "list tables"); !strings.Contains(out, "inet portwarden") {
		t.Errorf("lnx02 has no portwarden table after the repair:\n%s", out)
	}

	// A host whose sshd is stopped: host_up 0 and an error count, while
	// drift on another host is still repaired. watch keeps its connections
	// between rounds, so the host's sessions are cut too, as a host that
	// goes down drops them.
	cutSSHSessions(t, l, "lnx03")
	stopSSHD(t, l, "lnx03")
	m = eventually(t, base, 15*time.Second, "lnx03 down", func(m string) bool {
		return metricIs(m, `portwarden_host_up{host="lnx03"}`, 0) && metricAtLeast(m, `portwarden_errors_total{host="lnx03",kind="connect"}`, 1)
	})
	repairsBefore, _ = metricValue(m, `portwarden_remediations_total{host="lnx01"}`)
	execOK(t, l, "lnx01", "nft", "delete table inet portwarden")
	eventually(t, base, 15*time.Second, "lnx01 repaired while lnx03 is down", func(m string) bool {
		return metricAtLeast(m, `portwarden_remediations_total{host="lnx01"}`, repairsBefore+1) &&
			metricIs(m, `portwarden_host_in_drift{host="lnx01"}`, 0) && metricIs(m, `portwarden_host_up{host="lnx03"}`, 0)
	})
	if out := execOK(t, l, "lnx01", "nft", "list tables"); !strings.Contains(out, "inet portwarden") {
		t.Errorf("lnx01 has no portwarden table after the repair:\n%s", out)
	}
	if logs.find("host failed", func(m map[string]any) bool { return m["host"] == "lnx03" && m["kind"] == "connect" }) == nil {
		t.Errorf("no log line for lnx03's failure:\n%s", logs)
	}
	if logs.find("round done", func(m map[string]any) bool { return m["failed"] == float64(1) }) == nil {
		t.Errorf("no summary line counting the failed host:\n%s", logs)
	}

	// SIGHUP with a broken inventory: reported with file:line, metric 0,
	// and the old inventory stays in force (rounds go on with 3 hosts).
	good, _ := os.ReadFile(inv)
	if err := os.WriteFile(inv, append(append([]byte{}, good...), []byte("\nhost \"broken\" {\n  address = \n}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m = eventually(t, base, 10*time.Second, "inventory_valid 0 after SIGHUP", func(m string) bool {
		return metricIs(m, "portwarden_inventory_valid", 0)
	})
	last, _ := metricValue(m, "portwarden_last_round_timestamp_seconds")
	eventually(t, base, 15*time.Second, "rounds go on with the old inventory", func(m string) bool {
		now, _ := metricValue(m, "portwarden_last_round_timestamp_seconds")
		return now > last && metricIs(m, `portwarden_host_up{host="lnx01"}`, 1) && metricIs(m, `portwarden_hosts{state="in_sync"}`, 2)
	})
	if logs.find("inventory diagnostic", func(m map[string]any) bool {
		pos, _ := m["pos"].(string)
		return strings.HasPrefix(pos, inv+":") && m["severity"] == "error"
	}) == nil {
		t.Errorf("no diagnostic with file:line in the log:\n%s", logs)
	}
	_, body := httpGet(t, base+"/status")
	var st watchStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.InventoryValid || st.LastRound == nil || len(st.LastRound.Hosts) != 3 {
		t.Errorf("/status after a broken reload: %v\n%s", err, body)
	}

	// The audit log holds watch's repairs.
	entries := readAudit(t, filepath.Join(stateDir, "audit.log"))
	if len(entriesFor(entries, "lnx02")) < 2 || len(entriesFor(entries, "lnx01")) < 2 || entries[0].Command != "watch" {
		t.Errorf("audit log: %d entries, want at least two each for lnx01 and lnx02 from watch", len(entries))
	}
	if strings.Contains(logs.String(), "BEGIN OPENSSH PRIVATE KEY") {
		t.Error("a private key reached the log")
	}

	// SIGTERM: exit 0 within a few seconds.
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
