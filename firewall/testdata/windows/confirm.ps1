$global:ErrorActionPreference='Stop'
$ProgressPreference='SilentlyContinue'
'### portwarden:confirm'
$pwId='apply.c0ffee000000'
$pwDir=Join-Path $env:ProgramData 'portwarden'
$pwArmed=Join-Path $pwDir 'armed'
$pwState=Join-Path $pwDir ($pwId+'.json')
$pwLog=Join-Path $pwDir ($pwId+'.log')
$mx=[Threading.Mutex]::new($false,'Global\portwarden')
$locked=$false
try{$locked=$mx.WaitOne(30000)}catch{$locked=$true}
if(!$locked){$mx.Dispose();'result=unknown';throw ('portwarden: another portwarden run holds the lock on '+$env:COMPUTERNAME)}
try{
$pwA=$null;if(Test-Path -LiteralPath $pwArmed){$pwA=([IO.File]::ReadAllText($pwArmed)).Split(' ')}
if($pwA -and $pwA[0] -eq $pwId){
Unregister-ScheduledTask -TaskName $pwId -TaskPath '\portwarden\' -Confirm:$false -ErrorAction SilentlyContinue
Remove-Item -LiteralPath $pwArmed -Force
Remove-Item -LiteralPath $pwState -Force -ErrorAction SilentlyContinue
'result=confirmed'
}elseif(Test-Path -LiteralPath $pwLog){'result=reverting'}else{'result=unknown'}
}finally{$mx.ReleaseMutex();$mx.Dispose()}
