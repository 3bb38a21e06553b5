package firewall

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// windowsChangeID names the pending rules of one apply. It is random per
// run, so that two runs (or a rerun after an interrupted one) never share
// pending names; tests replace it to get stable golden files.
var windowsChangeID = func() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a change id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// windowsLock takes the host-wide lock (a named mutex in the Global
// namespace) with a bounded wait, or fails the script before anything is
// read or changed. WaitOne throws AbandonedMutexException when a former
// holder ended without releasing the mutex (a killed run); the mutex is
// then acquired all the same, and the run goes on: the rules that run
// left are pending rules like any other, and this run replaces them.
const windowsLock = `$mx=[Threading.Mutex]::new($false,'` + windowsMutex + `')
$locked=$false
try{$locked=$mx.WaitOne(` + "LOCKWAIT" + `)}catch{$locked=$true}
if(!$locked){$mx.Dispose();throw ('portwarden: ` + WindowsLockHeld + `'+$env:COMPUTERNAME+' (waited ` + "LOCKSECONDS" + ` s)')}
try{
`

// windowsUnlock releases the lock however the script ends.
const windowsUnlock = "}finally{$mx.ReleaseMutex();$mx.Dispose()}\n"

// Apply implements Backend. Under the host-wide lock, the script has five
// phases:
//
//  1. Read portwarden's group. Every rule in it is old, pending rules of
//     any earlier run included.
//  2. Check that no final name is taken by a rule outside the group: the
//     renames at the end would fail after the old rules are gone. A clash
//     stops the script before any change.
//  3. Create every desired rule under "<name>-pending-<change id>", the
//     change id random per run. If one fails, remove the ones created and
//     rethrow: the host is unchanged.
//  4. Commit: in enforce mode set DefaultInboundAction Block on the
//     profiles that have Allow (the management rule exists by now); when
//     leaving enforce mode restore the values recorded in the management
//     rule. Then
//     remove the old rules and rename the new ones to their final names.
//     A failure here leaves old and new rules side by side (never less
//     open than either) and the next apply cleans up.
//  5. Print the facts sections, so the result is verified from the
//     script's own output.
//
// Rules are removed and renamed only by object (-InputObject with one
// rule read from the group or returned by New-NetFirewallRule), never by
// a name that came from the host: -Name takes wildcards, so a rule named
// "*" in the group would otherwise select every rule on the host, WinRM's
// included. The only -Name query is the collision check, with names that
// portwarden made and checked to hold no wildcard character. Nothing is
// piped into Remove-NetFirewallRule either: called without a selector,
// that cmdlet removes every rule of the store.
//
// NotConfigured is never written to the PersistentStore (Windows takes it
// only in a GPO store). Enforce mode leaves a NotConfigured profile as it
// is, since that already means Block there, so nothing recorded as
// NotConfigured ever needs writing back. Profile names in the script are
// literals: -Profile and -Name take wildcards too.
func (Windows) Apply(_ Facts, d Desired) (Script, error) {
	mode, err := rule.ParseMode(string(d.Mode))
	if err != nil {
		return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
	}
	specs, err := windowsSpecs(d, mode)
	if err != nil {
		return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
	}
	id, err := windowsChangeID()
	if err != nil {
		return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
	}
	pending := windowsPendingInfix + id
	finals := make([]string, len(specs))
	for i, s := range specs {
		if err := windowsLiteralName(s.Name + pending); err != nil {
			return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
		}
		finals[i] = s.Name
	}

	var b strings.Builder
	b.WriteString(windowsPreamble)
	lock := strings.ReplaceAll(windowsLock, "LOCKWAIT", fmt.Sprint(windowsLockWaitMillis))
	b.WriteString(strings.ReplaceAll(lock, "LOCKSECONDS", fmt.Sprint(windowsLockWaitMillis/1000)))
	b.WriteString("$g=" + psQuote(rule.Tag) + "\n")
	b.WriteString(strings.ReplaceAll(windowsReadGroupInto("old"), "-Group 'portwarden'", "-Group $g"))
	if len(finals) > 0 {
		fmt.Fprintf(&b, "$clash=@(Get-NetFirewallRule -Name %s -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e|Where-Object{$_.Group -ne $g})\n", psList(finals))
		b.WriteString("if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}\n")
		b.WriteString("if($clash.Count){throw ('portwarden: the rule name '+$clash[0].Name+' is taken by a rule outside group '+$g+' (display name '+$clash[0].DisplayName+'); nothing was changed: rename or remove that rule')}\n")
	}
	fmt.Fprintf(&b, "$mg=@($old|Where-Object{$_.Name -like '%s*'})\n", windowsManagementName)
	if mode == rule.Enforce {
		// Record the defaults from before enforce mode, or carry the
		// record over from the management rule being replaced.
		b.WriteString("$mark=$null;if($mg.Count){$mark=$mg[0].Description}\n")
		b.WriteString("if(!$mark){$h=[ordered]@{};foreach($x in Get-NetFirewallProfile -PolicyStore PersistentStore){$h[[string]$x.Name]=[string]$x.DefaultInboundAction};$mark=ConvertTo-Json -Compress -InputObject $h}\n")
	} else {
		// Read the record before changing anything, so a damaged one
		// stops the script while the host is still untouched.
		// A record that is gone (edited by hand) leaves the profiles as
		// they are.
		b.WriteString("$prev=$null;if($mg.Count -and $mg[0].Description){$prev=ConvertFrom-Json $mg[0].Description}\n")
	}
	b.WriteString("$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}\n")
	b.WriteString("$new=@()\ntry{\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "$new+=New-NetFirewallRule @c -ErrorAction Stop -Name %s -DisplayName %s", psQuote(s.Name+pending), psQuote(s.DisplayName))
		if s.Management {
			b.WriteString(" -Description $mark")
		}
		fmt.Fprintf(&b, " -Protocol %s -LocalPort %s -RemoteAddress %s\n", s.Protocol, psList(s.Ports), psList(s.Addresses))
	}
	b.WriteString("}catch{\nforeach($x in $new){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}\nthrow\n}\n")
	if mode == rule.Enforce {
		// Only Allow needs changing: NotConfigured already means Block
		// in the PersistentStore, and staying NotConfigured lets leaving
		// enforce mode restore the host exactly.
		b.WriteString("foreach($n in 'Domain','Private','Public'){if([string](Get-NetFirewallProfile -Name $n -PolicyStore PersistentStore).DefaultInboundAction -eq 'Allow'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction Block -PolicyStore PersistentStore -ErrorAction Stop}}\n")
	} else {
		b.WriteString("if($prev){foreach($n in 'Domain','Private','Public'){$v=[string]$prev.$n;if($v -eq 'Allow' -or $v -eq 'Block'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $v -PolicyStore PersistentStore -ErrorAction Stop}}}\n")
	}
	b.WriteString("foreach($x in $old){Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}\n")
	fmt.Fprintf(&b, "foreach($x in $new){Rename-NetFirewallRule -InputObject $x -NewName ($x.Name -replace '%s$','') -ErrorAction Stop}\n", pending)
	b.WriteString(strings.ReplaceAll(windowsReadGroupInto("r"), "-Group 'portwarden'", "-Group $g"))
	b.WriteString(windowsPrintFacts)
	b.WriteString(windowsUnlock)
	return Script{Shell: windowsShell, Body: b.String()}, nil
}

// windowsLiteralName checks that a rule name portwarden makes can be
// passed to -Name: no wildcard character (* ? [ ]) and nothing that
// needs quoting.
func windowsLiteralName(name string) error {
	if name == "" {
		return fmt.Errorf("empty rule name")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return fmt.Errorf("rule name %q holds %q, which -Name would not take literally", name, r)
		}
	}
	return nil
}
