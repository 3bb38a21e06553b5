package firewall

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/rule"
)

func TestParseApplyReport(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      ApplyReport
	}{
		{"applied and armed", "### portwarden:apply\nnft: transaction committed\noutcome=applied\nconfirm=apply.Ab12Cd34\n",
			ApplyReport{Outcome: OutcomeApplied, ConfirmID: "apply.Ab12Cd34"}},
		{"lock busy", "### portwarden:apply\nlock=busy\noutcome=unchanged\n", ApplyReport{Outcome: OutcomeUnchanged, LockBusy: true}},
		{"rolled back", "### portwarden:apply\noutcome=rolled-back\n", ApplyReport{Outcome: OutcomeRolledBack}},
		// A host cannot make the controller confirm a path it names.
		{"hostile id", "### portwarden:apply\noutcome=applied\nconfirm=../../etc\n", ApplyReport{Outcome: OutcomeApplied}},
		{"unknown outcome", "### portwarden:apply\noutcome=fine\n", ApplyReport{}},
		{"confirm result", "### portwarden:confirm\nresult=confirmed\n", ApplyReport{Confirm: "confirmed"}},
		{"no section", "outcome=applied\n", ApplyReport{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseApplyReport(ParseFacts(tc.out)); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfirmScriptRejectsForeignIDs(t *testing.T) {
	c := linuxConfirmer{}
	for _, id := range []string{"", "apply.", "apply.ab;rm -rf /", "../apply.abcdef", "apply.abc def1"} {
		if _, err := c.Confirm(id); err == nil {
			t.Errorf("Confirm(%q) accepted", id)
		}
		if _, err := c.RevertNow(id); err == nil {
			t.Errorf("RevertNow(%q) accepted", id)
		}
	}
}

// TestConfirmScriptsBounded: the confirm and revert-now change the host
// (not ReadOnly: never a resident shell, never "sh -s") but start only
// programs that end by themselves, so they run without the host-side
// timeout process; an apply script does not.
func TestConfirmScriptsBounded(t *testing.T) {
	c := linuxConfirmer{}
	for name, f := range map[string]func(string) (Script, error){"Confirm": c.Confirm, "RevertNow": c.RevertNow} {
		s, err := f("apply.AbC12345")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Bounded || s.ReadOnly {
			t.Errorf("%s: Bounded %v ReadOnly %v, want Bounded and not ReadOnly", name, s.Bounded, s.ReadOnly)
		}
	}
	s, err := nftBackend().Apply(loadFacts(t, "empty"), Desired{Mode: rule.Additive})
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounded || s.ReadOnly {
		t.Errorf("an apply script is Bounded %v ReadOnly %v", s.Bounded, s.ReadOnly)
	}
}

// guardCase sets up one backend on a hardened host (a foreign ruleset
// that drops, so jumps are saved and restored too).
type guardCase struct {
	backend  string
	harden   string
	breakFor string // a path under the root made a directory so persisting fails
}

var guardCases = []guardCase{
	{"nftables", nftLoad(baselineDrop), "etc/nftables.conf"},
	{"iptables", iptablesDrop, "etc/iptables"},
}

// host is the case's kernel host, hardened, with portwarden's additive
// rules applied; any armed revert a failed test leaves is reaped.
func (tc guardCase) host(t *testing.T) *kernelHost {
	t.Helper()
	h := newKernelHost(t, tc.backend)
	reapWatchers(t, h.root)
	h.ns.sh(tc.harden)
	h.apply(lxDesired(rule.Additive))
	return h
}

// reapWatchers ends, when the test ends, any armed revert a failed test
// left behind under the test host's root: it would otherwise sleep on
// past the test and then restore into a deleted namespace.
func reapWatchers(t *testing.T, root string) {
	t.Cleanup(func() {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.Contains(b, []byte(guardRevertTg)) && bytes.Contains(b, []byte(root+"/")) {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
}

// revertProcs counts the armed reverts' processes under root.
func revertProcs(root string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(guardRevertTg)) && bytes.Contains(b, []byte(root+"/")) {
			n++
		}
	}
	return n
}

// runApply renders d with guard g from fresh facts and runs it; it
// returns the script's report, its stderr and exit code.
func (h *kernelHost) runApply(d Desired, g Guard) (ApplyReport, string, int) {
	h.ns.t.Helper()
	return h.runApplyEdited(d, g, func(body string) string { return body })
}

// runApplyEdited is runApply with the rendered body passed through edit
// first (see gateRevertTimer).
func (h *kernelHost) runApplyEdited(d Desired, g Guard, edit func(string) string) (ApplyReport, string, int) {
	h.ns.t.Helper()
	d.Guard = g
	b, f := h.detect()
	s, err := b.Apply(f, d)
	if err != nil {
		h.ns.t.Fatal(err)
	}
	out, errOut, code := h.ns.run(edit(s.Body), s.Stdin)
	return ParseApplyReport(ParseFacts(out)), errOut, code
}

// owned is what the host holds of portwarden's, live and persisted, for
// comparing before and after.
func (h *kernelHost) owned(backend string) string {
	h.ns.t.Helper()
	var live string
	if backend == "nftables" {
		live = h.ns.sh("nft list ruleset")
	} else {
		live = stable(h.ns.sh("iptables-save -t filter; ip6tables-save -t filter"))
	}
	var files strings.Builder
	for _, f := range []string{nftPersistPath, "/etc/nftables.conf", iptPersistV4, iptPersistV6} {
		b, err := os.ReadFile(filepath.Join(h.root, f))
		if err == nil {
			if strings.HasPrefix(f, "/etc/iptables") {
				b = []byte(stable(string(b)))
			}
			files.WriteString("== " + f + "\n" + string(b))
		}
	}
	return live + files.String()
}

// revertTimer is where the detached revert of every Linux apply script
// starts its confirm timeout (see linuxGuard.render).
const revertTimer = `sleep "$1" && mv "$2/armed" "$2/firing"`

var gatePathRe = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)

// gateRevertTimer returns the apply script body with its armed revert's
// timer held until the file gate exists: the confirm timeout then starts
// when the test creates gate, not when the script armed the revert. On a
// loaded machine an apply can outlast a short timeout; with the gate the
// apply has provably finished before the timeout starts, whatever the
// load, and the revert still fires only by its own timer. Confirm and
// RevertNow end the held revert as they end a sleeping one (its process
// group).
func gateRevertTimer(t *testing.T, body, gate string) string {
	t.Helper()
	if !gatePathRe.MatchString(gate) {
		t.Fatalf("gate %q: the test puts it unquoted into a single-quoted shell string", gate)
	}
	if strings.Count(body, revertTimer) != 1 {
		t.Fatal("the rendered script changed: the test cannot hold its revert timer")
	}
	return strings.Replace(body, revertTimer, `while [ ! -e "`+gate+`" ]; do sleep 0.05; done; `+revertTimer, 1)
}

// openGate starts the confirm timeout of a revert held by gateRevertTimer.
func openGate(t *testing.T, gate string) time.Time {
	t.Helper()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func (h *kernelHost) stateDirs() []string {
	m, _ := filepath.Glob(filepath.Join(h.root, guardDir, "apply.*"))
	return m
}

// TestGuardRollsBackWhenPersistingFails: the live change commits, the
// persisted file cannot be written, and the host is left exactly as it
// was, live rules, jumps and persisted files included.
func TestGuardRollsBackWhenPersistingFails(t *testing.T) {
	requireKernel(t, "nft", "iptables", "ip6tables", "flock")
	for _, tc := range guardCases {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			h := tc.host(t)
			// nftables: the configuration becomes a directory (the new
			// file is written, then the include fails, so the file must be
			// put back); iptables: its directory becomes a file.
			broken := filepath.Join(h.root, tc.breakFor)
			if err := os.RemoveAll(broken); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.backend == "nftables" {
				err = os.MkdirAll(broken, 0o755)
			} else {
				err = os.WriteFile(broken, nil, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			before := h.owned(tc.backend)
			rep, errOut, code := h.runApply(lxDesired(rule.Enforce), Guard{})
			if code == 0 || rep.Outcome != OutcomeRolledBack {
				t.Fatalf("exit %d, report %+v, want a rollback; stderr:\n%s", code, rep, errOut)
			}
			if !strings.Contains(errOut, "persisting") || !strings.Contains(errOut, "rolled back") {
				t.Errorf("stderr does not say persisting failed and the host was rolled back:\n%s", errOut)
			}
			if after := h.owned(tc.backend); after != before {
				t.Errorf("the host is not as it was:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if d := h.stateDirs(); len(d) > 0 {
				t.Errorf("state directories left behind: %v", d)
			}
			// Once persisting works again, the same change applies.
			os.RemoveAll(broken)
			if rep, errOut, code := h.runApply(lxDesired(rule.Enforce), Guard{}); code != 0 || rep.Outcome != OutcomeApplied {
				t.Fatalf("rerun: exit %d %+v\n%s", code, rep, errOut)
			}
			checkState(t, h.state(), lxDesired(rule.Enforce))
		})
	}
}

// TestGuardLockIsExclusive: while another run holds the host's lock, an
// apply waits LockWait, then changes nothing and says so.
func TestGuardLockIsExclusive(t *testing.T) {
	requireKernel(t, "nft", "flock")
	h := newKernelHost(t, "nftables")
	lock := filepath.Join(h.root, guardLock)
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	// flock -o: the lock is not passed on to sleep, so killing flock frees it.
	holder := exec.Command("flock", "-o", lock, "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	for i := 0; ; i++ { // wait until the holder has the lock
		if exec.Command("flock", "-n", lock, "true").Run() != nil {
			break
		}
		if i > 100 {
			t.Fatal("the holder never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	rep, errOut, code := h.runApply(lxDesired(rule.Additive), Guard{LockWait: time.Second})
	if code == 0 || !rep.LockBusy || rep.Outcome != OutcomeUnchanged {
		t.Fatalf("exit %d, report %+v; stderr %s", code, rep, errOut)
	}
	if !strings.Contains(errOut, "another portwarden run holds the lock") {
		t.Errorf("stderr: %s", errOut)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("gave up after %s, before the lock wait", el)
	}
	if st := h.state(); st.Installed {
		t.Errorf("an apply without the lock changed the host: %+v", st)
	}
	holder.Process.Kill()
	holder.Wait()
	if rep, errOut, code := h.runApply(lxDesired(rule.Additive), Guard{LockWait: time.Second}); code != 0 || rep.Outcome != OutcomeApplied {
		t.Fatalf("after the lock is free: exit %d %+v %s", code, rep, errOut)
	}
}

// TestGuardCommitConfirmed: an armed revert restores the previous state by
// itself when nobody confirms, does nothing once confirmed, and runs at
// once on RevertNow; it holds the host's lock while armed.
func TestGuardCommitConfirmed(t *testing.T) {
	requireKernel(t, "nft", "iptables", "ip6tables", "flock", "setsid")
	for _, tc := range guardCases {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			h := tc.host(t)
			before := h.owned(tc.backend)
			conf := linuxConfirmer{root: h.root}
			guard := Guard{ConfirmTimeout: 3 * time.Second, LockWait: time.Second}
			// Each armed revert's timer is held until the test opens its
			// gate (gateRevertTimer), so the apply and the second run below
			// happen inside the confirm window however loaded the machine.
			gates := t.TempDir()
			gated := func(name string) func(string) string {
				return func(body string) string { return gateRevertTimer(t, body, filepath.Join(gates, name)) }
			}

			// Nobody confirms: the host reverts by itself.
			rep, errOut, code := h.runApplyEdited(lxDesired(rule.Enforce), guard, gated("unconfirmed"))
			if code != 0 || rep.Outcome != OutcomeApplied || rep.ConfirmID == "" {
				t.Fatalf("armed apply: exit %d %+v\n%s", code, rep, errOut)
			}
			// A second run meanwhile finds the lock held by the armed revert.
			if rep2, _, _ := h.runApply(lxDesired(rule.Additive), Guard{LockWait: time.Second}); !rep2.LockBusy {
				t.Errorf("a second run during the confirm window got the lock: %+v", rep2)
			}
			checkState(t, h.state(), lxDesired(rule.Enforce))
			armedAt := openGate(t, filepath.Join(gates, "unconfirmed"))
			for h.owned(tc.backend) != before {
				if time.Since(armedAt) > 60*time.Second {
					t.Fatalf("not reverted 60s after starting a 3s revert:\n%s", h.owned(tc.backend))
				}
				time.Sleep(100 * time.Millisecond)
			}
			if took := time.Since(armedAt); took < guard.ConfirmTimeout {
				t.Errorf("reverted %s after its timer started, before the confirm timeout %s", took, guard.ConfirmTimeout)
			}
			t.Logf("reverted by itself %s after starting a 3s revert", time.Since(armedAt).Round(10*time.Millisecond))
			s, _ := conf.Confirm(rep.ConfirmID)
			if got := ParseApplyReport(h.ns.script(s)).Confirm; got != "reverting" {
				t.Errorf("confirm after the revert: %q, want reverting", got)
			}

			// Confirmed: the change stays past the timeout.
			rep, errOut, code = h.runApplyEdited(lxDesired(rule.Enforce), guard, gated("confirmed"))
			if code != 0 || rep.ConfirmID == "" {
				t.Fatalf("armed apply: exit %d %+v\n%s", code, rep, errOut)
			}
			s, _ = conf.Confirm(rep.ConfirmID)
			if got := ParseApplyReport(h.ns.script(s)).Confirm; got != "confirmed" {
				t.Fatalf("confirm: %q", got)
			}
			// A repeated confirm (its first answer lost) is still told confirmed.
			if got := ParseApplyReport(h.ns.script(s)).Confirm; got != "confirmed" {
				t.Errorf("a second confirm: %q, want confirmed", got)
			}
			// The confirm ended the waiting revert's process too.
			for n := 0; revertProcs(h.root) > 0; n++ {
				if n == 100 {
					t.Fatalf("%d revert processes left 10s after the confirm", revertProcs(h.root))
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Were the revert still there, it would fire 3s after this.
			openGate(t, filepath.Join(gates, "confirmed"))
			time.Sleep(guard.ConfirmTimeout + time.Second)
			checkState(t, h.state(), lxDesired(rule.Enforce))
			if d := h.stateDirs(); len(d) > 0 {
				t.Errorf("state directories left after confirm: %v", d)
			}

			// RevertNow goes back at once, and reads back the old state.
			confirmed := h.owned(tc.backend)
			// The gate stays shut: only RevertNow can revert this one.
			rep, errOut, code = h.runApplyEdited(lxDesired(rule.Additive), guard, gated("revert-now"))
			if code != 0 || rep.ConfirmID == "" {
				t.Fatalf("armed apply: exit %d %+v\n%s", code, rep, errOut)
			}
			s, _ = conf.RevertNow(rep.ConfirmID)
			f := h.ns.script(s)
			if got := ParseApplyReport(f).Confirm; got != "reverted" {
				t.Fatalf("revert now: %q", got)
			}
			if after := h.owned(tc.backend); after != confirmed {
				t.Errorf("revert now did not restore:\nwant:\n%s\ngot:\n%s", confirmed, after)
			}
			st, err := h.backend(f).State(f)
			if err != nil {
				t.Fatal(err)
			}
			checkState(t, st, lxDesired(rule.Enforce))
			// The lock is free again; without a confirm timeout (--no-confirm)
			// nothing is armed: no confirm id, no state left for a revert.
			if rep, errOut, code := h.runApply(lxDesired(rule.Enforce), Guard{LockWait: time.Second}); code != 0 || rep.LockBusy || rep.ConfirmID != "" {
				t.Errorf("after revert now, unconfirmed: exit %d %+v %s", code, rep, errOut)
			}
			if d := h.stateDirs(); len(d) > 0 {
				t.Errorf("an apply without confirm timeout left state for a revert: %v", d)
			}
		})
	}
}

func TestSessionClient(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for not ok
	}{
		{"ssh_connection=198.18.5.1 40522 198.18.5.2 22\n", "198.18.5.1"},
		{"ssh_connection=::ffff:198.18.5.1 40522 198.18.5.2 22\n", "198.18.5.1"},
		{"ssh_connection=fd70:7764:0:5::1 40522 fd70:7764:0:5::2 22\n", "fd70:7764:0:5::1"},
		{"ssh_connection=fe80::1%eth0 40522 fe80::2%eth0 22\n", ""},
		{"ssh_connection=\n", ""},
		{"ssh_connection=198.18.5.1\n", ""},
		{"ssh_connection=$(reboot) 1 2 3\n", ""},
	} {
		a, ok := SessionClient(Facts{linuxSecSession: tc.in})
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("SessionClient(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, ok := SessionClient(Facts{}); ok {
		t.Error("no session section: ok")
	}
}

// TestGuardRevertDuringSlowApply: on a host slower than the confirm
// timeout the revert fires while the apply still runs (here the change is
// held in the rendered script until the revert has run); the apply then puts
// the saved state back itself and reports a rollback, instead of leaving
// a change that committed after the revert.
func TestGuardRevertDuringSlowApply(t *testing.T) {
	requireKernel(t, "nft", "flock", "setsid")
	h := newKernelHost(t, "nftables")
	reapWatchers(t, h.root)
	h.ns.sh(nftLoad(baselineDrop))
	h.apply(lxDesired(rule.Additive))
	before := h.owned("nftables")
	d := lxDesired(rule.Enforce)
	d.Guard = Guard{ConfirmTimeout: time.Second, LockWait: time.Second}
	b, f := h.detect()
	s, err := b.Apply(f, d)
	if err != nil {
		t.Fatal(err)
	}
	const change = `elif nft -f "$pw_tmp/live"`
	if !strings.Contains(s.Body, change) {
		t.Fatal("the rendered script changed: the test cannot delay its change")
	}
	// The change waits until the revert has run (its log ends with its exit
	// status; at most 60s), as on a host slower than the timeout: ordered by
	// construction, not by a sleep longer than the timeout.
	s.Body = strings.Replace(s.Body, change, `elif { pw_w=0; while ! grep -qs '^exit ' "$pw_state/revert.log" && [ "$pw_w" -lt 1200 ]; do sleep 0.05; pw_w=$((pw_w + 1)); done; } && nft -f "$pw_tmp/live"`, 1)
	out, errOut, code := h.ns.run(s.Body, s.Stdin)
	rep := ParseApplyReport(ParseFacts(out))
	if code == 0 || rep.Outcome != OutcomeRolledBack || rep.ConfirmID != "" {
		t.Fatalf("exit %d, report %+v; stderr %s", code, rep, errOut)
	}
	if !strings.Contains(errOut, "confirm timeout ended before the apply finished") {
		t.Errorf("stderr does not say why: %s", errOut)
	}
	if after := h.owned("nftables"); after != before {
		t.Errorf("the host is not as it was:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestApplyWithoutAwk: where the host has no awk (the split of the
// apply's standard input needs it), the nftables and iptables applies fail
// before the lock, say so, and change nothing. The script is run with its
// awk check pointed at a tool no host has: the lab's hosts all have awk.
func TestApplyWithoutAwk(t *testing.T) {
	requireKernel(t, "nft", "iptables", "ip6tables", "flock")
	for _, tc := range guardCases {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			h := tc.host(t)
			before := h.owned(tc.backend)
			noAwk := func(body string) string {
				if !strings.Contains(body, "pw_has awk;") {
					t.Fatalf("the %s apply script has no awk check", tc.backend)
				}
				return strings.ReplaceAll(body, "pw_has awk;", "pw_has pw-no-such-awk;")
			}
			rep, errOut, code := h.runApplyEdited(lxDesired(rule.Enforce), Guard{}, noAwk)
			if code == 0 || rep.Outcome != OutcomeUnchanged {
				t.Fatalf("exit %d, report %+v, want a failure that changed nothing; stderr:\n%s", code, rep, errOut)
			}
			if !strings.Contains(errOut, "awk is not installed; nothing was changed") {
				t.Errorf("stderr does not say awk is missing:\n%s", errOut)
			}
			if after := h.owned(tc.backend); after != before {
				t.Errorf("the host changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if d := h.stateDirs(); len(d) > 0 {
				t.Errorf("state directories left behind: %v", d)
			}
		})
	}
}
