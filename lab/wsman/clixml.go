package wsman

import (
	"fmt"
	"strings"
)

// CLIXML is how Windows PowerShell 5.1 writes its error and progress
// streams to a redirected stderr, as it is over WinRS: a "#< CLIXML" line,
// then one <Objs> document. Even with $ProgressPreference set to
// SilentlyContinue (winrm.Powershell prepends that), the module-analysis
// progress record "Preparing modules for first use." is emitted before the
// script runs, so clients must cope with it on stderr.

const (
	clixmlMarker = "#< CLIXML"
	clixmlHeader = clixmlMarker + "\r\n" +
		`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`
	clixmlProgress = `<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>` +
		`<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV>` +
		`<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>`
	clixmlFooter = `</Objs>`
)

// toCLIXML wraps an Interpreter's plain stderr the way powershell.exe
// would: the progress preamble, then each line as an error record. Text
// that already is CLIXML is passed through.
func toCLIXML(stderr string) string {
	if strings.HasPrefix(stderr, clixmlMarker) {
		return stderr
	}
	var b strings.Builder
	b.WriteString(clixmlHeader)
	b.WriteString(clixmlProgress)
	for len(stderr) > 0 {
		line := stderr
		if i := strings.IndexByte(stderr, '\n'); i >= 0 {
			line = stderr[:i+1]
		}
		stderr = stderr[len(line):]
		b.WriteString(`<S S="Error">`)
		b.WriteString(clixmlEscape(line))
		b.WriteString(`</S>`)
	}
	b.WriteString(clixmlFooter)
	return b.String()
}

// clixmlEscape escapes a string for a CLIXML <S> element: XML escaping,
// control characters as _xHHHH_, and an underscore that would start such a
// sequence as _x005F_.
func clixmlEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' && strings.HasPrefix(s[i+1:], "x"):
			b.WriteString("_x005F_")
		case r < 0x20:
			fmt.Fprintf(&b, "_x%04X_", r)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
