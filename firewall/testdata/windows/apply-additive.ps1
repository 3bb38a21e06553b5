$global:ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
'### portwarden:apply'
$pwNew=$false;$mx=$null;$locked=$false;$pwWhy=' (waited 10 s)'
$mxs=[Security.AccessControl.MutexSecurity]::new()
$mxs.SetSecurityDescriptorSddlForm('D:(A;;GA;;;SY)(A;;GA;;;BA)')
try{$mx=[Threading.Mutex]::new($false,'Global\portwarden',[ref]$pwNew,$mxs)}catch{$pwWhy=' (its mutex Global\portwarden cannot be opened by this account: '+$_.Exception.Message+')'}
if($mx){try{$locked=$mx.WaitOne(10000)}catch{$locked=$true}}
if(!$locked){if($mx){$mx.Dispose()};'lock=busy';'outcome=unchanged';throw ('portwarden: another portwarden run holds the lock on '+$env:COMPUTERNAME+$pwWhy)}
try{
$pwLeft='unchanged';$pwTask=$false;$pwPhase=0
$pwId='apply.c0ffee000000'
$pwDir=Join-Path $env:ProgramData 'portwarden'
$pwArmed=Join-Path $pwDir 'armed'
$pwState=Join-Path $pwDir ($pwId+'.json')
$pwLog=Join-Path $pwDir ($pwId+'.log')
try{
$pwA=$null;if(Test-Path -LiteralPath $pwArmed){$pwA=([IO.File]::ReadAllText($pwArmed)).Split(' ')}
if($pwA -and !($pwA[0] -match '^apply\.[0-9a-f]{12}$' -and $pwA.Count -eq 2 -and $pwA[1] -match '^[0-9]{1,12}$' -and @(Get-ScheduledTask -TaskName $pwA[0] -TaskPath '\portwarden\' -ErrorAction SilentlyContinue).Count)){$pwA=$null;Remove-Item -LiteralPath $pwArmed -Force}
if($pwA){if([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -lt ([int64]$pwA[1])+120){'lock=busy';throw ('portwarden: another portwarden run holds the lock on '+$env:COMPUTERNAME+' (the automatic rollback of run '+$pwA[0]+' is armed)')};Remove-Item -LiteralPath $pwArmed -Force}
foreach($t in @(Get-ScheduledTask -TaskPath '\portwarden\' -ErrorAction SilentlyContinue)){if($t.TaskName -match '^apply\.[0-9a-f]{12}$'){Unregister-ScheduledTask -TaskName $t.TaskName -TaskPath '\portwarden\' -Confirm:$false -ErrorAction Stop;$x=Join-Path $pwDir ($t.TaskName+'.json');if(Test-Path -LiteralPath $x){Remove-Item -LiteralPath $x -Force};$x=Join-Path $pwDir ($t.TaskName+'.log');if(Test-Path -LiteralPath $x){Move-Item -LiteralPath $x -Destination (Join-Path $pwDir 'last-revert.log') -Force}}}
$g='portwarden'
$old=@(Get-NetFirewallRule -Group $g -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$clash=@(Get-NetFirewallRule -Name 'portwarden-tcp-2500-3300-a54a2c56','portwarden-tcp-6160_6162-f8193683','portwarden-udp-111-d0add7f8' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e|Where-Object{$_.Group -ne $g})
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
if($clash.Count){throw ('portwarden: the rule name '+$clash[0].Name+' is taken by a rule outside group '+$g+' (display name '+$clash[0].DisplayName+'); nothing was changed: rename or remove that rule')}
$mg=@($old|Where-Object{$_.Name -like 'portwarden-management*'})
$prev=$null;if($mg.Count -and $mg[0].Description){$prev=ConvertFrom-Json $mg[0].Description}
if(!(Test-Path -LiteralPath $pwDir)){$ds=[Security.AccessControl.DirectorySecurity]::new();$ds.SetSecurityDescriptorSddlForm('O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)');$null=[IO.Directory]::CreateDirectory($pwDir,$ds)}
$pwAcl=Get-Acl -LiteralPath $pwDir
if(!$pwAcl.AreAccessRulesProtected -or @('S-1-5-18','S-1-5-32-544') -notcontains $pwAcl.GetOwner([Security.Principal.SecurityIdentifier]).Value -or @($pwAcl.Access|Where-Object{@('S-1-5-18','S-1-5-32-544') -notcontains $_.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value}).Count){throw ('portwarden: '+$pwDir+' must be owned by Administrators and writable only by SYSTEM and Administrators (it holds the saved state of the automatic rollback); nothing was changed: remove it, portwarden makes it anew')}
$pf=@{};$af=@{}
if($old.Count){foreach($x in $old|Get-NetFirewallPortFilter){$pf[$x.InstanceID]=$x};foreach($x in $old|Get-NetFirewallAddressFilter){$af[$x.InstanceID]=$x}}
$so=@(foreach($x in $old){$p=$pf[$x.Name];$a=$af[$x.Name];[pscustomobject]@{Name=$x.Name;DisplayName=$x.DisplayName;Description=$x.Description;Enabled=[string]$x.Enabled;Direction=[string]$x.Direction;Action=[string]$x.Action;Profile=[string]$x.Profile;Protocol=[string]$p.Protocol;LocalPort=@($p.LocalPort);RemoteAddress=@($a.RemoteAddress)}})
$sp=[ordered]@{};foreach($x in Get-NetFirewallProfile -PolicyStore PersistentStore){$sp[[string]$x.Name]=[string]$x.DefaultInboundAction}
$pwBytes=[Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -Compress -Depth 4 -InputObject ([ordered]@{Rules=$so;Profiles=$sp})))
[IO.File]::WriteAllBytes($pwState,$pwBytes)
$pwHash=[BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($pwBytes)).Replace('-','')
$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}
$new=@()
$pwPhase=1
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-tcp-2500-3300-a54a2c56-pending-c0ffee000000' -DisplayName 'portwarden: Veeam data movers (tcp 2500-3300)' -Protocol TCP -LocalPort '2500-3300' -RemoteAddress '10.0.0.5','10.0.1.0/24','2001:db8::/64'
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-tcp-6160_6162-f8193683-pending-c0ffee000000' -DisplayName 'portwarden: Veeam installer''s service (tcp 6160,6162)' -Protocol TCP -LocalPort '6160','6162' -RemoteAddress '10.0.0.5'
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-udp-111-d0add7f8-pending-c0ffee000000' -DisplayName 'portwarden (udp 111)' -Protocol UDP -LocalPort '111' -RemoteAddress '10.0.0.5'
$pwPhase=2
if($prev){foreach($n in 'Domain','Private','Public'){$v=[string]$prev.$n;if($v -eq 'Allow' -or $v -eq 'Block'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $v -PolicyStore PersistentStore -ErrorAction Stop}}}
foreach($x in $old){Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}
foreach($x in $new){Rename-NetFirewallRule -InputObject $x -NewName ($x.Name -replace '-pending-c0ffee000000$','') -ErrorAction Stop}
$pwPhase=3
}catch{
$pwErr=$_
if($pwPhase -eq 1){foreach($x in $new){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}}
if($pwPhase -eq 2){try{
$sb=[IO.File]::ReadAllBytes($pwState)
if(!([BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($sb)).Replace('-','')).StartsWith($pwHash)){throw 'portwarden: the saved state was changed after the apply saved it; not restoring it'}
$s=ConvertFrom-Json ([Text.Encoding]::UTF8.GetString($sb))
$cur=@(Get-NetFirewallRule -Group 'portwarden' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$made=@()
try{
$rs=$s.Rules;if($rs -and @($rs.PSObject.Properties.Name) -contains 'value'){$rs=$rs.value}
foreach($x in @($rs)){
$ra=$x.RemoteAddress;if($ra -and @($ra.PSObject.Properties.Name) -contains 'value'){$ra=$ra.value}
$lp=$x.LocalPort;if($lp -and @($lp.PSObject.Properties.Name) -contains 'value'){$lp=$lp.value}
$p=@{Group='portwarden';PolicyStore='PersistentStore';Name=($x.Name+'-pending-c0ffee000000r');DisplayName=$x.DisplayName;Enabled=$x.Enabled;Direction=$x.Direction;Action=$x.Action;Profile=$x.Profile;Protocol=$x.Protocol;RemoteAddress=@($ra)}
if($x.Description){$p.Description=$x.Description}
if($x.Protocol -eq 'TCP' -or $x.Protocol -eq 'UDP'){$p.LocalPort=@($lp)}
$made+=New-NetFirewallRule @p -ErrorAction Stop}
}catch{
foreach($x in $made){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}
throw
}
foreach($n in 'Domain','Private','Public'){$v=[string]$s.Profiles.$n;if(($v -eq 'Allow' -or $v -eq 'Block') -and [string](Get-NetFirewallProfile -Name $n -PolicyStore PersistentStore).DefaultInboundAction -ne $v){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $v -PolicyStore PersistentStore -ErrorAction Stop}}
foreach($x in $cur){Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}
foreach($x in $made){Rename-NetFirewallRule -InputObject $x -NewName ($x.Name -replace '-pending-c0ffee000000r$','') -ErrorAction Stop}
$pwLeft='rolled-back'}catch{$pwLeft='rollback-failed'}}
if($pwLeft -ne 'rollback-failed'){
if($pwTask){Unregister-ScheduledTask -TaskName $pwId -TaskPath '\portwarden\' -Confirm:$false -ErrorAction SilentlyContinue;Remove-Item -LiteralPath $pwArmed -Force -ErrorAction SilentlyContinue}
if(Test-Path -LiteralPath $pwState){Remove-Item -LiteralPath $pwState -Force -ErrorAction SilentlyContinue}
}
('outcome='+$pwLeft)
if($pwLeft -eq 'rolled-back'){throw ('portwarden: rolled back: the host keeps the rules it had before this run: '+$pwErr)}
throw $pwErr
}
'outcome=applied'
Remove-Item -LiteralPath $pwState -Force
$r=@(Get-NetFirewallRule -Group $g -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$pf=@{};$af=@{}
if($r.Count){foreach($x in $r|Get-NetFirewallPortFilter){$pf[$x.InstanceID]=$x};foreach($x in $r|Get-NetFirewallAddressFilter){$af[$x.InstanceID]=$x}}
$o=@(foreach($x in $r){$p=$pf[$x.Name];$a=$af[$x.Name];[pscustomobject]@{Name=$x.Name;DisplayName=$x.DisplayName;Description=$x.Description;Enabled=[string]$x.Enabled;Direction=[string]$x.Direction;Action=[string]$x.Action;Profile=[string]$x.Profile;Protocol=[string]$p.Protocol;LocalPort=@($p.LocalPort);RemoteAddress=@($a.RemoteAddress)}})
'### portwarden:windows-rules'
ConvertTo-Json -Compress -Depth 3 -InputObject $o
$o=@(foreach($x in Get-NetFirewallProfile -PolicyStore ActiveStore){[pscustomobject]@{Name=[string]$x.Name;Enabled=[string]$x.Enabled;DefaultInboundAction=[string]$x.DefaultInboundAction;AllowInboundRules=[string]$x.AllowInboundRules;AllowLocalFirewallRules=[string]$x.AllowLocalFirewallRules}})
'### portwarden:windows-profiles'
ConvertTo-Json -Compress -InputObject $o
}finally{$mx.ReleaseMutex();$mx.Dispose()}
