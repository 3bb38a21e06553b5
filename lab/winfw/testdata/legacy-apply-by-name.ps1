# The apply script portwarden emitted before issue 9 (firewall/testdata/windows/apply-additive.ps1
# at main 4a4ffba). Kept to prove that the simulation catches what it did wrong: it removes
# old rules with Remove-NetFirewallRule -Name <name read from the host>, and -Name takes wildcards.
$ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
$g='portwarden'
$old=@(Get-NetFirewallRule -Group $g -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$stale=@($old|Where-Object{$_.Name -like '*-pending-c889243d'})
$old=@($old|Where-Object{$_.Name -notlike '*-pending-c889243d'})
foreach($x in $stale){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore}
$mg=@($old|Where-Object{$_.Name -like 'portwarden-management*'})
$prev=$null;if($mg.Count -and $mg[0].Description){$prev=ConvertFrom-Json $mg[0].Description}
$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}
$new=@()
try{
$new+=New-NetFirewallRule @c -Name 'portwarden-tcp-2500-3300-a54a2c56-pending-c889243d' -DisplayName 'portwarden: Veeam data movers (tcp 2500-3300)' -Protocol TCP -LocalPort '2500-3300' -RemoteAddress '10.0.0.5','10.0.1.0/24','2001:db8::/64'
$new+=New-NetFirewallRule @c -Name 'portwarden-tcp-6160_6162-f8193683-pending-c889243d' -DisplayName 'portwarden: Veeam installer''s service (tcp 6160,6162)' -Protocol TCP -LocalPort '6160','6162' -RemoteAddress '10.0.0.5'
$new+=New-NetFirewallRule @c -Name 'portwarden-udp-111-d0add7f8-pending-c889243d' -DisplayName 'portwarden (udp 111)' -Protocol UDP -LocalPort '111' -RemoteAddress '10.0.0.5'
}catch{
foreach($x in $new){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore -ErrorAction SilentlyContinue}
throw
}
if($prev){foreach($n in 'Domain','Private','Public'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $prev.$n -PolicyStore PersistentStore}}
foreach($x in $old){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore}
foreach($x in $new){Rename-NetFirewallRule -Name $x.Name -NewName ($x.Name -replace '-pending-c889243d$','') -PolicyStore PersistentStore}
$r=@(Get-NetFirewallRule -Group $g -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
$pf=@{};$af=@{}
if($r.Count){foreach($x in $r|Get-NetFirewallPortFilter){$pf[$x.InstanceID]=$x};foreach($x in $r|Get-NetFirewallAddressFilter){$af[$x.InstanceID]=$x}}
$o=@(foreach($x in $r){$p=$pf[$x.Name];$a=$af[$x.Name];[pscustomobject]@{Name=$x.Name;DisplayName=$x.DisplayName;Description=$x.Description;Enabled=[string]$x.Enabled;Direction=[string]$x.Direction;Action=[string]$x.Action;Profile=[string]$x.Profile;Protocol=[string]$p.Protocol;LocalPort=@($p.LocalPort);RemoteAddress=@($a.RemoteAddress)}})
'### portwarden:windows-rules'
ConvertTo-Json -Compress -Depth 3 -InputObject $o
$o=@(foreach($x in Get-NetFirewallProfile -PolicyStore ActiveStore){[pscustomobject]@{Name=[string]$x.Name;Enabled=[string]$x.Enabled;DefaultInboundAction=[string]$x.DefaultInboundAction;AllowLocalFirewallRules=[string]$x.AllowLocalFirewallRules}})
'### portwarden:windows-profiles'
ConvertTo-Json -Compress -InputObject $o
