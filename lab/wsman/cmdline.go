package wsman

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Limits of the Windows process model that a command line meets before any
// program runs.
const (
	// DefaultMaxCommandLine is cmd.exe's limit: "The maximum length of the
	// string that you can use at the command prompt is 8191 characters."
	// WinRS runs every command through "cmd.exe /c" unless the client sets
	// WINRS_SKIP_CMD_SHELL.
	DefaultMaxCommandLine = 8191
	// createProcessMax is CreateProcess's limit on lpCommandLine (32767
	// UTF-16 code units including the terminating NUL), which is what
	// applies when WINRS_SKIP_CMD_SHELL skips cmd.exe.
	createProcessMax = 32766
	// badParameterExitCode is what powershell.exe 5.1 exits with when it
	// rejects its own command-line parameters (0xFFFD0000).
	badParameterExitCode = -196608
)

type invocationKind int

const (
	// invokeFail: the command fails before any script runs; stderr and
	// exitCode say how.
	invokeFail invocationKind = iota
	// invokeScript: powershell.exe runs script.
	invokeScript
	// invokeStdin: powershell.exe reads its script from stdin until the
	// client closes it ("-Command -", or no command at all).
	invokeStdin
	// invokeNothing: an empty command line; cmd.exe exits 0.
	invokeNothing
)

// invocation is what a WinRS command line asks the simulated host to do.
type invocation struct {
	kind     invocationKind
	script   string
	stderr   string
	exitCode int
}

func failed(stderr string, exitCode int) invocation {
	return invocation{kind: invokeFail, stderr: stderr, exitCode: exitCode}
}

// processError is a failure to start the process at all, which WinRS
// reports as a fault on the Command request rather than as output. It only
// happens with WINRS_SKIP_CMD_SHELL, when no cmd.exe stands between WinRS
// and CreateProcess.
type processError struct {
	win32Code uint32
	message   string
}

// interpretCommandLine decides what happens to a command line the way
// Windows would: through cmd.exe (length limit, "is not recognized"), or
// straight to CreateProcess when skipCmdShell is set, and then through
// powershell.exe's parameter parser.
func interpretCommandLine(line string, maxCmdLine int, skipCmdShell bool) (invocation, *processError) {
	length := len(utf16.Encode([]rune(line)))
	if skipCmdShell {
		if length > createProcessMax {
			return invocation{}, &processError{206, "The filename or extension is too long."}
		}
	} else if length > maxCmdLine {
		// cmd.exe refuses the line before parsing it; vagrant's debug log
		// of a real host shows {:stderr=>"The command line is too long.\r\n"},
		// exitcode 1.
		return failed("The command line is too long.\r\n", 1), nil
	}

	prog, rest := splitProgram(line)
	if prog == "" {
		if skipCmdShell {
			return invocation{}, &processError{2, "The system cannot find the file specified."}
		}
		return invocation{kind: invokeNothing}, nil
	}
	switch isPowerShell(prog) {
	case psYes:
		return parsePowerShellArgs(splitArgs(rest)), nil
	case psBadPath:
		if skipCmdShell {
			return invocation{}, &processError{3, "The system cannot find the path specified."}
		}
		return failed("The system cannot find the path specified.\r\n", 1), nil
	}
	if skipCmdShell {
		return invocation{}, &processError{2, "The system cannot find the file specified."}
	}
	// cmd.exe exits 1 here (%ERRORLEVEL% inside cmd is 9009, but the
	// process exit code WinRS reports is 1).
	return failed(fmt.Sprintf("'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", prog), 1), nil
}

type psMatch int

const (
	psNo psMatch = iota
	psYes
	psBadPath
)

// powerShellPaths are the places powershell.exe lives on a 64-bit Windows
// Server, lower-cased. "%SystemRoot%" is what cmd.exe would expand.
var powerShellPaths = map[string]bool{
	`c:\windows\system32\windowspowershell\v1.0\powershell.exe`:    true,
	`c:\windows\system32\windowspowershell\v1.0\powershell`:        true,
	`c:\windows\syswow64\windowspowershell\v1.0\powershell.exe`:    true,
	`%systemroot%\system32\windowspowershell\v1.0\powershell.exe`:  true,
	`%windir%\system32\windowspowershell\v1.0\powershell.exe`:      true,
	`c:\windows\sysnative\windowspowershell\v1.0\powershell.exe`:   true,
	`%systemroot%\syswow64\windowspowershell\v1.0\powershell.exe`:  true,
	`%systemroot%\sysnative\windowspowershell\v1.0\powershell.exe`: true,
}

// isPowerShell says whether prog names Windows PowerShell: by name, found
// on PATH, or by its real path. A path to a powershell.exe somewhere else
// does not exist on the simulated host.
func isPowerShell(prog string) psMatch {
	p := strings.ToLower(strings.ReplaceAll(prog, "/", `\`))
	if p == "powershell" || p == "powershell.exe" {
		return psYes
	}
	if !strings.Contains(p, `\`) {
		return psNo
	}
	if powerShellPaths[p] {
		return psYes
	}
	if strings.HasSuffix(p, `\powershell.exe`) || strings.HasSuffix(p, `\powershell`) {
		return psBadPath
	}
	return psNo
}

// splitProgram splits off the program name the way CommandLineToArgvW
// treats argv[0]: a leading quoted string up to the next quote, else
// everything up to the first space or tab. No backslash escapes apply.
func splitProgram(line string) (prog, rest string) {
	line = strings.TrimLeft(line, " \t")
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return line[1:], ""
		}
		return line[1 : 1+end], line[2+end:]
	}
	end := strings.IndexAny(line, " \t")
	if end < 0 {
		return line, ""
	}
	return line[:end], line[end:]
}

// splitArgs splits the arguments after argv[0] with the rules of
// CommandLineToArgvW and the Microsoft C runtime (2008 and later): 2n
// backslashes before a quote become n and the quote toggles quoting, 2n+1
// become n and a literal quote, "" inside quotes is a literal quote, and
// other backslashes are literal.
func splitArgs(s string) []string {
	var (
		args    []string
		cur     strings.Builder
		inQuote bool
		inArg   bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			inArg = true
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
					continue
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
			}
			i--
		case c == '"':
			inArg = true
			if inQuote && i+1 < len(s) && s[i+1] == '"' {
				cur.WriteByte('"')
				i++
				continue
			}
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			inArg = true
			cur.WriteByte(c)
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// psParam is one of powershell.exe 5.1's parameters. Like the real parser,
// a parameter may be abbreviated to any prefix at least as long as min.
type psParam struct {
	name     string
	min      string
	hasValue bool
}

// psParams is ordered so that the longer minimum wins where prefixes
// overlap ("-config..." before "-c").
var psParams = []psParam{
	{"configurationname", "config", true},
	{"command", "c", false},
	{"encodedcommand", "e", true},
	{"executionpolicy", "ex", true},
	{"file", "f", true},
	{"inputformat", "in", true},
	{"outputformat", "o", true},
	{"windowstyle", "w", true},
	{"version", "v", true},
	{"psconsolefile", "psc", true},
	{"nologo", "nol", false},
	{"noexit", "noe", false},
	{"noprofile", "nop", false},
	{"noninteractive", "noni", false},
	{"sta", "s", false},
	{"mta", "mta", false},
}

// psAliases are the short forms that are not prefixes.
var psAliases = map[string]string{
	"ec": "encodedcommand",
	"ep": "executionpolicy",
}

func lookupPSParam(name string) (psParam, bool) {
	name = strings.ToLower(name)
	if full, ok := psAliases[name]; ok {
		name = full
	}
	for _, p := range psParams {
		if len(name) >= len(p.min) && strings.HasPrefix(p.name, name) {
			return p, true
		}
	}
	return psParam{}, false
}

// parsePowerShellArgs follows powershell.exe 5.1: parameters first; the
// first token that is not a parameter starts the command text, as does
// -Command, and everything after it is joined with spaces; "-Command -" or
// no command at all reads the script from stdin.
func parsePowerShellArgs(args []string) invocation {
	var encoded *string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" {
			return invocation{kind: invokeStdin}
		}
		if len(a) < 2 || (a[0] != '-' && a[0] != '/') {
			return invocation{kind: invokeScript, script: strings.Join(args[i:], " ")}
		}
		p, ok := lookupPSParam(a[1:])
		if !ok {
			// Windows PowerShell takes an unknown parameter as the start
			// of the command, so the script fails on it instead.
			return invocation{kind: invokeScript, script: strings.Join(args[i:], " ")}
		}
		if p.name == "command" {
			rest := args[i+1:]
			if len(rest) == 0 {
				return failed("Cannot process the command because of a missing parameter. A command must follow -Command.\r\n", badParameterExitCode)
			}
			if len(rest) == 1 && rest[0] == "-" {
				return invocation{kind: invokeStdin}
			}
			return invocation{kind: invokeScript, script: strings.Join(rest, " ")}
		}
		if !p.hasValue {
			continue
		}
		if i+1 >= len(args) {
			if p.name == "encodedcommand" {
				return failed("Cannot process the command because of a missing parameter. A command must follow -EncodedCommand.\r\n", badParameterExitCode)
			}
			return failed(fmt.Sprintf("Missing argument for parameter %s.\r\n", a), badParameterExitCode)
		}
		i++
		switch p.name {
		case "encodedcommand":
			script, err := decodeEncodedCommand(args[i])
			if err != nil {
				return failed("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n", badParameterExitCode)
			}
			encoded = &script
		case "file":
			// The simulated host has no file system to run scripts from.
			return failed(fmt.Sprintf("The argument '%s' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n", args[i]), badParameterExitCode)
		}
	}
	if encoded != nil {
		return invocation{kind: invokeScript, script: *encoded}
	}
	return invocation{kind: invokeStdin}
}

// PowerShellArgs reads the arguments of powershell.exe (what follows the
// program on its command line, as a scheduled task's action gives them)
// as the simulated host's powershell.exe does for a WinRS command:
// CommandLineToArgvW's splitting, then powershell.exe 5.1's parameters.
// It returns the script to run; or fromStdin, when powershell.exe would
// read its script from standard input; or, when powershell.exe refuses
// its parameters, failure (its message) and its exit code.
func PowerShellArgs(arguments string) (script string, fromStdin bool, failure string, exitCode int) {
	inv := parsePowerShellArgs(splitArgs(arguments))
	switch inv.kind {
	case invokeScript:
		return inv.script, false, "", 0
	case invokeStdin:
		return "", true, "", 0
	}
	return "", false, inv.stderr, inv.exitCode
}

// decodeEncodedCommand reverses what winrm.Powershell does: base64 of the
// script in UTF-16LE.
func decodeEncodedCommand(s string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	return DecodeUTF16LE(raw), nil
}

// DecodeUTF16LE decodes like .NET's Encoding.Unicode.GetString: an odd
// trailing byte becomes U+FFFD and a byte-order mark is kept.
func DecodeUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	s := string(utf16.Decode(u))
	if len(b)%2 == 1 {
		s += "\uFFFD"
	}
	return s
}

// EncodeUTF16LE is the inverse of DecodeUTF16LE (.NET's Encoding.Unicode.GetBytes).
func EncodeUTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return b
}
