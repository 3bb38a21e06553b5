$global:ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
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
'### portwarden:windows-session'
if($PortwardenShellId){try{$ws=@(Get-WSManInstance -ResourceURI shell -Enumerate -ErrorAction Stop|Where-Object{$_.ShellId -eq $PortwardenShellId});if($ws.Count -eq 1){'client='+$ws[0].ClientIP}else{'shell=unknown'}}catch{'enumerate=failed'}}else{'shell=unknown'}
