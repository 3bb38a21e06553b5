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
$clash=@(Get-NetFirewallRule -Name 'portwarden-management','portwarden-tcp-2500-3300-a54a2c56','portwarden-tcp-6160_6162-f8193683','portwarden-udp-111-d0add7f8' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e|Where-Object{$_.Group -ne $g})
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
if($clash.Count){throw ('portwarden: the rule name '+$clash[0].Name+' is taken by a rule outside group '+$g+' (display name '+$clash[0].DisplayName+'); nothing was changed: rename or remove that rule')}
$mg=@($old|Where-Object{$_.Name -like 'portwarden-management*'})
$mark=$null;if($mg.Count){$mark=$mg[0].Description}
if(!$mark){$h=[ordered]@{};foreach($x in Get-NetFirewallProfile -PolicyStore PersistentStore){$h[[string]$x.Name]=[string]$x.DefaultInboundAction};$mark=ConvertTo-Json -Compress -InputObject $h}
$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}
$new=@()
try{
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-management-pending-c0ffee000000' -DisplayName 'portwarden: management (tcp 5986)' -Description $mark -Protocol TCP -LocalPort '5986' -RemoteAddress '192.0.2.10'
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-tcp-2500-3300-a54a2c56-pending-c0ffee000000' -DisplayName 'portwarden: Veeam data movers (tcp 2500-3300)' -Protocol TCP -LocalPort '2500-3300' -RemoteAddress '10.0.0.5','10.0.1.0/24','2001:db8::/64'
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-tcp-6160_6162-f8193683-pending-c0ffee000000' -DisplayName 'portwarden: Veeam installer''s service (tcp 6160,6162)' -Protocol TCP -LocalPort '6160','6162' -RemoteAddress '10.0.0.5'
$new+=New-NetFirewallRule @c -ErrorAction Stop -Name 'portwarden-udp-111-d0add7f8-pending-c0ffee000000' -DisplayName 'portwarden (udp 111)' -Protocol UDP -LocalPort '111' -RemoteAddress '10.0.0.5'
}catch{
foreach($x in $new){try{Remove-NetFirewallRule -InputObject $x -ErrorAction Stop}catch{}}
throw
}
foreach($n in 'Domain','Private','Public'){if([string](Get-NetFirewallProfile -Name $n -PolicyStore PersistentStore).DefaultInboundAction -eq 'Allow'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction Block -PolicyStore PersistentStore -ErrorAction Stop}}
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
