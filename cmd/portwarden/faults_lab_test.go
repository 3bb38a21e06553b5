package main

// Fault suites against the lab (issue 9): each fault must leave every
// host in its old or its new state, and a rerun must converge. Figures
// from these tests are in docs/reliability.md (go test -v prints them).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// buildPortwarden builds this command, for tests that must kill it.
func buildPortwarden(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portwarden")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building portwarden: %v\n%s", err, out)
	}
	return bin
}

// cliProc is portwarden running as its own process, its --progress json
// events read as they come.
type cliProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	events chan progressEvent
	done   chan struct{}
	code   int
}

func startCLI(t *testing.T, bin string, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{cmd: exec.Command(bin, args...), events: make(chan progressEvent, 256), done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var e progressEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Phase != "" {
				p.events <- e
			}
		}
		close(p.events)
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p
}

// waitEvent returns when an event matching ok arrives.
func (p *cliProc) waitEvent(t *testing.T, what string, ok func(progressEvent) bool) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case e, open := <-p.events:
			if !open {
				t.Fatalf("portwarden ended before %s:\n%s", what, p.stdout.String())
			}
			if ok(e) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s in 2 minutes", what)
		}
	}
}

func (p *cliProc) wait(t *testing.T) int {
	t.Helper()
	go func() {
		for range p.events {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("portwarden did not end in 3 minutes")
	}
	return p.code
}

// fault adds a drop rule in the host's own namespace, ahead of every
// other input chain, and returns what removes it.
func fault(t *testing.T, l *lab.Lab, host, rule string) func() {
	t.Helper()
	execOK(t, l, host, "nft", "add table inet pwfault; add chain inet pwfault in { type filter hook input priority -300; policy accept; }; add rule inet pwfault in "+rule)
	removed := false
	remove := func() {
		if !removed {
			removed = true
			execOK(t, l, host, "nft", "delete table inet pwfault")
		}
	}
	t.Cleanup(remove)
	return remove
}

// owned is what portwarden owns on a host: its table, "" when it has none.
func owned(l *lab.Lab, host string) string {
	out, err := l.Exec(context.Background(), host, nil, "nft", "list", "table", "inet", "portwarden")
	if err != nil {
		return ""
	}
	return string(out)
}

// waitOwned waits until host's owned state is want and returns how long
// that took.
func waitOwned(t *testing.T, l *lab.Lab, host, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for owned(l, host) != want {
		if time.Since(start) > within {
			t.Fatalf("%s: not back to its old state within %s; it has:\n%s", host, within, owned(l, host))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// waitArmed waits until host's apply script has armed its revert (it is
// about to change the host) and returns false if that did not happen
// within a few seconds.
func waitArmed(l *lab.Lab, host string) bool {
	h, _ := l.Host(host)
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		if m, _ := filepath.Glob(hostPath(h, "run/portwarden/apply.*/armed")); len(m) > 0 {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// hostPath is p (relative to the host's persist root) as the host itself
// sees it: through its server process's root, so in the host's own mount
// namespace (its private /run and /etc).
func hostPath(h lab.Host, p string) string {
	return filepath.Join("/proc", strconv.Itoa(h.PID), "root", h.PersistRoot, p)
}

// waitRevertDone waits until host's own armed revert has run to its end
// (its log ends with its exit status) and returns false if it did not
// within d (a bound, not a timing).
func waitRevertDone(l *lab.Lab, host string, d time.Duration) bool {
	h, _ := l.Host(host)
	for start := time.Now(); time.Since(start) < d; time.Sleep(50 * time.Millisecond) {
		m, _ := filepath.Glob(hostPath(h, "run/portwarden/apply.*/revert.log"))
		for _, f := range m {
			if b, err := os.ReadFile(f); err == nil && (bytes.Contains(b, []byte("\nexit ")) || bytes.HasPrefix(b, []byte("exit "))) {
				return true
			}
		}
	}
	return false
}

// converge reruns apply, checks that plan then has nothing to do, and
// returns the new owned state of each host.
func converge(t *testing.T, l *lab.Lab, inv string, hosts ...string) map[string]string {
	t.Helper()
	rerunConverges(t, inv)
	out := map[string]string{}
	for _, h := range hosts {
		out[h] = owned(l, h)
		if out[h] == "" {
			t.Fatalf("%s has nothing of portwarden's after a converged apply", h)
		}
	}
	return out
}

var faultSpecs = map[string]hostSpec{
	"lnx01": {roles: []string{"backup_repository"}},
	"lnx02": {roles: []string{"backup_repository"}},
}

// TestFaultLockoutRollsBack: a policy that cuts the controller off (here
// a port forward: the inventory reaches sshd on 2222, which the host
// redirects to 22, so enforce mode's management rule opens the wrong
// port). The old session survives (established traffic), the confirm's
// new connection cannot get in, the host is rolled back and stays
// reachable.
func TestFaultLockoutRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	execOK(t, l, "lnx01", "nft", "add table ip pwnat; add chain ip pwnat pre { type nat hook prerouting priority dstnat; }; add rule ip pwnat pre tcp dport 2222 redirect to :22")
	inv := writeInventory(t, l, map[string]hostSpec{
		// No role: nothing of the policy opens 22 from the controller.
		"lnx01": {roles: []string{}, mode: "enforce", extra: "  ssh {\n    port = 2222\n  }\n"},
	}, "")
	start := time.Now()
	ad, code := applyJSON(t, inv, "--accept-new-host-keys", "--confirm-timeout", "15s")
	took := time.Since(start)
	h := hostOf(ad.jsonPlan, "lnx01")
	if code != 1 || !strings.Contains(h.Error, "rolled back: the controller could not reconnect") || h.Left != "rolled back" {
		t.Fatalf("lockout apply: exit %d, error %q, left %q", code, h.Error, h.Left)
	}
	if got := owned(l, "lnx01"); got != "" {
		t.Errorf("lnx01 kept the lockout policy:\n%s", got)
	}
	t.Logf("lockout: apply, failed confirm and rollback took %s", took.Round(100*time.Millisecond))
	// Still reachable: the next run connects and plans the same change.
	if doc, code := planDoc(t, inv); code != 2 || hostOf(doc, "lnx01").Error != "" {
		t.Fatalf("after the rollback: plan exit %d %+v", code, hostOf(doc, "lnx01"))
	}
	// The text summary says what the host is left with.
	out, _, _ := runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--confirm-timeout", "15s")
	if !strings.Contains(out, "Left as they were: lnx01 (rolled back: lnx01).") {
		t.Errorf("summary does not say lnx01 was rolled back:\n%s", out)
	}
}

// TestFaultControllerKilledBeforeConfirm: the controller dies (SIGKILL)
// after the apply scripts ran and before it confirmed: every host
// reverts by itself when the confirm timeout ends.
func TestFaultControllerKilledBeforeConfirm(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bin := buildPortwarden(t)
	inv := writeInventory(t, l, faultSpecs, "")
	const timeout = 8 * time.Second
	p := startCLI(t, bin, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--progress", "json", "--confirm-timeout", timeout.String())
	// Once both hosts are planned (their connections are open), new SSH
	// connections from the controller are dropped: the confirm hangs.
	planned := 0
	p.waitEvent(t, "both hosts planned", func(e progressEvent) bool {
		if e.Phase == "plan" && e.Event == "done" {
			planned++
		}
		return planned == 2
	})
	var removes []func()
	for _, h := range []string{"lnx01", "lnx02"} {
		removes = append(removes, fault(t, l, h, fmt.Sprintf("ip saddr %s tcp dport 22 ct state new drop", l.Controller)))
	}
	p.waitEvent(t, "a confirm", func(e progressEvent) bool { return e.Phase == "confirm" && e.Event == "start" })
	armed := time.Now()
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	applied := 0
	for _, h := range []string{"lnx01", "lnx02"} {
		if owned(l, h) != "" {
			applied++
		}
	}
	if applied == 0 {
		t.Fatal("no host had the change when the controller was killed: the test proves nothing")
	}
	for _, remove := range removes {
		remove()
	}
	var wg sync.WaitGroup
	for _, h := range []string{"lnx01", "lnx02"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitOwned(t, l, h, "", timeout+15*time.Second)
		}()
	}
	wg.Wait()
	t.Logf("controller killed: %d hosts reverted by themselves %s after the kill (confirm timeout %s)", applied, time.Since(armed).Round(100*time.Millisecond), timeout)
	converge(t, l, inv, "lnx01", "lnx02")
}

// TestFaultPacketsDroppedMidApply: every packet from the controller is
// dropped inside one host's namespace while its apply runs.
func TestFaultPacketsDroppedMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bin := buildPortwarden(t)
	specs := map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}, extra: "  ssh {\n    command_timeout = \"5s\"\n  }\n"},
		"lnx02": faultSpecs["lnx02"],
	}
	inv := writeInventory(t, l, specs, "")
	const timeout = 10 * time.Second
	// The test holds lnx01's lock, so its script waits at its first step
	// until every packet is dropped (dropping once the script had armed its
	// revert raced with the apply finishing on a loaded machine).
	release := holdHostLock(t, l, "lnx01")
	p := startCLI(t, bin, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--progress", "json", "--confirm-timeout", timeout.String(), "--lock-wait", "5m")
	// New connections are dropped from the start of the apply (so no
	// confirm can get through), every packet while lnx01's script waits
	// for the lock, before it arms its revert and changes the host.
	p.waitEvent(t, "lnx01's apply", func(e progressEvent) bool { return e.Host == "lnx01" && e.Phase == "apply" && e.Event == "start" })
	removeNew := fault(t, l, "lnx01", fmt.Sprintf("ip saddr %s tcp dport 22 ct state new drop", l.Controller))
	if !waitLockWaiter(l, "lnx01", 2*time.Minute) {
		t.Fatal("lnx01's apply never waited for the host's lock")
	}
	execOK(t, l, "lnx01", "nft", fmt.Sprintf("insert rule inet pwfault in ip saddr %s drop", l.Controller))
	release()
	start := time.Now()
	code := p.wait(t)
	var doc applyDoc
	if err := json.Unmarshal(p.stdout.Bytes(), &doc); err != nil {
		t.Fatalf("apply output: %v\n%s", err, p.stdout.String())
	}
	h1 := hostOf(doc.jsonPlan, "lnx01")
	if code != 3 || h1.Error == "" || h1.Left == "applied" {
		t.Fatalf("exit %d, lnx01 %q left %q", code, h1.Error, h1.Left)
	}
	if h2 := hostOf(doc.jsonPlan, "lnx02"); h2.Error != "" || h2.Left != "applied" {
		t.Errorf("lnx02, without a fault, did not apply: %q %q", h2.Error, h2.Left)
	}
	gaveUp := time.Since(start)
	removeNew()
	// Until the script has made the change lnx01 has nothing of
	// portwarden's either: wait for the revert, not for the old state.
	revertStart := time.Now()
	if !waitRevertDone(l, "lnx01", timeout+2*time.Minute) {
		t.Fatal("lnx01's own revert did not run: the apply did not go on behind the fault, or did not arm")
	}
	took := time.Since(revertStart)
	if got := owned(l, "lnx01"); got != "" {
		t.Errorf("lnx01 after its own revert still has:\n%s", got)
	}
	t.Logf("packets dropped: the controller gave up on lnx01 after %s (left %q: %s); lnx01 in its old state %s after that",
		gaveUp.Round(100*time.Millisecond), h1.Left, h1.Error, took.Round(100*time.Millisecond))
	converge(t, l, inv, "lnx01", "lnx02")
}

// sshdSessions are the per-connection sshd processes under a lab host's
// listener (the listener itself survives, so the next run connects).
func sshdSessions(t *testing.T, listener int) []int {
	t.Helper()
	return descendants(listener, "sshd")
}

// descendants are the processes named comm below pid (a lab host's
// listener: its sessions and what they run).
func descendants(listener int, name string) []int {
	children := map[int][]int{}
	comm := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
		comm[pid] = s[i+1 : j]
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			if comm[c] == name {
				out = append(out, c)
			}
			walk(c)
		}
	}
	walk(listener)
	return out
}

// holdHostLock takes host's portwarden lock, as another run would: an
// apply script then waits at its first step (flock), having read its
// stdin and changed nothing. It returns the release.
func holdHostLock(t *testing.T, l *lab.Lab, host string) (release func()) {
	t.Helper()
	h, _ := l.Host(host)
	if err := os.MkdirAll(hostPath(h, "run/portwarden"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(hostPath(h, "run/portwarden.lock"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { f.Close() }) } // closing the only descriptor drops the flock
	t.Cleanup(release)
	return release
}

// waitLockWaiter waits until a script on host waits for its lock (a
// flock process under the host's listener) and returns false if none did
// within d (a bound, not a timing).
func waitLockWaiter(l *lab.Lab, host string, d time.Duration) bool {
	h, _ := l.Host(host)
	for start := time.Now(); time.Since(start) < d; time.Sleep(10 * time.Millisecond) {
		if len(descendants(h.PID, "flock")) > 0 {
			return true
		}
	}
	return false
}

// TestFaultSSHDKilledMidApply: the host's sshd processes serving the run
// are killed while the apply runs. The test holds the host's lock, so the
// apply script is provably running and waiting at its first step when
// sshd dies (killing after it armed its revert raced with the apply
// finishing on a loaded machine); released, the script makes the change
// with nobody left to confirm it, and the host must revert by itself.
func TestFaultSSHDKilledMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bin := buildPortwarden(t)
	inv := writeInventory(t, l, faultSpecs, "")
	const timeout = 8 * time.Second
	h1, _ := l.Host("lnx01")
	release := holdHostLock(t, l, "lnx01")
	// --lock-wait well past how long the test holds the lock.
	p := startCLI(t, bin, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--progress", "json", "--confirm-timeout", timeout.String(), "--lock-wait", "5m")
	p.waitEvent(t, "lnx01's apply", func(e progressEvent) bool { return e.Host == "lnx01" && e.Phase == "apply" && e.Event == "start" })
	if !waitLockWaiter(l, "lnx01", 2*time.Minute) {
		t.Fatal("lnx01's apply never waited for the host's lock")
	}
	killed := sshdSessions(t, h1.PID)
	if len(killed) == 0 {
		t.Fatal("no sshd session process under lnx01's listener")
	}
	for _, pid := range killed {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	release()
	start := time.Now()
	code := p.wait(t)
	var doc applyDoc
	json.Unmarshal(p.stdout.Bytes(), &doc)
	if h := hostOf(doc.jsonPlan, "lnx01"); code != 3 || h.Error == "" || h.Left == "applied" {
		t.Fatalf("exit %d, lnx01 %q left %q", code, h.Error, h.Left)
	}
	h := hostOf(doc.jsonPlan, "lnx01")
	// Until the script has made the change lnx01 has nothing of
	// portwarden's either: wait for the revert, not for the old state.
	if !waitRevertDone(l, "lnx01", timeout+2*time.Minute) {
		t.Fatal("lnx01's own revert did not run: the apply did not go on after sshd died, or did not arm")
	}
	if got := owned(l, "lnx01"); got != "" {
		t.Errorf("lnx01 after its own revert still has:\n%s", got)
	}
	t.Logf("sshd killed (%d processes): lnx01 (left %q: %s) in its old state %s after the kill",
		len(killed), h.Left, h.Error, time.Since(start).Round(100*time.Millisecond))
	converge(t, l, inv, "lnx01", "lnx02")
}

// TestFaultTwoAppliesAtOnce: two runs against the same hosts at once.
// The host-side lock lets one change a host at a time; the other waits,
// and either applies after it (the same rules) or fails that host with
// the lock error. Every host ends in the new state, and a rerun changes
// nothing.
func TestFaultTwoAppliesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	inv := writeInventory(t, l, faultSpecs, "")
	type result struct {
		doc  applyDoc
		code int
	}
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--format", "json", "--lock-wait", "1s")
			json.Unmarshal([]byte(out), &results[i].doc)
			results[i].code = code
		}()
	}
	wg.Wait()
	busy := 0
	for i, r := range results {
		for _, h := range r.doc.Hosts {
			switch {
			case h.Error == "" || len(h.Changes) == 0:
			case h.Error == "another portwarden run holds the lock on "+h.Name && h.Left == "unchanged":
				busy++
			default:
				t.Errorf("run %d, %s: %q (left %q): neither applied nor refused for the lock", i, h.Name, h.Error, h.Left)
			}
		}
	}
	t.Logf("two applies at once: %d host runs refused for the lock", busy)
	before := map[string]string{"lnx01": owned(l, "lnx01"), "lnx02": owned(l, "lnx02")}
	after := converge(t, l, inv, "lnx01", "lnx02")
	for h := range before {
		if before[h] != after[h] {
			t.Errorf("%s was not in the new state after the two runs:\n%s\nnew:\n%s", h, before[h], after[h])
		}
	}
}
