package wsman

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/masterzen/winrm"
)

func encode(script string) string {
	return base64.StdEncoding.EncodeToString(EncodeUTF16LE(script))
}

func TestInterpretCommandLine(t *testing.T) {
	notRecognized := func(p string) invocation {
		return failed("'"+p+"' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1)
	}
	script := func(s string) invocation { return invocation{kind: invokeScript, script: s} }
	stdin := invocation{kind: invokeStdin}
	tests := map[string]struct {
		line string
		want invocation
	}{
		"winrm.Powershell": {
			line: winrm.Powershell("Get-NetFirewallRule -Group 'portwarden'"),
			want: script("$ProgressPreference = 'SilentlyContinue';Get-NetFirewallRule -Group 'portwarden'"),
		},
		"pywinrm style flags": {
			line: "powershell -encodedcommand " + encode("Write-Output 1"),
			want: script("Write-Output 1"),
		},
		"flags before, abbreviated": {
			line: "PowerShell.EXE -NoP -NonI -ExecutionPolicy Bypass -enc " + encode("x"),
			want: script("x"),
		},
		"ec alias and flags after": {
			line: "powershell -ec " + encode("y") + " -NoProfile",
			want: script("y"),
		},
		"full path quoted": {
			line: `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -e ` + encode("z"),
			want: script("z"),
		},
		"command stdin": {
			line: "powershell.exe -NoProfile -NonInteractive -Command -",
			want: stdin,
		},
		"no command reads stdin": {
			line: "powershell -NoLogo",
			want: stdin,
		},
		"plain command joined": {
			line: `powershell -Command Write-Output "a b"`,
			want: script("Write-Output a b"),
		},
		"bare text is the command": {
			line: `powershell Get-Date`,
			want: script("Get-Date"),
		},
		"unknown parameter starts the command": {
			line: `powershell -Bogus 1`,
			want: script("-Bogus 1"),
		},
		"bad base64": {
			line: "powershell -EncodedCommand !!!",
			want: failed("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n", badParameterExitCode),
		},
		"missing encoded command": {
			line: "powershell -EncodedCommand",
			want: failed("Cannot process the command because of a missing parameter. A command must follow -EncodedCommand.\r\n", badParameterExitCode),
		},
		"missing command": {
			line: "powershell -Command",
			want: failed("Cannot process the command because of a missing parameter. A command must follow -Command.\r\n", badParameterExitCode),
		},
		"file": {
			line: `powershell -File C:\x.ps1`,
			want: failed("The argument 'C:\\x.ps1' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n", badParameterExitCode),
		},
		"ipconfig": {
			line: "ipconfig /all",
			want: notRecognized("ipconfig"),
		},
		"pwsh is not installed": {
			line: "pwsh -EncodedCommand " + encode("x"),
			want: notRecognized("pwsh"),
		},
		"powershell elsewhere": {
			line: `D:\tools\powershell.exe -e ` + encode("x"),
			want: failed("The system cannot find the path specified.\r\n", 1),
		},
		"empty": {
			line: "   ",
			want: invocation{kind: invokeNothing},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, perr := interpretCommandLine(tt.line, DefaultMaxCommandLine, false)
			if perr != nil {
				t.Fatalf("unexpected process error %+v", perr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(invocation{})); diff != "" {
				t.Errorf("interpretCommandLine(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestCommandLineLimit(t *testing.T) {
	prefix := "powershell.exe -EncodedCommand "
	atLimit := prefix + strings.Repeat("A", DefaultMaxCommandLine-len(prefix))
	got, _ := interpretCommandLine(atLimit, DefaultMaxCommandLine, false)
	if got.kind != invokeScript {
		t.Errorf("line of exactly %d characters: got %+v, want it to run", DefaultMaxCommandLine, got)
	}
	got, _ = interpretCommandLine(atLimit+"A", DefaultMaxCommandLine, false)
	want := failed("The command line is too long.\r\n", 1)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(invocation{})); diff != "" {
		t.Errorf("line one over the limit (-want +got):\n%s", diff)
	}
	// Without cmd.exe only CreateProcess's limit applies.
	got, perr := interpretCommandLine(atLimit+"AAAA", DefaultMaxCommandLine, true)
	if perr != nil || got.kind != invokeScript {
		t.Errorf("WINRS_SKIP_CMD_SHELL: got %+v, %+v; want the script to run", got, perr)
	}
	_, perr = interpretCommandLine(prefix+strings.Repeat("A", 40000), DefaultMaxCommandLine, true)
	if perr == nil || perr.win32Code != 206 {
		t.Errorf("WINRS_SKIP_CMD_SHELL over 32767: got %+v, want error 206", perr)
	}
	_, perr = interpretCommandLine("ipconfig", DefaultMaxCommandLine, true)
	if perr == nil || perr.win32Code != 2 {
		t.Errorf("WINRS_SKIP_CMD_SHELL unknown program: got %+v, want error 2", perr)
	}
}

func TestSplitArgs(t *testing.T) {
	tests := map[string][]string{
		`a b  c`:          {"a", "b", "c"},
		`"a b" c`:         {"a b", "c"},
		`a\\\"b`:          {`a\"b`},
		`"a\\" b`:         {`a\`, "b"},
		`a\b`:             {`a\b`},
		`"say ""hi"""`:    {`say "hi"`},
		`x"y z"w`:         {"xy zw"},
		`""`:              {""},
		"\t-e\tAAAA ":     {"-e", "AAAA"},
		`C:\dir\ "q\\\\"`: {`C:\dir\`, `q\\`},
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, splitArgs(in)); diff != "" {
			t.Errorf("splitArgs(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestDecodeUTF16LE(t *testing.T) {
	for _, s := range []string{"", "abc", "Grüße 🔥", "\r\n"} {
		if got := DecodeUTF16LE(EncodeUTF16LE(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
	if got := DecodeUTF16LE([]byte{'a', 0, 'b'}); got != "a\uFFFD" {
		t.Errorf("odd length: got %q", got)
	}
}

// TestPowerShellArgs: a scheduled task's powershell.exe arguments, read
// as a WinRS command's.
func TestPowerShellArgs(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString(EncodeUTF16LE("'hi'"))
	for _, tc := range []struct {
		args, script string
		stdin, fails bool
	}{
		{"-NoProfile -NonInteractive -EncodedCommand " + enc, "'hi'", false, false},
		{"-nop -noni -ec " + enc, "'hi'", false, false},
		{"-NoProfile", "", true, false},
		{"-EncodedCommand", "", false, true},
		{"-EncodedCommand not*base64", "", false, true},
		{"-File C:\\x.ps1", "", false, true},
	} {
		script, stdin, failure, code := PowerShellArgs(tc.args)
		if script != tc.script || stdin != tc.stdin || (failure != "") != tc.fails || (code != 0) != tc.fails {
			t.Errorf("PowerShellArgs(%q) = %q, %v, %q, %d", tc.args, script, stdin, failure, code)
		}
	}
}
