package firewall

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

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

	run := "apply." + id
	confirm := d.Guard.confirmSeconds()
	lockMillis := int(d.Guard.lockWait() / time.Millisecond)

	var b strings.Builder
	b.WriteString(windowsPreamble)
	// The apply section first: whatever stops the script, it says what
	// the host is left with ($pwLeft), and "lock=busy" lands there too.
	b.WriteString("'" + SectionMarker + linuxSecApply + "'\n")
	b.WriteString(windowsTakeLock(lockMillis, "'lock=busy';'outcome=unchanged';throw ('portwarden: "+WindowsLockHeld+"'+$env:COMPUTERNAME+$pwWhy)"))
	b.WriteString("$pwLeft='unchanged';$pwTask=$false;$pwPhase=0\n")
	b.WriteString(windowsGuardHead(run))
	b.WriteString("try{\n")
	b.WriteString(windowsGuardBegin())
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
	b.WriteString(windowsSaveState())
	if confirm > 0 {
		b.WriteString(windowsArm(run, confirm))
	}
	b.WriteString("$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}\n")
	b.WriteString("$new=@()\n$pwPhase=1\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "$new+=New-NetFirewallRule @c -ErrorAction Stop -Name %s -DisplayName %s", psQuote(s.Name+pending), psQuote(s.DisplayName))
		if s.Management {
			b.WriteString(" -Description $mark")
		}
		fmt.Fprintf(&b, " -Protocol %s -LocalPort %s -RemoteAddress %s\n", s.Protocol, psList(s.Ports), psList(s.Addresses))
	}
	b.WriteString("$pwPhase=2\n")
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
	b.WriteString("$pwPhase=3\n")
	// What a failure leaves: before any change, nothing to undo; while
	// creating, the rules created so far are removed; once the commit
	// began, the saved state is restored at once (the host is
	// all-or-nothing) and the armed revert is dropped, unless restoring
	// failed too, when it stays armed to try again.
	b.WriteString("}catch{\n$pwErr=$_\n")
	b.WriteString("if($pwPhase -eq 1){foreach($x in $new){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}}\n")
	b.WriteString("if($pwPhase -eq 2){try{\n" + windowsLoadState("$pwHash") + windowsRestore(run) + "$pwLeft='rolled-back'}catch{$pwLeft='rollback-failed'}}\n")
	b.WriteString("if($pwLeft -ne 'rollback-failed'){\n" + windowsDisarm + "}\n")
	b.WriteString("('outcome='+$pwLeft)\n")
	b.WriteString("if($pwLeft -eq 'rolled-back'){throw ('portwarden: rolled back: the host keeps the rules it had before this run: '+$pwErr)}\n")
	b.WriteString("throw $pwErr\n}\n")
	b.WriteString("'outcome=applied'\n")
	if confirm > 0 {
		b.WriteString("('confirm='+$pwId+$pwHash.Substring(0,16))\n")
	} else {
		b.WriteString("Remove-Item -LiteralPath $pwState -Force\n")
	}
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
