package winfw

// Regression tests for the points where the simulation must be at least
// as strict as Windows (issue 9): wildcards in -Name, CDXML error
// preference scoping, NotConfigured in the PersistentStore, concurrent
// scripts and named mutexes, the default rules, AllowInboundRules.

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/rule"
)

func hasRule(st State, name string) bool {
	for _, r := range st.Rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// plantWildcardRule puts a rule named "*" into portwarden's group, as a
// hostile or careless admin could.
func plantWildcardRule(t *testing.T, fw *Firewall) {
	t.Helper()
	run(t, fw, "New-NetFirewallRule -Name '*' -DisplayName 'star' -Group 'portwarden' -Protocol TCP -LocalPort 1 -RemoteAddress 10.0.0.1 | Out-Null")
}

func TestWildcardNameExpands(t *testing.T) {
	fw := newFirewall(t)
	run(t, fw, "Remove-NetFirewallRule -Name 'WINRM-*'")
	st := snapshot(t, fw)
	if hasRule(st, "WINRM-HTTP-In-TCP") || hasRule(st, "WINRM-HTTP-In-TCP-PUBLIC") {
		t.Fatal("Remove-NetFirewallRule -Name 'WINRM-*' did not expand the wildcard")
	}
	if !hasRule(st, "CoreNet-DHCP-In") {
		t.Fatal("Remove-NetFirewallRule -Name 'WINRM-*' removed other rules")
	}
}

// TestLegacyScriptIsCaught runs the apply script from before issue 9 on a
// host with a rule named "*" in the group: the simulation must show the
// damage (every rule gone, WinRM's included), or it could not catch a
// regression.
func TestLegacyScriptIsCaught(t *testing.T) {
	fw := newFirewall(t)
	plantWildcardRule(t, fw)
	legacy, err := os.ReadFile("testdata/legacy-apply-by-name.ps1")
	if err != nil {
		t.Fatal(err)
	}
	fw.Run(context.Background(), string(legacy))
	if st := snapshot(t, fw); hasRule(st, "WINRM-HTTP-In-TCP") {
		t.Fatal("the legacy script left WinRM's rule: the simulation does not expand wildcards the way Windows does")
	}
}

func TestApplySurvivesWildcardRuleNames(t *testing.T) {
	for _, name := range []string{"*", "WINRM-*", "[CW]*", "?*"} {
		t.Run(name, func(t *testing.T) {
			fw := newFirewall(t)
			apply(t, fw, desired(rule.Additive))
			run(t, fw, "New-NetFirewallRule -Name '"+name+"' -DisplayName 'hostile' -Group 'portwarden' -Protocol TCP -LocalPort 1 -RemoteAddress 10.0.0.1 | Out-Null")
			before := foreignRules(snapshot(t, fw))
			st := apply(t, fw, desired(rule.Enforce))
			if len(st.Drift) != 0 {
				t.Errorf("drift after apply: %q", st.Drift)
			}
			after := snapshot(t, fw)
			if diff := cmp.Diff(before, foreignRules(after)); diff != "" {
				t.Errorf("rules outside the group changed (-before +after):\n%s", diff)
			}
			if hasRule(after, name) {
				t.Errorf("the rule %q in the group was not replaced", name)
			}
		})
	}
}

func TestCDXMLHonoursOnlyGlobalErrorPreference(t *testing.T) {
	fw := newFirewall(t)
	// Set in a child scope: the CDXML function does not see it, writes a
	// non-terminating error and the script goes on.
	out, errOut, _ := fw.Run(context.Background(), "& {\n$ErrorActionPreference='Stop'\nRemove-NetFirewallRule -Name 'no-such-rule'\n'continued'\n}")
	if !strings.Contains(out, "continued") {
		t.Fatalf("a local $ErrorActionPreference stopped a CDXML function; stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "No MSFT_NetFirewallRule objects found") {
		t.Errorf("the non-terminating error is not shown:\n%s", errOut)
	}
	// Set globally, from the same child scope: it stops.
	out, _, code := fw.Run(context.Background(), "& {\n$global:ErrorActionPreference='Stop'\nRemove-NetFirewallRule -Name 'no-such-rule'\n'continued'\n}")
	if code == 0 || strings.Contains(out, "continued") {
		t.Fatalf("a global $ErrorActionPreference='Stop' did not stop the script (exit %d):\n%s", code, out)
	}
	// -ErrorAction Stop works whatever the scopes.
	out, _, code = fw.Run(context.Background(), "& {\nRemove-NetFirewallRule -Name 'no-such-rule' -ErrorAction Stop\n'continued'\n}")
	if code == 0 || strings.Contains(out, "continued") {
		t.Fatalf("-ErrorAction Stop did not stop the script (exit %d):\n%s", code, out)
	}
}

func TestPersistentStoreRejectsNotConfigured(t *testing.T) {
	for _, field := range []string{"Enabled", "DefaultInboundAction", "DefaultOutboundAction", "AllowInboundRules", "AllowLocalFirewallRules"} {
		t.Run(field, func(t *testing.T) {
			fw := newFirewall(t)
			run(t, fw, "Set-NetFirewallProfile -Profile Domain -DefaultInboundAction Block -PolicyStore PersistentStore")
			before := snapshot(t, fw)
			_, errOut, code := fw.Run(context.Background(), "Set-NetFirewallProfile -Profile Domain -"+field+" NotConfigured -PolicyStore PersistentStore -ErrorAction Stop")
			if code == 0 || !strings.Contains(errOut, "valid only in a Group Policy store") {
				t.Fatalf("NotConfigured accepted for %s (exit %d):\n%s", field, code, errOut)
			}
			if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
				t.Errorf("the refused change changed the store:\n%s", diff)
			}
		})
	}
}

func TestRemoveByNullInputObjectRemovesNothing(t *testing.T) {
	fw := newFirewall(t)
	before := snapshot(t, fw)
	_, errOut, code := fw.Run(context.Background(), "$x=$null\nRemove-NetFirewallRule -InputObject $x")
	if code == 0 || !strings.Contains(errOut, "The argument is null") {
		t.Fatalf("Remove-NetFirewallRule -InputObject $null: exit %d\n%s", code, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
		t.Errorf("rules changed:\n%s", diff)
	}
}

func TestApplyFailsOnAFinalNameOutsideTheGroup(t *testing.T) {
	fw := newFirewall(t)
	s, err := firewall.Windows{}.Apply(nil, desired(rule.Additive))
	if err != nil {
		t.Fatal(err)
	}
	// Take the final name of one of the rules the apply creates.
	var final string
	for _, line := range strings.Split(s.Body, "\n") {
		if strings.Contains(line, "New-NetFirewallRule") && strings.Contains(line, "portwarden-udp-111-") {
			final = strings.Split(strings.Split(line, "-Name '")[1], "-pending-")[0]
		}
	}
	run(t, fw, "New-NetFirewallRule -Name '"+final+"' -DisplayName 'someone else' -Group 'Admins' -Protocol UDP -LocalPort 111 | Out-Null")
	apply(t, fw, firewall.Desired{Mode: rule.Additive, Rules: desired(rule.Additive).Rules[:1]})
	before := snapshot(t, fw)
	_, errOut, code := fw.Run(context.Background(), s.Body)
	if code == 0 || !strings.Contains(errOut, "is taken by a rule outside group portwarden") || !strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("apply with a clashing final name: exit %d\n%s", code, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
		t.Errorf("the refused apply changed the firewall:\n%s", diff)
	}
}

func TestApplyWaitsForTheHostLock(t *testing.T) {
	fw, err := New(Options{StateDir: t.TempDir(), ManagementPort: 5986, MaxMutexWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := fw.HoldMutex(`Global\portwarden`)
	s, err := firewall.Windows{}.Apply(nil, desired(rule.Additive))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, fw)
	_, errOut, code := fw.Run(context.Background(), s.Body)
	if code == 0 || !strings.Contains(errOut, firewall.WindowsLockHeld+"WINHOST") {
		t.Fatalf("apply while another run holds the lock: exit %d\n%s", code, errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
		t.Errorf("the locked-out apply changed the firewall:\n%s", diff)
	}
	release()
	if st := apply(t, fw, desired(rule.Additive)); len(st.Rules) != len(desired(rule.Additive).Rules) {
		t.Errorf("apply after the lock was released: %+v", st)
	}
}

func TestMutexSemantics(t *testing.T) {
	fw, err := New(Options{StateDir: t.TempDir(), MaxMutexWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := fw.HoldMutex(`Global\m`)
	out, _ := run(t, fw, "$m=[Threading.Mutex]::new($false,'Global\\m')\n$m.WaitOne(5000)")
	if strings.TrimSpace(out) != "False" {
		t.Errorf("WaitOne on a held Global mutex = %q, want False", out)
	}
	// A Local (session) mutex of the same name is another mutex.
	out, _ = run(t, fw, "$m=[Threading.Mutex]::new($false,'Local\\m')\n$m.WaitOne(5000)\n$m.ReleaseMutex()")
	if strings.TrimSpace(out) != "True" {
		t.Errorf("WaitOne on a free Local mutex = %q, want True", out)
	}
	release()
	// Releasing a mutex one does not own fails.
	_, errOut, code := fw.Run(context.Background(), "$m=[Threading.Mutex]::new($false,'Global\\m')\n$m.ReleaseMutex()")
	if code == 0 || !strings.Contains(errOut, "unsynchronized block of code") {
		t.Errorf("ReleaseMutex without owning it: exit %d\n%s", code, errOut)
	}
	// A script that ends holding a mutex abandons it; the next WaitOne
	// gets it and throws AbandonedMutexException.
	run(t, fw, "$m=[Threading.Mutex]::new($false,'Global\\m')\n$null=$m.WaitOne(0)")
	_, errOut, code = fw.Run(context.Background(), "$m=[Threading.Mutex]::new($false,'Global\\m')\n$m.WaitOne(0)")
	if code == 0 || !strings.Contains(errOut, "abandoned mutex") {
		t.Errorf("WaitOne on an abandoned mutex: exit %d\n%s", code, errOut)
	}
	// That WaitOne acquired it all the same (the script that threw ended
	// holding it, so it is abandoned once more): the one that catches the
	// exception owns the mutex and can release it.
	out, _ = run(t, fw, "$m=[Threading.Mutex]::new($false,'Global\\m')\ntry{$m.WaitOne(0)}catch{'abandoned'}\n$m.ReleaseMutex()\n'released'")
	if strings.Fields(out)[0] != "abandoned" || !strings.Contains(out, "released") {
		t.Errorf("the abandoned mutex was not acquired by the WaitOne that threw: %q", out)
	}
	out, _ = run(t, fw, "$m=[Threading.Mutex]::new($false,'Global\\m')\n$m.WaitOne(0)\n$m.ReleaseMutex()")
	if strings.TrimSpace(out) != "True" {
		t.Errorf("WaitOne on a released mutex = %q, want True", out)
	}
}

// TestScriptsInterleave shows that the simulation, like Windows, does not
// run a script as a whole under one lock: another script sees a rule that
// a blocked script created.
func TestScriptsInterleave(t *testing.T) {
	fw := newFirewall(t)
	release := fw.HoldMutex(`Global\gate`)
	done := make(chan string)
	go func() {
		_, errOut, _ := fw.Run(context.Background(), "New-NetFirewallRule -Name 'first' -DisplayName first | Out-Null\n$m=[Threading.Mutex]::new($false,'Global\\gate')\n$null=$m.WaitOne(10000)\n$m.ReleaseMutex()")
		done <- errOut
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !hasRule(snapshot(t, fw), "first") {
		if time.Now().After(deadline) {
			t.Fatal("the first script's rule never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _ := run(t, fw, "(Get-NetFirewallRule -Name 'first').DisplayName")
	if strings.TrimSpace(out) != "first" {
		t.Errorf("a second script does not see the blocked script's rule: %q", out)
	}
	release()
	if errOut := <-done; errOut != "" {
		t.Errorf("first script: %s", errOut)
	}
}

func TestConcurrentAppliesSerialize(t *testing.T) {
	fw := newFirewall(t)
	a, b := desired(rule.Additive), desired(rule.Enforce)
	var wg sync.WaitGroup
	errs := make([]string, 2)
	for i, d := range []firewall.Desired{a, b} {
		s, err := firewall.Windows{}.Apply(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errOut, code := fw.Run(context.Background(), s.Body)
			if code != 0 {
				errs[i] = errOut
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("apply %d failed: %s", i, e)
		}
	}
	out, _ := run(t, fw, firewall.WindowsFactsScript.Body)
	st := state(t, out)
	if len(st.Drift) != 0 || len(st.Rules) != len(a.Rules) {
		t.Errorf("after two concurrent applies: %+v", st)
	}
	expectNoRule(t, fw, "pending rule", func(name string) bool { return strings.Contains(name, "-pending-") })
}

func TestAllowInboundRulesFalseIgnoresInboundRules(t *testing.T) {
	fw := newFirewall(t)
	apply(t, fw, desired(rule.Additive))
	if err := fw.Modify(func(st *State) error {
		st.profile("Public").GroupPolicy.AllowInboundRules = "False"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := snapshot(t, fw)
	rs := Ruleset(&st)
	if strings.Contains(rs, " accept comment") || strings.Contains(rs, "dport 5985") {
		t.Errorf("the ruleset still accepts traffic by rule:\n%s", rs)
	}
	if !strings.Contains(rs, "policy drop") {
		t.Errorf("the ruleset does not drop unsolicited traffic:\n%s", rs)
	}
	out, _ := run(t, fw, firewall.WindowsFactsScript.Body)
	found := false
	for _, w := range state(t, out).Warnings {
		found = found || strings.Contains(w, "AllowInboundRules is False")
	}
	if !found {
		t.Errorf("no warning about AllowInboundRules False:\n%s", out)
	}
}

func TestDefaultRulesOfAWindowsServer(t *testing.T) {
	st := DefaultState(0)
	want := map[string]string{
		"WINRM-HTTP-In-TCP": "True", "WINRM-HTTP-In-TCP-PUBLIC": "True",
		"CoreNet-DHCP-In": "True", "CoreNet-ICMP6-NDS-In": "True",
		"FPS-SMB-In-TCP": "False", "FPS-ICMP4-ERQ-In": "False", "RemoteDesktop-UserMode-In-TCP": "False",
	}
	groups := map[string]bool{}
	for _, r := range st.Rules {
		groups[displayGroup(r.Group)] = true
		if e, ok := want[r.Name]; ok {
			if r.Enabled != e {
				t.Errorf("%s: Enabled %s, want %s", r.Name, r.Enabled, e)
			}
			delete(want, r.Name)
		}
	}
	for n := range want {
		t.Errorf("default rule %s missing", n)
	}
	for _, g := range []string{"Core Networking", "File and Printer Sharing", "Remote Desktop", "Windows Remote Management"} {
		if !groups[g] {
			t.Errorf("no default rule in group %s", g)
		}
	}
	if err := st.validate(); err != nil {
		t.Fatal(err)
	}
}
