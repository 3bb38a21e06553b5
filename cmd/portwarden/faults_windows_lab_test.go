package main

// The fault suite for Windows hosts (simulated: lab/wsman and lab/winfw
// in the host's network namespace). The armed revert is a scheduled task
// that the simulated host's process runs at its trigger with a real timer.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/lab/winfw"
)

// winOwned is what portwarden owns on a Windows lab host, from its rule
// store: the group's rules and the profiles' inbound defaults.
func winOwned(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	var st winfw.State
	if err := json.Unmarshal(labHostFile(t, l, host, "winfw.json"), &st); err != nil {
		t.Fatalf("%s: winfw.json: %v", host, err)
	}
	var out strings.Builder
	for _, r := range st.Rules {
		if r.Group == "portwarden" {
			fmt.Fprintf(&out, "%s %s %s %v %v\n", r.Name, r.Enabled, r.Protocol, r.LocalPort, r.RemoteAddress)
		}
	}
	for _, p := range st.Profiles {
		fmt.Fprintf(&out, "%s %s\n", p.Name, p.DefaultInboundAction)
	}
	return out.String()
}

// editWinfw changes a Windows lab host's rule store by hand (the
// simulated host reads it fresh for every cmdlet).
func editWinfw(t *testing.T, l *lab.Lab, host string, fn func(*winfw.State)) {
	t.Helper()
	h, _ := l.Host(host)
	path := filepath.Join(h.Dir, "winfw.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st winfw.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	fn(&st)
	if b, err = json.MarshalIndent(st, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// winrmOnlyByDefaultAllow lets WinRM into host only through its profiles'
// DefaultInboundAction Allow (WinRM's own rules disabled), which enforce
// mode sets to Block: after an enforce apply, only the management rule
// admits the controller.
func winrmOnlyByDefaultAllow(t *testing.T, l *lab.Lab, host string) {
	t.Helper()
	editWinfw(t, l, host, func(st *winfw.State) {
		for i := range st.Profiles {
			st.Profiles[i].DefaultInboundAction = "Allow"
		}
		for i := range st.Rules {
			if strings.HasPrefix(st.Rules[i].Name, "WINRM-") {
				st.Rules[i].Enabled = "False"
			}
		}
	})
}

// winTasks are the scheduled tasks registered on a Windows lab host.
func winTasks(t *testing.T, l *lab.Lab, host string) []winfw.Task {
	t.Helper()
	h, _ := l.Host(host)
	b, err := os.ReadFile(filepath.Join(h.Dir, "tasks.json"))
	if os.IsNotExist(err) {
		return nil
	}
	var ts []winfw.Task
	if err != nil || json.Unmarshal(b, &ts) != nil {
		t.Fatalf("%s: tasks.json: %v", host, err)
	}
	return ts
}

// winReverted reports whether the host's own revert task restored the
// state (it leaves "<run>.log" saying so until the next apply).
func winReverted(l *lab.Lab, host string) bool {
	h, _ := l.Host(host)
	logs, _ := filepath.Glob(filepath.Join(h.Dir, "programdata", "portwarden", "apply.*.log"))
	for _, f := range logs {
		if b, _ := os.ReadFile(f); string(b) == "reverted" {
			return true
		}
	}
	return false
}

func waitWinOwned(t *testing.T, l *lab.Lab, host, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for winOwned(t, l, host) != want {
		if time.Since(start) > within {
			t.Fatalf("%s: not back to its old state within %s; it has:\n%s\nwant:\n%s", host, within, winOwned(t, l, host), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// rerunConverges reruns apply and checks that plan has nothing left to do.
func rerunConverges(t *testing.T, inv string) {
	t.Helper()
	if ad, code := applyJSON(t, inv); code != 0 {
		for _, h := range ad.Hosts {
			t.Logf("%s: %s (left %s)", h.Name, h.Error, h.Left)
		}
		t.Fatalf("rerun after the fault: exit %d", code)
	}
	if doc, code := planDoc(t, inv); code != 0 {
		t.Fatalf("plan after the rerun: exit %d %+v", code, doc.Hosts)
	}
}

// TestFaultWindowsLockoutRollsBack: an enforce policy that cuts the
// controller off a Windows host. The inventory reaches WinRM on 5987,
// which the host forwards to 5986, so the management rule opens the wrong
// port; the host had let WinRM in only through its Public profile's
// DefaultInboundAction Allow, which enforce mode sets to Block. The
// confirm's new connection cannot get in; the host is rolled back (at
// once over the open shell, or by its own task) and stays reachable.
func TestFaultWindowsLockoutRollsBack(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	winrmOnlyByDefaultAllow(t, l, "win01")
	execOK(t, l, "win01", "nft", "add table ip pwnat; add chain ip pwnat pre { type nat hook prerouting priority dstnat; }; add rule ip pwnat pre tcp dport 5987 redirect to :5986")
	inv := writeInventory(t, l, map[string]hostSpec{
		"win01": {roles: []string{}, mode: "enforce", extra: "  winrm {\n    port = 5987\n  }\n"},
	}, "")
	before := winOwned(t, l, "win01")
	const timeout = 15 * time.Second
	start := time.Now()
	ad, code := applyJSON(t, inv, "--confirm-timeout", timeout.String())
	took := time.Since(start)
	h := hostOf(ad.jsonPlan, "win01")
	if code != 1 || !strings.Contains(h.Error, "rolled back: the controller could not reconnect") || (h.Left != "rolled back" && h.Left != "reverting by itself") {
		t.Fatalf("lockout apply: exit %d, error %q, left %q", code, h.Error, h.Left)
	}
	back := waitWinOwned(t, l, "win01", before, timeout+15*time.Second)
	t.Logf("windows lockout: apply, failed confirm and rollback took %s (left %q), old state %s later", took.Round(100*time.Millisecond), h.Left, back.Round(100*time.Millisecond))
	if doc, code := planDoc(t, inv); code != 2 || hostOf(doc, "win01").Error != "" {
		t.Fatalf("after the rollback: plan exit %d %+v", code, hostOf(doc, "win01"))
	}
}

// TestFaultWindowsControllerKilledBeforeConfirm: the controller dies
// (SIGKILL) after the apply and before its confirm got through: the
// Windows host's scheduled task reverts it when the confirm timeout ends,
// long after the WinRM shell that registered it is gone.
func TestFaultWindowsControllerKilledBeforeConfirm(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	bin := buildPortwarden(t)
	inv := writeInventory(t, l, map[string]hostSpec{"win01": {roles: []string{"hyperv_host"}, mode: "enforce"}}, "")
	before := winOwned(t, l, "win01")
	const timeout = 8 * time.Second
	p := startCLI(t, bin, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--progress", "json", "--confirm-timeout", timeout.String())
	// Once win01's apply has armed its revert (the task is registered),
	// new connections from the controller are dropped: the apply's own
	// connection goes on, the confirm's new one hangs.
	p.waitEvent(t, "win01's apply", func(e progressEvent) bool { return e.Phase == "apply" && e.Event == "start" })
	for start := time.Now(); len(winTasks(t, l, "win01")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("win01's apply never registered its revert task")
		}
	}
	remove := fault(t, l, "win01", fmt.Sprintf("ip saddr %s tcp dport 5986 ct state new drop", l.Controller))
	p.waitEvent(t, "a confirm", func(e progressEvent) bool { return e.Phase == "confirm" && e.Event == "start" })
	killed := time.Now()
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	if winOwned(t, l, "win01") == before {
		t.Fatal("win01 did not have the change when the controller was killed: the test proves nothing")
	}
	if ts := winTasks(t, l, "win01"); len(ts) != 1 || ts[0].Ran {
		t.Fatalf("win01's armed revert: %+v", ts)
	}
	remove()
	waitWinOwned(t, l, "win01", before, timeout+15*time.Second)
	// The task's script writes its log after its last cmdlet.
	for start := time.Now(); !winReverted(l, "win01") && time.Since(start) < 5*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	if !winReverted(l, "win01") {
		h, _ := l.Host("win01")
		files, _ := filepath.Glob(filepath.Join(h.Dir, "programdata", "portwarden", "*"))
		t.Errorf("win01's own revert task did not log a revert: tasks %+v, files %v", winTasks(t, l, "win01"), files)
	}
	t.Logf("controller killed: win01 reverted by itself %s after the kill (confirm timeout %s)", time.Since(killed).Round(100*time.Millisecond), timeout)
	rerunConverges(t, inv)
	if ts := winTasks(t, l, "win01"); len(ts) != 0 {
		t.Errorf("tasks left after the rerun: %+v", ts)
	}
}

// TestWindowsCommitConfirmed: a confirmed apply keeps its change past the
// timeout; the task and the saved state are gone.
func TestWindowsCommitConfirmed(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	inv := writeInventory(t, l, map[string]hostSpec{"win01": {roles: []string{"hyperv_host"}, mode: "enforce"}}, "")
	ad, code := applyJSON(t, inv, "--confirm-timeout", "6s")
	if h := hostOf(ad.jsonPlan, "win01"); code != 0 || h.Left != "applied" {
		t.Fatalf("apply: exit %d %q left %q", code, h.Error, h.Left)
	}
	after := winOwned(t, l, "win01")
	if ts := winTasks(t, l, "win01"); len(ts) != 0 {
		t.Errorf("the confirmed run left its task: %+v", ts)
	}
	h, _ := l.Host("win01")
	if left, _ := filepath.Glob(filepath.Join(h.Dir, "programdata", "portwarden", "*")); len(left) != 0 {
		t.Errorf("the confirmed run left files: %v", left)
	}
	time.Sleep(7 * time.Second)
	if got := winOwned(t, l, "win01"); got != after {
		t.Fatalf("the confirmed change did not last:\n%s\nwant:\n%s", got, after)
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Errorf("plan after the timeout: exit %d", code)
	}
}

// TestFaultWindowsTwoAppliesAtOnce: two runs against one Windows host at
// once. The mutex and the armed revert let one change the host; the other
// waits for the mutex and then either finds nothing to do or is refused
// with the lock message while the first run's revert is armed. The host
// ends in the new state and a rerun changes nothing.
func TestFaultWindowsTwoAppliesAtOnce(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	inv := writeInventory(t, l, map[string]hostSpec{"win01": {roles: []string{"hyperv_host"}, mode: "enforce"}}, "")
	var wg sync.WaitGroup
	docs := make([]applyDoc, 2)
	for i := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, _ := runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--lock-wait", "1s")
			json.Unmarshal([]byte(out), &docs[i])
		}()
	}
	wg.Wait()
	applied, busy := 0, 0
	for i, d := range docs {
		h := hostOf(d.jsonPlan, "win01")
		switch {
		case h.Error == "" && h.Left == "applied":
			applied++
		case h.Error == "" && len(h.Changes) == 0:
		case h.Error == "another portwarden run holds the lock on win01" && h.Left == "unchanged":
			busy++
		default:
			t.Errorf("run %d: %q (left %q): neither applied nor refused for the lock", i, h.Error, h.Left)
		}
	}
	if applied == 0 {
		t.Error("neither run applied")
	}
	t.Logf("two applies at once on a Windows host: %d applied, %d refused for the lock", applied, busy)
	rerunConverges(t, inv)
}

// TestWindowsManagementSourceIsTheHostsView: the controller reaches win01
// through a forward on itself (127.0.0.2:5986, as through a NAT box), so
// its own end of the connection is a loopback address while the host sees
// the forwarder's bridge address. WinRM is let in only by the profiles'
// DefaultInboundAction Allow, which enforce mode sets to Block: the
// management rule must name the address the host sees, or the confirm's
// new connection is locked out and the change rolled back.
func TestWindowsManagementSourceIsTheHostsView(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	winrmOnlyByDefaultAllow(t, l, "win01")
	h, _ := l.Host("win01")
	// The forward keeps the port (the management rule opens the port the
	// inventory names; a forward that changes it is the lockout of
	// TestFaultWindowsLockoutRollsBack): it listens on 127.0.0.2:5986.
	port := lab.ForwardForTest(t, "127.0.0.2:5986", net.JoinHostPort(h.Address.String(), "5986"), netip.Addr{})
	inv := writeInventory(t, l, map[string]hostSpec{
		"win01": {roles: []string{"hyperv_host"}, mode: "enforce", extra: fmt.Sprintf("  winrm {\n    port = %d\n    tls_server_name = \"win01\"\n  }\n", port)},
	}, "")
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), fmt.Sprintf("address = %q", h.Address), `address = "127.0.0.2"`, 1))
	if err := os.WriteFile(inv, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ad, code := applyJSON(t, inv, "--confirm-timeout", "10s")
	if hp := hostOf(ad.jsonPlan, "win01"); code != 0 || hp.Left != "applied" {
		t.Fatalf("apply through the forward: exit %d, %q, left %q", code, hp.Error, hp.Left)
	}
	var mgmt []string
	for _, line := range strings.Split(winOwned(t, l, "win01"), "\n") {
		if strings.HasPrefix(line, "portwarden-management ") {
			mgmt = append(mgmt, line)
		}
	}
	if len(mgmt) != 1 || !strings.Contains(mgmt[0], "["+l.Controller.String()+"]") || strings.Contains(mgmt[0], "127.0.0.") {
		t.Fatalf("management rule %q, want the host's view %s (the controller's own end is on loopback)", mgmt, l.Controller)
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Errorf("plan through the forward after the apply: exit %d", code)
	}
}
