package winfw

// Commit-confirmed on the simulated host: the scheduled task that the
// apply script registers runs at its trigger in the host's own process,
// with a real timer, after the script (and any WinRM shell) ended.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/lab/wsman"
	"github.com/portwarden/portwarden/rule"
)

// groupRules is what portwarden owns in st: the group's rules and the
// profiles' inbound defaults, for comparing states.
func groupRules(st State) string {
	var b strings.Builder
	for _, r := range st.Rules {
		if r.Group == rule.Tag {
			b.WriteString(r.Name + " " + r.DisplayName + " " + r.Protocol + " " + strings.Join(r.LocalPort, ",") + " " + strings.Join(r.RemoteAddress, ",") + " " + r.Description + "\n")
		}
	}
	for _, p := range st.Profiles {
		b.WriteString(p.Name + " " + p.DefaultInboundAction + "\n")
	}
	return b.String()
}

// guardedApply runs an apply with commit-confirmed and returns its
// output and confirm id.
func guardedApply(t *testing.T, fw *Firewall, d firewall.Desired, timeout time.Duration) (string, string) {
	t.Helper()
	d.Guard = firewall.Guard{ConfirmTimeout: timeout, LockWait: time.Second}
	s, err := firewall.Windows{}.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, fw, s.Body)
	rep := firewall.ParseApplyReport(firewall.ParseFacts(out))
	if rep.Outcome != firewall.OutcomeApplied || rep.ConfirmID == "" {
		t.Fatalf("apply report %+v\n%s", rep, out)
	}
	return out, rep.ConfirmID
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func closeOnCleanup(t *testing.T, fw *Firewall) *Firewall {
	t.Cleanup(fw.Close)
	return fw
}

// TestUnconfirmedApplyRevertsByItself: nobody confirms; the task fires
// after the timeout and restores the group and the profiles (enforce mode
// set Block), and the next apply converges.
func TestUnconfirmedApplyRevertsByItself(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	apply(t, fw, desired(rule.Additive))
	before := groupRules(snapshot(t, fw))
	if err := fw.Modify(func(st *State) error { st.profile("Public").DefaultInboundAction = "Allow"; return nil }); err != nil {
		t.Fatal(err)
	}
	before = groupRules(snapshot(t, fw))
	start := time.Now()
	guardedApply(t, fw, desired(rule.Enforce), 2*time.Second)
	if got := groupRules(snapshot(t, fw)); got == before || !strings.Contains(got, "Public Block") {
		t.Fatalf("the apply changed nothing:\n%s", got)
	}
	tasks, err := fw.Tasks()
	if err != nil || len(tasks) != 1 || tasks[0].Path != `\portwarden\` || tasks[0].UserID != "S-1-5-18" || tasks[0].Ran {
		t.Fatalf("tasks after the apply: %+v %v", tasks, err)
	}
	waitFor(t, "the revert", 15*time.Second, func() bool { return groupRules(snapshot(t, fw)) == before })
	t.Logf("reverted %s after the apply (confirm timeout 2s)", time.Since(start).Round(10*time.Millisecond))
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("reverted after %s, before the trigger", took)
	}
	waitFor(t, "the task's result", 5*time.Second, func() bool {
		ts, _ := fw.Tasks()
		return len(ts) == 1 && ts[0].Ran && ts[0].State == "Ready"
	})
	if ts, _ := fw.Tasks(); ts[0].LastTaskResult != 0 {
		t.Errorf("LastTaskResult %#x", ts[0].LastTaskResult)
	}
	if b, err := os.ReadFile(filepath.Join(fw.programDataHost(), ts0Name(t, fw)+".log")); err != nil || string(b) != "reverted" {
		t.Errorf("revert log: %q %v", b, err)
	}
	// The next apply cleans up after the revert and converges.
	st := apply(t, fw, desired(rule.Enforce))
	if len(st.Drift) != 0 || st.Mode != rule.Enforce {
		t.Errorf("rerun: %+v", st)
	}
	if ts, _ := fw.Tasks(); len(ts) != 0 {
		t.Errorf("the rerun left tasks: %+v", ts)
	}
}

func ts0Name(t *testing.T, fw *Firewall) string {
	ts, err := fw.Tasks()
	if err != nil || len(ts) == 0 {
		t.Fatalf("no task: %v", err)
	}
	return ts[0].Name
}

// TestConfirmedApplyStays: the confirm removes the task and the saved
// state; the change outlives the timeout.
func TestConfirmedApplyStays(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	_, id := guardedApply(t, fw, desired(rule.Enforce), 2*time.Second)
	after := groupRules(snapshot(t, fw))
	c, err := firewall.Windows{}.Confirm(id)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, fw, c.Body)
	if r := firewall.ParseApplyReport(firewall.ParseFacts(out)).Confirm; r != "confirmed" {
		t.Fatalf("confirm said %q:\n%s", r, out)
	}
	if ts, _ := fw.Tasks(); len(ts) != 0 {
		t.Fatalf("the task is still registered: %+v", ts)
	}
	time.Sleep(3 * time.Second)
	if got := groupRules(snapshot(t, fw)); got != after {
		t.Fatalf("the confirmed change was reverted:\n%s\nwant:\n%s", got, after)
	}
	ents, _ := os.ReadDir(fw.programDataHost())
	for _, e := range ents {
		t.Errorf("left in ProgramData\\portwarden: %s", e.Name())
	}
	// A second confirm knows no such revert.
	out, _ = run(t, fw, c.Body)
	if r := firewall.ParseApplyReport(firewall.ParseFacts(out)).Confirm; r != "unknown" {
		t.Errorf("second confirm said %q", r)
	}
}

// TestRevertNowAndLateConfirm: the revert at once restores and reads back;
// a confirm after the task fired says "reverting".
func TestRevertNowAndLateConfirm(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	before := groupRules(snapshot(t, fw))
	_, id := guardedApply(t, fw, desired(rule.Additive), 30*time.Second)
	r, _ := firewall.Windows{}.RevertNow(id)
	out, _ := run(t, fw, r.Body)
	f := firewall.ParseFacts(out)
	if rep := firewall.ParseApplyReport(f); rep.Confirm != "reverted" {
		t.Fatalf("revert now said %+v:\n%s", rep, out)
	}
	if st, err := (firewall.Windows{}).State(f); err != nil || st.Installed {
		t.Errorf("read-back after the revert: %+v %v", st, err)
	}
	if got := groupRules(snapshot(t, fw)); got != before {
		t.Errorf("not reverted:\n%s", got)
	}
	c, _ := firewall.Windows{}.Confirm(id)
	out, _ = run(t, fw, c.Body)
	if r := firewall.ParseApplyReport(firewall.ParseFacts(out)).Confirm; r != "reverting" {
		t.Errorf("confirm after the revert said %q", r)
	}
}

// TestApplyWaitsNotForArmedRevert: while a revert is armed, another apply
// changes nothing and reports the lock as held.
func TestApplyRefusedWhileRevertArmed(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	guardedApply(t, fw, desired(rule.Additive), 30*time.Second)
	before := groupRules(snapshot(t, fw))
	d := desired(rule.Enforce)
	d.Guard = firewall.Guard{ConfirmTimeout: 30 * time.Second, LockWait: time.Second}
	s, _ := firewall.Windows{}.Apply(nil, d)
	out, errOut, code := fw.Run(context.Background(), s.Body)
	rep := firewall.ParseApplyReport(firewall.ParseFacts(out))
	if code == 0 || !rep.LockBusy || rep.Outcome != firewall.OutcomeUnchanged || !strings.Contains(errOut, firewall.WindowsLockHeld) {
		t.Fatalf("exit %d, report %+v, stderr:\n%s", code, rep, errOut)
	}
	if got := groupRules(snapshot(t, fw)); got != before {
		t.Errorf("the refused apply changed the host")
	}
}

// TestTamperedStateIsNotRestored: the saved state lives in a directory
// that every user may write to; the revert checks the hash the task
// carries and leaves a tampered state alone (the task fails).
func TestTamperedStateIsNotRestored(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	guardedApply(t, fw, desired(rule.Additive), 2*time.Second)
	after := groupRules(snapshot(t, fw))
	name := ts0Name(t, fw)
	if err := os.WriteFile(filepath.Join(fw.programDataHost(), name+".json"), []byte(`{"Rules":[{"Name":"evil","DisplayName":"evil","Enabled":"True","Direction":"Inbound","Action":"Allow","Profile":"Any","Protocol":"Any","RemoteAddress":["Any"]}],"Profiles":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task to run", 15*time.Second, func() bool {
		ts, _ := fw.Tasks()
		return len(ts) == 1 && ts[0].Ran && ts[0].State == "Ready"
	})
	if ts, _ := fw.Tasks(); ts[0].LastTaskResult == 0 {
		t.Error("the task succeeded on a tampered state")
	}
	if got := groupRules(snapshot(t, fw)); got != after || hasRule(snapshot(t, fw), "evil") {
		t.Errorf("a tampered state was restored:\n%s", got)
	}
}

// TestScheduledTaskCmdletsAreStrict: parameters Windows refuses are
// refused, mandatory ones enforced, and Unregister-ScheduledTask cannot
// ask for confirmation in a non-interactive powershell.exe.
func TestScheduledTaskCmdletsAreStrict(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	head := "$global:ErrorActionPreference='Stop'\n$a=New-ScheduledTaskAction -Execute 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe' -Argument '-NoProfile -EncodedCommand JAA='\n"
	register := "Register-ScheduledTask -TaskName 't1' -TaskPath '\\portwarden\\' -Action $a -Trigger (New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(3600)) -Principal (New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\\SYSTEM' -LogonType ServiceAccount -RunLevel Highest)|Out-Null\n"
	tests := []struct{ name, script, want string }{
		{"unknown parameter", head + "Register-ScheduledTask -TaskName t -Action $a -RunAsAdmin", "A parameter cannot be found that matches parameter name 'RunAsAdmin'"},
		{"trigger without -At", head + "New-ScheduledTaskTrigger -Once", "missing mandatory parameters: At"},
		{"trigger without a schedule", head + "New-ScheduledTaskTrigger -At (Get-Date)", "Parameter set cannot be resolved"},
		{"register without an action", head + "Register-ScheduledTask -TaskName t -Trigger (New-ScheduledTaskTrigger -Once -At (Get-Date))", "missing mandatory parameters: Action"},
		{"bad task path", head + "Register-ScheduledTask -TaskName t -TaskPath 'portwarden' -Action $a -Trigger (New-ScheduledTaskTrigger -Once -At (Get-Date))", "The specified path is invalid."},
		{"SYSTEM without ServiceAccount", head + "Register-ScheduledTask -TaskName t -Action $a -Trigger (New-ScheduledTaskTrigger -Once -At (Get-Date)) -Principal (New-ScheduledTaskPrincipal -UserId SYSTEM -LogonType Password)", "incorrectly formatted or out of range"},
		{"registered twice without -Force", head + register + register, "Cannot create a file when that file already exists."},
		{"unregister asks", head + register + "Unregister-ScheduledTask -TaskName 't1' -TaskPath '\\portwarden\\'", "NonInteractive mode"},
		{"unregister a missing task", head + "Unregister-ScheduledTask -TaskName 'nope' -Confirm:$false", "No MSFT_ScheduledTask objects found with property 'TaskName' equal to 'nope'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := fw.Run(context.Background(), tt.script)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", code, errOut, tt.want)
			}
			fw.Run(context.Background(), "Unregister-ScheduledTask -TaskName '*' -Confirm:$false -ErrorAction SilentlyContinue")
		})
	}
}

// TestFailingTaskLeavesWhatItDid: a task whose script fails half-way
// leaves what it changed before the failure, stays registered and reports
// the failure in LastTaskResult, as on Windows; a task whose program does
// not exist changes nothing.
func TestFailingTaskLeavesWhatItDid(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	script := "$global:ErrorActionPreference='Stop'\nNew-NetFirewallRule -Name 'half' -DisplayName 'half' -Group 'x' -Protocol TCP -LocalPort 1 -RemoteAddress 10.0.0.1|Out-Null\nthrow 'boom'\n"
	enc := encodeCommandArg(script)
	run(t, fw, "$a=New-ScheduledTaskAction -Execute 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe' -Argument '-NoProfile -NonInteractive -EncodedCommand "+enc+"'\n"+
		"$b=New-ScheduledTaskAction -Execute 'C:\\Windows\\powershell.exe' -Argument '-EncodedCommand "+enc+"'\n"+
		"$t=New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(1)\n"+
		"Register-ScheduledTask -TaskName 'a' -Action $a -Trigger $t|Out-Null\nRegister-ScheduledTask -TaskName 'b' -Action $b -Trigger $t|Out-Null\n")
	waitFor(t, "both tasks to run", 15*time.Second, func() bool {
		ts, _ := fw.Tasks()
		return len(ts) == 2 && ts[0].Ran && ts[1].Ran && ts[0].State == "Ready" && ts[1].State == "Ready"
	})
	ts, _ := fw.Tasks()
	if ts[0].LastTaskResult != 1 || ts[1].LastTaskResult != taskFileNotFound {
		t.Errorf("results %#x %#x", ts[0].LastTaskResult, ts[1].LastTaskResult)
	}
	if !hasRule(snapshot(t, fw), "half") {
		t.Error("what the failing task did before it failed is gone")
	}
}

func encodeCommandArg(script string) string {
	return encodeB64(wsman.EncodeUTF16LE(script))
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestApplyRollsBackWhenTheCommitFails: a cmdlet fails after the commit
// began (the first rename, when the old rules are already gone): the
// script restores the saved state at once, says so, and drops its armed
// revert.
func TestApplyRollsBackWhenTheCommitFails(t *testing.T) {
	for _, confirm := range []time.Duration{0, 30 * time.Second} {
		t.Run(fmt.Sprint(confirm), func(t *testing.T) {
			var mu sync.Mutex
			failing, renames := false, 0
			fw, err := New(Options{StateDir: t.TempDir(), ManagementPort: 5986, Fault: func(cmdlet string) string {
				mu.Lock()
				defer mu.Unlock()
				if failing && cmdlet == "Rename-NetFirewallRule" {
					renames++
					if renames == 1 {
						return "Access is denied."
					}
				}
				return ""
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(fw.Close)
			apply(t, fw, desired(rule.Additive))
			before := groupRules(snapshot(t, fw))
			mu.Lock()
			failing = true
			mu.Unlock()
			d := desired(rule.Enforce)
			d.Guard = firewall.Guard{ConfirmTimeout: confirm, LockWait: time.Second}
			s, _ := firewall.Windows{}.Apply(nil, d)
			out, errOut, code := fw.Run(context.Background(), s.Body)
			rep := firewall.ParseApplyReport(firewall.ParseFacts(out))
			if code == 0 || rep.Outcome != firewall.OutcomeRolledBack || !strings.Contains(errOut, "rolled back") {
				t.Fatalf("exit %d, report %+v, stderr:\n%s", code, rep, errOut)
			}
			if got := groupRules(snapshot(t, fw)); got != before {
				t.Errorf("not rolled back:\n%s\nwant:\n%s", got, before)
			}
			if ts, _ := fw.Tasks(); len(ts) != 0 {
				t.Errorf("the rolled-back run left its task: %+v", ts)
			}
			if ents, _ := os.ReadDir(fw.programDataHost()); len(ents) != 0 {
				t.Errorf("the rolled-back run left %d files", len(ents))
			}
		})
	}
}

// TestOutputBeforeAThrowInAScriptBlock: what a script block run with &
// wrote before it threw reaches the output, as PowerShell streams it (a
// staged apply that fails still says what it left the host with).
func TestOutputBeforeAThrowInAScriptBlock(t *testing.T) {
	fw := newFirewall(t)
	out, _, code := fw.Run(context.Background(), "$global:ErrorActionPreference='Stop'\n& ([scriptblock]::Create(\"'lock=busy'\n'outcome=unchanged'\nthrow 'busy'\"))\n")
	if code != 1 || out != "lock=busy\r\noutcome=unchanged\r\n" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

// TestRevertReadsWrappedArrays: Windows PowerShell 5.1 may write the saved
// state's arrays as {"value":[...],"Count":n}; the restore reads them as
// arrays (a state written by hand here, with a marker and a matching id).
func TestRevertReadsWrappedArrays(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	run(t, fw, "New-Item -ItemType Directory -Path 'C:\\ProgramData\\portwarden'|Out-Null")
	state := `{"Rules":{"value":[{"Name":"portwarden-tcp-22-0000aaaa","DisplayName":"portwarden (tcp 22)","Description":null,"Enabled":"True","Direction":"Inbound","Action":"Allow","Profile":"Any","Protocol":"TCP","LocalPort":{"value":["22","2500-3300"],"Count":2},"RemoteAddress":{"value":["10.0.0.5","10.0.1.0/255.255.255.0"],"Count":2}}],"Count":1},"Profiles":{"Domain":"NotConfigured","Private":"NotConfigured","Public":"NotConfigured"}}`
	const run0 = "apply.0123456789ab"
	sum := sha256.Sum256([]byte(state))
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	dir := fw.programDataHost()
	if err := os.WriteFile(filepath.Join(dir, run0+".json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "armed"), []byte(run0+" "+fmt.Sprint(time.Now().Unix()+60)), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := firewall.Windows{}.RevertNow(run0 + hash[:16])
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := fw.Run(context.Background(), r.Body)
	if firewall.ParseApplyReport(firewall.ParseFacts(out)).Confirm != "reverted" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	st := snapshot(t, fw)
	for _, rule := range st.Rules {
		if rule.Name == "portwarden-tcp-22-0000aaaa" {
			if strings.Join(rule.LocalPort, ",") != "22,2500-3300" || strings.Join(rule.RemoteAddress, ",") != "10.0.0.5,10.0.1.0/255.255.255.0" {
				t.Errorf("restored %+v", rule)
			}
			return
		}
	}
	t.Errorf("the rule was not restored: %s", groupRules(st))
}

// TestRevertSurvivesARestart: the simulated host goes down inside the
// confirm window and comes back after the trigger: the task has
// StartWhenAvailable and runs at start, so the unconfirmed change is
// undone all the same. A task without it stays missed, as on Windows.
func TestRevertSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	fw, err := New(Options{StateDir: dir, ManagementPort: 5986})
	if err != nil {
		t.Fatal(err)
	}
	before := groupRules(snapshot(t, fw))
	guardedApply(t, fw, desired(rule.Additive), 1*time.Second)
	run(t, fw, "Register-ScheduledTask -TaskName 'plain' -Action (New-ScheduledTaskAction -Execute 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe' -Argument '-EncodedCommand JAA=') -Trigger (New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(1))|Out-Null")
	fw.Close() // the host is down
	time.Sleep(2 * time.Second)
	if got := groupRules(snapshot(t, fw)); got == before {
		t.Fatal("the revert ran while the host was down")
	}
	fw, err = New(Options{StateDir: dir, ManagementPort: 5986}) // and up again
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fw.Close)
	waitFor(t, "the missed revert", 10*time.Second, func() bool { return groupRules(snapshot(t, fw)) == before })
	ts, _ := fw.Tasks()
	for _, task := range ts {
		if task.Name == "plain" && task.Ran {
			t.Error("a missed task without StartWhenAvailable ran at start")
		}
	}
}

// TestForgedMarkerDoesNotBlock: anyone may write files in ProgramData; a
// marker without a registered task (made up by a local user, or left by
// a task deleted by hand) does not keep runs out.
func TestForgedMarkerDoesNotBlock(t *testing.T) {
	fw := closeOnCleanup(t, newFirewall(t))
	if err := fw.SetProgramDataACL(sidAdmins, true, sidSystem, sidAdmins); err != nil {
		t.Fatal(err)
	}
	for _, marker := range []string{"apply.0123456789ab 99999999999", "* 99999999999", "apply.0123456789ab"} {
		if err := os.WriteFile(filepath.Join(fw.programDataHost(), "armed"), []byte(marker), 0o600); err != nil {
			t.Fatal(err)
		}
		guardedApply(t, fw, desired(rule.Additive), 30*time.Second)
		// Confirm it so the next round starts unarmed.
		tasks, _ := fw.Tasks()
		run(t, fw, "Unregister-ScheduledTask -TaskName '"+tasks[0].Name+"' -Confirm:$false;Remove-Item -LiteralPath 'C:\\ProgramData\\portwarden\\armed'")
	}
}

// TestStateDirMustBeProtected: the directory of the saved state is made
// owned by Administrators with a protected DACL for SYSTEM and
// Administrators; one that exists with any other security (inherited
// from ProgramData, as New-Item leaves it, or owned by a user) stops the
// apply before any change.
func TestStateDirMustBeProtected(t *testing.T) {
	fresh := closeOnCleanup(t, newFirewall(t))
	guardedApply(t, fresh, desired(rule.Additive), 30*time.Second)
	if a := fresh.loadACL(); !a.Protected || a.Owner != sidAdmins || strings.Join(a.SIDs, ",") != sidSystem+","+sidAdmins {
		t.Errorf("the directory portwarden made has %+v", a)
	}
	tests := []struct {
		name  string
		setup func(fw *Firewall) error
	}{
		{"made with New-Item", func(fw *Firewall) error {
			_, _, code := fw.Run(context.Background(), "New-Item -ItemType Directory -Path 'C:\\ProgramData\\portwarden'|Out-Null")
			if code != 0 {
				return fmt.Errorf("New-Item exit %d", code)
			}
			return nil
		}},
		{"owned by a user", func(fw *Firewall) error {
			return fw.SetProgramDataACL("S-1-5-21-1004336348-1177238915-682003330-1001", true, sidSystem, sidAdmins)
		}},
		{"writable by Users", func(fw *Firewall) error { return fw.SetProgramDataACL(sidAdmins, true, sidSystem, sidAdmins, sidUsers) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := closeOnCleanup(t, newFirewall(t))
			if err := tt.setup(fw); err != nil {
				t.Fatal(err)
			}
			before := groupRules(snapshot(t, fw))
			d := desired(rule.Enforce)
			d.Guard = firewall.Guard{ConfirmTimeout: 30 * time.Second, LockWait: time.Second}
			s, _ := firewall.Windows{}.Apply(nil, d)
			out, errOut, code := fw.Run(context.Background(), s.Body)
			if rep := firewall.ParseApplyReport(firewall.ParseFacts(out)); code == 0 || rep.Outcome != firewall.OutcomeUnchanged || !strings.Contains(errOut, "must be owned by Administrators") {
				t.Fatalf("exit %d %+v\n%s", code, rep, errOut)
			}
			if groupRules(snapshot(t, fw)) != before {
				t.Error("the refused apply changed the host")
			}
			if ts, _ := fw.Tasks(); len(ts) != 0 {
				t.Errorf("the refused apply registered %+v", ts)
			}
		})
	}
}

// TestApplyWhileSystemHoldsItsOwnMutex: a process running as SYSTEM
// (the revert task of a portwarden that made the lock with SYSTEM's
// default DACL) holds Global\portwarden, which an Administrator cannot
// open: the apply reports the lock as busy, says why, and changes
// nothing.
func TestApplyWhileSystemHoldsItsOwnMutex(t *testing.T) {
	fw, err := New(Options{StateDir: t.TempDir(), ManagementPort: 5986, MaxMutexWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := fw.HoldMutexAsSystem(`Global\portwarden`)
	defer release()
	s, err := firewall.Windows{}.Apply(nil, desired(rule.Additive))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, fw)
	out, errOut, code := fw.Run(context.Background(), s.Body)
	rep := firewall.ParseApplyReport(firewall.ParseFacts(out))
	if code == 0 || !rep.LockBusy || !strings.Contains(errOut, firewall.WindowsLockHeld+"WINHOST") || !strings.Contains(errOut, "cannot be opened by this account") {
		t.Fatalf("apply while SYSTEM holds a mutex it made: exit %d, report %+v\n%s%s", code, rep, out, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
		t.Errorf("the locked-out apply changed the firewall:\n%s", diff)
	}
}

// TestRevertTaskLockAdmitsAdministrators: while the revert task (SYSTEM)
// holds the lock, an Administrator can open the mutex (and finds it
// held), so that an apply or confirm then waits for the lock instead of
// failing to open it.
func TestRevertTaskLockAdmitsAdministrators(t *testing.T) {
	var (
		armed  atomic.Bool
		probed = make(chan string, 1)
		fw     *Firewall
		err    error
	)
	fw, err = New(Options{StateDir: t.TempDir(), ManagementPort: 5986, Fault: func(string) string {
		if !armed.Load() {
			return ""
		}
		armed.Store(false)
		// The revert task is under the lock, at its first cmdlet: an
		// Administrator's process opens the mutex.
		admin := &interp{ctx: context.Background(), fw: nil}
		key := mutexKey(admin, `Global\portwarden`)
		opened, created := fw.mutexes.open(admin, key, nil)
		switch {
		case !opened:
			probed <- "an Administrator cannot open the lock the revert task holds"
		case created:
			probed <- "the revert task does not hold the lock"
		default:
			probed <- ""
		}
		fw.mutexes.closeHandle(admin, key)
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, fw)
	apply(t, fw, desired(rule.Additive))
	guardedApply(t, fw, desired(rule.Enforce), time.Second)
	armed.Store(true)
	select {
	case msg := <-probed:
		if msg != "" {
			t.Error(msg)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the revert task never ran a cmdlet")
	}
	waitFor(t, "the task's result", 10*time.Second, func() bool {
		ts, _ := fw.Tasks()
		return len(ts) == 1 && ts[0].Ran && ts[0].State == "Ready"
	})
}

// TestRevertTaskOnAGermanWindows: Windows localizes account names (on a
// German Windows SYSTEM is NT-AUTORITÄT\SYSTEM), not SIDs: the revert
// task names SYSTEM by its SID, so that it registers whatever the host's
// language, and runs as SYSTEM.
func TestRevertTaskOnAGermanWindows(t *testing.T) {
	fw, err := New(Options{StateDir: t.TempDir(), ManagementPort: 5986, Language: "de-DE"})
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, fw)
	_, errOut, code := fw.Run(context.Background(), "$global:ErrorActionPreference='Stop'\n$tp=New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\\SYSTEM' -LogonType ServiceAccount -RunLevel Highest\n"+
		"$ta=New-ScheduledTaskAction -Execute 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe' -Argument '-NoProfile'\n$tt=New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(60)\n"+
		"Register-ScheduledTask -TaskName 't' -TaskPath '\\x\\' -Action $ta -Trigger $tt -Principal $tp -ErrorAction Stop")
	if code == 0 || !strings.Contains(errOut, "No mapping between account names and security IDs was done.") {
		t.Fatalf("an English account name on a German Windows: exit %d\n%s", code, errOut)
	}
	apply(t, fw, desired(rule.Additive))
	guardedApply(t, fw, desired(rule.Enforce), time.Minute)
	tasks, err := fw.Tasks()
	if err != nil || len(tasks) != 1 || tasks[0].SID != sidSystem || tasks[0].LogonType != "ServiceAccount" {
		t.Fatalf("tasks after the apply: %+v %v", tasks, err)
	}
}
