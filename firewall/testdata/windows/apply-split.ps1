$global:ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
$mx=[Threading.Mutex]::new($false,'Global\portwarden')
$locked=$false
try{$locked=$mx.WaitOne(30000)}catch{$locked=$true}
if(!$locked){$mx.Dispose();throw ('portwarden: another portwarden run holds the lock on '+$env:COMPUTERNAME+' (waited 30 s)')}
try{
$g='portwarden'
$old=@(Get-NetFirewallRule -Group $g -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$clash=@(Get-NetFirewallRule -Name 'portwarden-tcp-10005-ff5eae90' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e|Where-Object{$_.Group -ne $g})
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
if($clash.Count){throw ('portwarden: the rule name '+$clash[0].Name+' is taken by a rule outside group '+$g+' (display name '+$clash[0].DisplayName+'); nothing was changed: rename or remove that rule')}
$mg=@($old|Where-Object{$_.Name -like 'portwarden-management*'})
$prev=$null;if($mg.Count -and $mg[0].Description){$prev=ConvertFrom-Json $mg[0].Description}
$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}
$new=@()
try{
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-tcp-10005-ff5eae90-pending-c0ffee000000' -DisplayName 'portwarden: many proxies ‘‘quoted’’ ''; Remove-Item C:\ -Recurse '' (tcp 10005)' -Protocol TCP -LocalPort '10005' -RemoteAddress '10.1.0.0/24','10.1.1.0/25','10.1.1.128/26','10.1.1.192/31'
}catch{
foreach($x in $new){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}
throw
}
if($prev){foreach($n in 'Domain','Private','Public'){$v=[string]$prev.$n;if($v -eq 'Allow' -or $v -eq 'Block'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $v -PolicyStore PersistentStore -ErrorAction Stop}}}
foreach($x in $old){Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}
foreach($x in $new){Rename-NetFirewallRule -InputObject $x -NewName ($x.Name -replace '-pending-c0ffee000000$','') -ErrorAction Stop}
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
