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
Unregister-ScheduledTask -TaskName $pwId -TaskPath '\portwarden\' -Confirm:$false -ErrorAction SilentlyContinue
Remove-Item -LiteralPath $pwArmed -Force
Remove-Item -LiteralPath $pwState -Force -ErrorAction SilentlyContinue
'result=confirmed'
}elseif(Test-Path -LiteralPath $pwLog){'result=reverting'}else{'result=unknown'}
}finally{$mx.ReleaseMutex();$mx.Dispose()}
