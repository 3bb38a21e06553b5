// Package wsman is a SIMULATION of the Windows Remote Management (WinRM)
// service: a WS-Management server, SOAP 1.2 over HTTP or HTTPS, that the
// github.com/masterzen/winrm client library can talk to. No Windows machine
// takes part; the lab uses it to stand in for one.
//
// What is simulated: the WinRS remote shell resource
// (http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd) with its
// Create, Command, Send, Receive, Signal and Delete operations; Basic,
// NTLMv2 (raw NTLMSSP inside Negotiate or NTLM) HTTP authentication with
// connection-oriented NTLM, and Kerberos (a SPNEGO AP-REQ in Negotiate,
// checked against the host's keytab; kerberos.go); the WS-Man faults a real service returns for
// timeouts, unknown shells, exceeded shell quotas and bad requests; cmd.exe's
// 8191-character command-line limit; and powershell.exe's command-line
// parameters, so that "powershell.exe -EncodedCommand <base64 UTF-16LE>" and
// "powershell.exe -Command -" (script on stdin) reach the Interpreter as
// script text.
//
// What is not: there is no cmd.exe and no PowerShell. Every script is handed
// to an Interpreter (the firewall model in lab/winfw implements one); any
// other program fails the way cmd.exe reports an unknown command. There is no
// NTLM inside SPNEGO, no Kerberos mutual authentication (AP-REP) or PAC, no
// CredSSP, no certificate authentication, no NTLM or Kerberos message sealing (so plain HTTP needs AllowUnencrypted, exactly as a
// real host needs it for this client), no PowerShell remoting (PSRP) and no
// WMI resources. See docs/wsman.md for the protocol notes.
package wsman
