package firewall

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Commit-confirmed on Windows (see Windows.Apply and docs/windows.md).
//
// Before it changes anything, the apply script saves the state portwarden
// owns (the rules of the group, with their filters, and the profiles'
// DefaultInboundAction in the PersistentStore) as JSON in
// %ProgramData%\portwarden\<run>.json, and, with a confirm timeout, arms
// the revert: a scheduled task \portwarden\<run> with a one-time trigger
// at now+timeout that runs powershell.exe as SYSTEM. The task survives the
// WinRM shell, the session and a reboot (StartWhenAvailable runs it at
// the next boot if the trigger passed while the host was down). The revert
// script travels in the task's own action (-EncodedCommand), never as a
// file: ProgramData lets every user create files, so a script file there
// could be swapped for another one that SYSTEM would run. The saved state
// is a file, and the revert checks its SHA-256 (computed by the apply and
// written into the task's action) before using it.
//
// The marker %ProgramData%\portwarden\armed names the armed run and when
// its trigger fires ("<run> <unix seconds>"). Whoever holds the host-wide
// mutex (Global\portwarden) and finds its own run there decides: the
// confirm (unregister the task, remove the marker and the state), or the
// revert (remove the marker, restore). While a revert is armed, another
// apply does not start: it reports the lock as held.

// windowsGuardGrace is how long after its trigger an armed revert that has
// not run (the task was deleted, or failed before it took the marker) is
// considered dead: the next apply then goes ahead.
const windowsGuardGrace = 120

// windowsRevertWaitMillis bounds the revert task's wait for the lock (an
// apply slower than the confirm timeout, a confirm under way): 5 minutes,
// half the task's ExecutionTimeLimit, so that the restore has time left.
const windowsRevertWaitMillis = 300000

// windowsGuardIDRe is what a Windows confirm id looks like: the run
// ("apply." and the 12 hex digits of the change id) and the first 16 hex
// digits of the saved state's SHA-256.
var windowsGuardIDRe = regexp.MustCompile(`^apply\.[0-9a-f]{12}[0-9A-F]{16}$`)

// windowsGuardHead sets the names every guard script uses.
func windowsGuardHead(run string) string {
	return "$pwId=" + psQuote(run) + "\n" +
		"$pwDir=Join-Path $env:ProgramData 'portwarden'\n" +
		"$pwArmed=Join-Path $pwDir 'armed'\n" +
		"$pwState=Join-Path $pwDir ($pwId+'.json')\n" +
		"$pwLog=Join-Path $pwDir ($pwId+'.log')\n"
}

// windowsReadArmed reads the marker into $pwA (run, trigger time) or $null.
const windowsReadArmed = "$pwA=$null;if(Test-Path -LiteralPath $pwArmed){$pwA=([IO.File]::ReadAllText($pwArmed)).Split(' ')}\n"

// windowsGuardBegin runs under the lock, before anything is read: it
// refuses to start while another run's revert is armed, and removes what
// earlier runs left (their tasks, saved states; the log of the last
// revert is kept as last-revert.log).
func windowsGuardBegin() string {
	return windowsReadArmed +
		// A marker counts only if it names a run in portwarden's form
		// whose task is registered (only an administrator can register
		// one in \portwarden\): anyone may write files in ProgramData,
		// and a marker made up by hand must not keep every run out.
		"if($pwA -and !($pwA[0] -match '^apply\\.[0-9a-f]{12}$' -and $pwA.Count -eq 2 -and $pwA[1] -match '^[0-9]{1,12}$' -and @(Get-ScheduledTask -TaskName $pwA[0] -TaskPath '\\portwarden\\' -ErrorAction SilentlyContinue).Count)){$pwA=$null;Remove-Item -LiteralPath $pwArmed -Force}\n" +
		"if($pwA){if([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -lt ([int64]$pwA[1])+" + strconv.Itoa(windowsGuardGrace) + "){'lock=busy';throw ('portwarden: " + WindowsLockHeld + "'+$env:COMPUTERNAME+' (the automatic rollback of run '+$pwA[0]+' is armed)')};Remove-Item -LiteralPath $pwArmed -Force}\n" +
		"foreach($t in @(Get-ScheduledTask -TaskPath '\\portwarden\\' -ErrorAction SilentlyContinue)){if($t.TaskName -match '^apply\\.[0-9a-f]{12}$'){Unregister-ScheduledTask -TaskName $t.TaskName -TaskPath '\\portwarden\\' -Confirm:$false -ErrorAction Stop;$x=Join-Path $pwDir ($t.TaskName+'.json');if(Test-Path -LiteralPath $x){Remove-Item -LiteralPath $x -Force};$x=Join-Path $pwDir ($t.TaskName+'.log');if(Test-Path -LiteralPath $x){Move-Item -LiteralPath $x -Destination (Join-Path $pwDir 'last-revert.log') -Force}}}\n"
}

// windowsStateDir makes %ProgramData%\portwarden owned by Administrators
// and writable by SYSTEM and Administrators only (a protected DACL: no
// inherited entry for Users or CREATOR OWNER), or, if it exists, checks
// that it is; otherwise nothing is changed. Accounts are compared by SID,
// which, unlike their names, are not localized.
const windowsStateDir = "if(!(Test-Path -LiteralPath $pwDir)){$ds=[Security.AccessControl.DirectorySecurity]::new();$ds.SetSecurityDescriptorSddlForm('" + windowsStateDirSDDL + "');$null=[IO.Directory]::CreateDirectory($pwDir,$ds)}\n" +
	"$pwAcl=Get-Acl -LiteralPath $pwDir\n" +
	"if(!$pwAcl.AreAccessRulesProtected -or @('S-1-5-18','S-1-5-32-544') -notcontains $pwAcl.GetOwner([Security.Principal.SecurityIdentifier]).Value -or @($pwAcl.Access|Where-Object{@('S-1-5-18','S-1-5-32-544') -notcontains $_.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value}).Count){throw ('portwarden: '+$pwDir+' must be owned by Administrators and writable only by SYSTEM and Administrators (it holds the saved state of the automatic rollback); nothing was changed: remove it, portwarden makes it anew')}\n"

// windowsStateDirSDDL: owner Administrators; DACL protected, full
// control for SYSTEM and Administrators, inherited by files and folders.
const windowsStateDirSDDL = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// windowsSaveState saves the owned state ($old, read under the lock, and
// the profiles) to $pwState and its SHA-256 to $pwHash. Nothing has
// changed yet.
func windowsSaveState() string {
	return windowsStateDir +
		windowsRuleObjects("old", "so") +
		"$sp=[ordered]@{};foreach($x in Get-NetFirewallProfile -PolicyStore PersistentStore){$sp[[string]$x.Name]=[string]$x.DefaultInboundAction}\n" +
		"$pwBytes=[Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -Compress -Depth 4 -InputObject ([ordered]@{Rules=$so;Profiles=$sp})))\n" +
		"[IO.File]::WriteAllBytes($pwState,$pwBytes)\n" +
		"$pwHash=[BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($pwBytes)).Replace('-','')\n"
}

// windowsArm registers the revert task and writes the marker.
func windowsArm(run string, seconds int) string {
	revert := windowsRevertTask(run)
	return "$rv=" + psQuote(revert) + ".Replace('PWHASH',$pwHash)\n" +
		"$ta=New-ScheduledTaskAction -Execute (Join-Path $env:SystemRoot 'System32\\WindowsPowerShell\\v1.0\\powershell.exe') -Argument ('-NoProfile -NonInteractive -EncodedCommand '+[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($rv)))\n" +
		"$tt=New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(" + strconv.Itoa(seconds) + ")\n" +
		"$tp=New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest\n" +
		"$ts=New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable -ExecutionTimeLimit (New-TimeSpan -Minutes 10)\n" +
		"$null=Register-ScheduledTask -TaskName $pwId -TaskPath '\\portwarden\\' -Action $ta -Trigger $tt -Principal $tp -Settings $ts -Force -ErrorAction Stop\n" +
		"$pwTask=$true\n" +
		"[IO.File]::WriteAllText($pwArmed,($pwId+' '+([DateTimeOffset]::UtcNow.ToUnixTimeSeconds()+" + strconv.Itoa(seconds) + ")))\n"
}

// windowsDisarm removes this run's task, marker and saved state.
const windowsDisarm = "if($pwTask){Unregister-ScheduledTask -TaskName $pwId -TaskPath '\\portwarden\\' -Confirm:$false -ErrorAction SilentlyContinue;Remove-Item -LiteralPath $pwArmed -Force -ErrorAction SilentlyContinue}\n" +
	"if(Test-Path -LiteralPath $pwState){Remove-Item -LiteralPath $pwState -Force -ErrorAction SilentlyContinue}\n"

// windowsLoadState reads the saved state into $s after checking its hash
// against HASH (a PowerShell expression).
func windowsLoadState(hash string) string {
	return "$sb=[IO.File]::ReadAllBytes($pwState)\n" +
		"if(!([BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($sb)).Replace('-','')).StartsWith(" + hash + ")){throw 'portwarden: the saved state was changed after the apply saved it; not restoring it'}\n" +
		"$s=ConvertFrom-Json ([Text.Encoding]::UTF8.GetString($sb))\n"
}

// windowsRestore puts the saved state $s back: the saved rules are created
// under temporary names first, then the profiles are set, the group's
// current rules removed and the saved ones renamed to their names, so that
// at no moment less is open than in either state. Names and values come
// from the saved state as data (splatted), never as script text.
func windowsRestore(run string) string {
	suffix := windowsPendingInfix + strings.TrimPrefix(run, "apply.") + "r"
	// Windows PowerShell 5.1 may write an array as {"value":[...],"Count":n}
	// (see unmarshalPSList); such a wrapper is unwrapped where an array is
	// read back.
	unwrap := func(v, from string) string {
		return "$" + v + "=" + from + ";if($" + v + " -and @($" + v + ".PSObject.Properties.Name) -contains 'value'){$" + v + "=$" + v + ".value}\n"
	}
	return windowsReadGroupInto("cur") +
		"$made=@()\ntry{\n" + unwrap("rs", "$s.Rules") +
		"foreach($x in @($rs)){\n" + unwrap("ra", "$x.RemoteAddress") + unwrap("lp", "$x.LocalPort") +
		"$p=@{Group='portwarden';PolicyStore='PersistentStore';Name=($x.Name+'" + suffix + "');DisplayName=$x.DisplayName;Enabled=$x.Enabled;Direction=$x.Direction;Action=$x.Action;Profile=$x.Profile;Protocol=$x.Protocol;RemoteAddress=@($ra)}\n" +
		"if($x.Description){$p.Description=$x.Description}\n" +
		"if($x.Protocol -eq 'TCP' -or $x.Protocol -eq 'UDP'){$p.LocalPort=@($lp)}\n" +
		"$made+=New-NetFirewallRule @p -ErrorAction Stop}\n" +
		"}catch{\nforeach($x in $made){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}\nthrow\n}\n" +
		"foreach($n in 'Domain','Private','Public'){$v=[string]$s.Profiles.$n;if(($v -eq 'Allow' -or $v -eq 'Block') -and [string](Get-NetFirewallProfile -Name $n -PolicyStore PersistentStore).DefaultInboundAction -ne $v){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $v -PolicyStore PersistentStore -ErrorAction Stop}}\n" +
		"foreach($x in $cur){Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}\n" +
		"foreach($x in $made){Rename-NetFirewallRule -InputObject $x -NewName ($x.Name -replace '" + suffix + "$','') -ErrorAction Stop}\n"
}

// windowsTakeLock takes the host-wide mutex within millis, or runs
// onBusy (which must end the script; $pwWhy says why, in parentheses).
// The mutex is created with a DACL of its own (windowsMutexSDDL), not
// the creator's default one, which for the revert task (SYSTEM) need not
// let Administrators open it. A mutex that cannot be opened (made by
// another program, or by an older portwarden's revert task, with a DACL
// that shuts this account out) counts as busy: it exists, so its maker
// is still running.
func windowsTakeLock(millis int, onBusy string) string {
	return "$pwNew=$false;$mx=$null;$locked=$false;$pwWhy=' (waited " + strconv.Itoa(millis/1000) + " s)'\n" +
		"$mxs=[Security.AccessControl.MutexSecurity]::new()\n" +
		"$mxs.SetSecurityDescriptorSddlForm('" + windowsMutexSDDL + "')\n" +
		"try{$mx=[Threading.Mutex]::new($false,'" + windowsMutex + "',[ref]$pwNew,$mxs)}catch{$pwWhy=' (its mutex " + windowsMutex + " cannot be opened by this account: '+$_.Exception.Message+')'}\n" +
		"if($mx){try{$locked=$mx.WaitOne(" + strconv.Itoa(millis) + ")}catch{$locked=$true}}\n" +
		"if(!$locked){if($mx){$mx.Dispose()};" + onBusy + "}\n" +
		"try{\n"
}

// windowsMutexSDDL is the lock's DACL: full access for SYSTEM (the
// revert task) and Administrators (apply and confirm over WinRM).
const windowsMutexSDDL = "D:(A;;GA;;;SY)(A;;GA;;;BA)"

// windowsRevertTask is the script the scheduled task runs (as SYSTEM, in
// its own powershell.exe): under the lock, if the marker still names this
// run, it takes the marker and restores the saved state. PWHASH is
// replaced by the saved state's SHA-256 on the host. It leaves
// <run>.log saying what it did; the next apply removes the task.
func windowsRevertTask(run string) string {
	return windowsPreamble + windowsGuardHead(run) +
		windowsTakeLock(windowsRevertWaitMillis, "exit 2") +
		windowsReadArmed +
		"if($pwA -and $pwA[0] -eq $pwId){\nRemove-Item -LiteralPath $pwArmed -Force\ntry{\n" +
		windowsLoadState("'PWHASH'") + windowsRestore(run) +
		"[IO.File]::WriteAllText($pwLog,'reverted')\n" +
		"}catch{[IO.File]::WriteAllText($pwLog,('failed: '+$_));throw}\n}\n" +
		windowsUnlock
}

// windowsConfirmBody is the confirm (revertNow false) or revert-at-once
// script for confirm id id (see Confirmer).
func windowsConfirmBody(id string, revertNow bool) (string, error) {
	if !windowsGuardIDRe.MatchString(id) {
		return "", fmt.Errorf("confirm id %q is not one portwarden issues", id)
	}
	run, hash := id[:len("apply.")+12], id[len("apply.")+12:]
	var b strings.Builder
	b.WriteString(windowsPreamble)
	b.WriteString("'" + SectionMarker + guardSecConfirm + "'\n")
	b.WriteString(windowsGuardHead(run))
	b.WriteString(windowsTakeLock(windowsLockWaitMillis, "'result=unknown';throw ('portwarden: "+WindowsLockHeld+"'+$env:COMPUTERNAME+$pwWhy)"))
	b.WriteString(windowsReadArmed)
	b.WriteString("if($pwA -and $pwA[0] -eq $pwId){\n")
	if revertNow {
		// Restore first: if it fails, the marker stays and the task
		// tries again at its trigger.
		b.WriteString(windowsLoadState(psQuote(hash)))
		b.WriteString(windowsRestore(run))
		b.WriteString("Remove-Item -LiteralPath $pwArmed -Force\n")
		b.WriteString("[IO.File]::WriteAllText($pwLog,'reverted at once')\n")
		b.WriteString(windowsUnregister)
		b.WriteString("'result=reverted'\n")
	} else {
		b.WriteString(windowsUnregister)
		b.WriteString("Remove-Item -LiteralPath $pwArmed -Force\n")
		// The marker is gone, so the change is confirmed: the saved
		// state is only tidied up.
		b.WriteString("Remove-Item -LiteralPath $pwState -Force -ErrorAction SilentlyContinue\n")
		b.WriteString("'result=confirmed'\n")
	}
	b.WriteString("}elseif(Test-Path -LiteralPath $pwLog){'result=reverting'}else{'result=unknown'}\n")
	if revertNow {
		b.WriteString(windowsReadGroupInto("r"))
		b.WriteString(windowsPrintFacts)
	}
	b.WriteString(windowsUnlock)
	return b.String(), nil
}

// windowsUnregister drops this run's task. The marker, not the task,
// decides whether a revert runs (the task does nothing without it), so a
// task that is gone already (deleted by hand) or cannot be removed does
// not fail the confirm: removing the marker disarms it all the same.
const windowsUnregister = "Unregister-ScheduledTask -TaskName $pwId -TaskPath '\\portwarden\\' -Confirm:$false -ErrorAction SilentlyContinue\n"

// Confirm implements Confirmer.
func (Windows) Confirm(id string) (Script, error) {
	body, err := windowsConfirmBody(id, false)
	return Script{Shell: windowsShell, Body: body}, err
}

// RevertNow implements Confirmer.
func (Windows) RevertNow(id string) (Script, error) {
	body, err := windowsConfirmBody(id, true)
	return Script{Shell: windowsShell, Body: body}, err
}
