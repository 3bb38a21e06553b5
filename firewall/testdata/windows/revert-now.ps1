$global:ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
'### portwarden:confirm'
$pwId='apply.c0ffee000000'
$pwDir=Join-Path $env:ProgramData 'portwarden'
$pwArmed=Join-Path $pwDir 'armed'
$pwState=Join-Path $pwDir ($pwId+'.json')
$pwLog=Join-Path $pwDir ($pwId+'.log')
$pwNew=$false;$mx=$null;$locked=$false;$pwWhy=' (waited 30 s)'
$mxs=[Security.AccessControl.MutexSecurity]::new()
$mxs.SetSecurityDescriptorSddlForm('D:(A;;GA;;;SY)(A;;GA;;;BA)')
try{$mx=[Threading.Mutex]::new($false,'Global\portwarden',[ref]$pwNew,$mxs)}catch{$pwWhy=' (its mutex Global\portwarden cannot be opened by this account: '+$_.Exception.Message+')'}
if($mx){try{$locked=$mx.WaitOne(30000)}catch{$locked=$true}}
if(!$locked){if($mx){$mx.Dispose()};'result=unknown';throw ('portwarden: another portwarden run holds the lock on '+$env:COMPUTERNAME+$pwWhy)}
try{
$pwA=$null;if(Test-Path -LiteralPath $pwArmed){$pwA=([IO.File]::ReadAllText($pwArmed)).Split(' ')}
if($pwA -and $pwA[0] -eq $pwId){
$sb=[IO.File]::ReadAllBytes($pwState)
if(!([BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($sb)).Replace('-','')).StartsWith('0123456789ABCDEF')){throw 'portwarden: the saved state was changed after the apply saved it; not restoring it'}
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
Remove-Item -LiteralPath $pwArmed -Force
[IO.File]::WriteAllText($pwLog,'reverted at once')
Unregister-ScheduledTask -TaskName $pwId -TaskPath '\portwarden\' -Confirm:$false -ErrorAction SilentlyContinue
'result=reverted'
}elseif(Test-Path -LiteralPath $pwLog){'result=reverting'}else{'result=unknown'}
$r=@(Get-NetFirewallRule -Group 'portwarden' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
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
