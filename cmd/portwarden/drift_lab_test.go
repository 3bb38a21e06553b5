package main

// Lab tests of scheduled drift detection: the exit code table of one-shot
// plan and apply, the audit log and the textfile metrics they write.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// stopSSHD stops a lab host's sshd, so the host is down for portwarden,
// and waits until its port refuses connections.
func stopSSHD(t *testing.T, l *lab.Lab, name string) {
	t.Helper()
	h, _ := l.Host(name)
	if h.PID <= 0 {
		t.Fatalf("%s has no sshd pid", name)
	}
	if err := syscall.Kill(h.PID, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping sshd of %s: %v", name, err)
	}
	addr := net.JoinHostPort(h.Address.String(), "22")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
	t.Fatalf("sshd of %s still accepts connections", name)
}

// twoReposAndAGateway is the inventory of the drift tests: lnx01 and
// lnx02 repositories (they reach each other), lnx03 a gateway server.
func twoReposAndAGateway(t *testing.T, l *lab.Lab) string {
	t.Helper()
	return writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"backup_repository"}},
		"lnx03": {roles: []string{"gateway_server"}},
	}, "")
}

// readAudit reads the audit log back, one entry per line.
func readAudit(t *testing.T, path string) []auditEntry {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []auditEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e auditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, e)
	}
	return out
}

// metricValue finds one sample in Prometheus text format: name{labels}
// with the labels as written (sorted by the library), e.g.
// `portwarden_host_up{host="lnx01"}`. ok is false when it is absent.
func metricValue(text, series string) (v float64, ok bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, found := strings.CutPrefix(line, series+" "); found {
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

func wantMetric(t *testing.T, text, series string, want float64) {
	t.Helper()
	if v, ok := metricValue(text, series); !ok || v != want {
		t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
	}
}

// TestExitCodeTable runs the documented exit code table against the lab,
// for plan and apply alike, and reads back the audit log and the metrics
// file that apply writes.
func TestExitCodeTable(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	// Invalid input needs no lab: 1 for both, and nothing written.
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(bad, []byte("host \"x\" {\n  address = \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
		cmd := argv[0]
		_, errOut, code := runCLI(t, append(argv, "--inventory", bad, "--detailed-exitcode")...)
		if code != exitInvalid || !strings.Contains(errOut, "bad.hcl line 2") {
			t.Errorf("%s of an invalid inventory: exit %d, want %d with file:line\n%s", cmd, code, exitInvalid, errOut)
		}
	}

	l := lab.UpForTest(t, lab.Options{Linux: 3})
	inv := twoReposAndAGateway(t, l)
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.log")
	metrics := filepath.Join(dir, "portwarden.prom")
	apply := func(extra ...string) int {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"apply", "--inventory", inv, "--auto-approve", "--detailed-exitcode",
			"--audit-log", audit, "--metrics-file", metrics}, extra...)...)
		t.Logf("apply exit %d:\n%s%s", code, out, errOut)
		return code
	}

	// A fresh fleet: changes found, then made.
	if _, code := planDoc(t, inv); code != exitChanges {
		t.Fatalf("plan of a fresh fleet: exit %d, want %d", code, exitChanges)
	}
	if code := apply(); code != exitChanges {
		t.Fatalf("apply of a fresh fleet: exit %d, want %d", code, exitChanges)
	}
	entries := readAudit(t, audit)
	if len(entries) != 3 {
		t.Fatalf("audit log has %d entries after changing 3 hosts, want 3: %+v", len(entries), entries)
	}
	invSum := entries[0].InventoryDigest
	for _, e := range entries {
		if e.Result != "applied" || e.Backend == "" || len(e.Changes) == 0 || e.ControllerUser == "" || e.ControllerHost == "" ||
			!strings.HasPrefix(e.BeforeDigest, "sha256:") || !strings.HasPrefix(e.AfterDigest, "sha256:") || e.BeforeDigest == e.AfterDigest ||
			e.InventoryDigest != invSum || !strings.HasPrefix(invSum, "sha256:") {
			t.Errorf("incomplete audit entry: %+v", e)
		}
	}
	auditBefore, _ := os.ReadFile(audit)

	// In sync: 0 for both, and no audit entry.
	if _, code := planDoc(t, inv); code != exitOK {
		t.Fatalf("plan of a converged fleet: exit %d, want %d", code, exitOK)
	}
	if code := apply(); code != exitOK {
		t.Fatalf("apply of a converged fleet: exit %d, want %d", code, exitOK)
	}
	if got := readAudit(t, audit); len(got) != 3 {
		t.Errorf("an apply that changed nothing wrote to the audit log: %d entries", len(got))
	}
	text, _ := os.ReadFile(metrics)
	wantMetric(t, string(text), `portwarden_host_in_drift{host="lnx02"}`, 0)
	wantMetric(t, string(text), `portwarden_hosts{state="in_sync"}`, 3)

	// Drift made by hand on lnx02: 2, repaired, audited.
	execOK(t, l, "lnx02", "nft", "delete table inet portwarden")
	if doc, code := planDoc(t, inv); code != exitChanges || len(hostOf(doc, "lnx02").Changes) == 0 {
		t.Fatalf("plan with drift: exit %d, want %d", code, exitChanges)
	}
	if code := apply(); code != exitChanges {
		t.Fatalf("apply with drift: exit %d, want %d", code, exitChanges)
	}
	entries = readAudit(t, audit)
	auditNow, _ := os.ReadFile(audit)
	if len(entries) != 4 || entries[3].Host != "lnx02" || !strings.HasPrefix(string(auditNow), string(auditBefore)) {
		t.Fatalf("audit log after repairing lnx02: %d entries (want 4, the last lnx02), earlier lines kept: %v",
			len(entries), strings.HasPrefix(string(auditNow), string(auditBefore)))
	}
	if e := entries[3]; e.BeforeDigest == e.AfterDigest || e.AfterDigest != entriesFor(entries, "lnx02")[0].AfterDigest {
		t.Errorf("lnx02's repair: before %s after %s, want after = the first apply's after %s", e.BeforeDigest, e.AfterDigest, entriesFor(entries, "lnx02")[0].AfterDigest)
	}
	text, _ = os.ReadFile(metrics)
	wantMetric(t, string(text), `portwarden_host_in_drift{host="lnx02"}`, 1)
	wantMetric(t, string(text), `portwarden_host_changes_pending{host="lnx02"}`, 0)
	wantMetric(t, string(text), `portwarden_remediations_total{host="lnx02"}`, 1)

	// lnx03 down and drift on lnx01: 3 for both; lnx01 is still repaired.
	stopSSHD(t, l, "lnx03")
	execOK(t, l, "lnx01", "nft", "delete table inet portwarden")
	if doc, code := planDoc(t, inv); code != exitPartial || len(hostOf(doc, "lnx01").Changes) == 0 || hostOf(doc, "lnx03").Error == "" {
		t.Fatalf("plan with a host down and drift elsewhere: exit %d, want %d", code, exitPartial)
	}
	if code := apply(); code != exitPartial {
		t.Fatalf("apply with a host down and drift elsewhere: exit %d, want %d", code, exitPartial)
	}
	if doc, _ := planDoc(t, inv, "--host", "lnx01"); len(hostOf(doc, "lnx01").Changes) != 0 {
		t.Errorf("lnx01 was not repaired while lnx03 was down: %+v", hostOf(doc, "lnx01").Changes)
	}
	text, _ = os.ReadFile(metrics)
	wantMetric(t, string(text), `portwarden_host_up{host="lnx03"}`, 0)
	wantMetric(t, string(text), `portwarden_host_up{host="lnx01"}`, 1)
	wantMetric(t, string(text), `portwarden_errors_total{host="lnx03",kind="connect"}`, 1)
	wantMetric(t, string(text), `portwarden_hosts{state="failed"}`, 1)

	// Nothing could be done: 1.
	if _, code := planDoc(t, inv, "--host", "lnx03"); code != exitInvalid {
		t.Errorf("plan of only the down host: exit %d, want %d", code, exitInvalid)
	}

	// --max-failed 1 with one host at a time and every host down: the
	// first failure stops the run, the others are never started.
	stopSSHD(t, l, "lnx01")
	stopSSHD(t, l, "lnx02")
	doc, code := planDoc(t, inv, "--parallel", "1", "--max-failed", "1")
	tried, notStarted := 0, 0
	for _, h := range doc.Hosts {
		switch {
		case strings.Contains(h.Error, "not started"):
			notStarted++
		case h.Error != "":
			tried++
		}
	}
	if code != exitInvalid || tried != 1 || notStarted != 2 {
		t.Errorf("--max-failed 1: exit %d, %d hosts tried, %d not started; want %d, 1, 2", code, tried, notStarted, exitInvalid)
	}
}

func entriesFor(es []auditEntry, host string) []auditEntry {
	var out []auditEntry
	for _, e := range es {
		if e.Host == host {
			out = append(out, e)
		}
	}
	return out
}
