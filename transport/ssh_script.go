package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxSSHCommand bounds the command line sent to sshd: Linux refuses a
// single argument longer than 128 KiB, and the script body travels as one.
// Data belongs in Script.Stdin, which has no such limit.
const MaxSSHCommand = 120 << 10

// sshPIDMarker starts the line the remote wrapper prints on stderr before the
// script runs: "portwarden: pid N". It tells that sudo accepted the script
// (without it a failure is sudo's own) and which process group to kill if
// the run is canceled. Run removes the line from Result.Stderr.
const sshPIDMarker = "portwarden: pid "

// sshScriptTag is $0 of the script's shell; the kill session checks it is in
// the process's command line before killing anything.
const sshScriptTag = "portwarden-script"

// sshWrap returns the shell program that runs body on the host. It keeps
// $SSH_CONNECTION, which sudo's env_reset drops, from its first argument
// (command passes it), so that the facts script can report the host's own
// view of the session (see firewall.SessionClient). It prints the
// pid marker and execs the body's shell, with hostTimeout under GNU
// timeout when the host has it, so the host itself stops a script that
// outlives the command timeout even if the controller is gone (timeout
// runs the script in its own process group and signals all of it: TERM,
// then KILL 2s later). A read-only script (Script.ReadOnly) goes without:
// the login shell execs straight into the body's shell.
// Whether timeout exists is asked of the shell (command -v, a builtin), not
// by running it: a process more per script is a cost every host pays on
// every run. Every Linux that Veeam supports ships GNU coreutils' timeout.
func sshWrap(body string, timeout time.Duration, hostTimeout bool) string {
	w := "[ -n \"${SSH_CONNECTION-}\" ] || SSH_CONNECTION=${1-}\nexport SSH_CONNECTION\n" +
		"printf '" + sshPIDMarker + "%s\\n' \"$$\" >&2\n" +
		"set -- sh -c " + ShellQuote(body) + " " + sshScriptTag + "\n"
	if hostTimeout {
		secs := strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
		w += "if command -v timeout >/dev/null 2>&1; then set -- timeout -s TERM -k 2 " + secs + " \"$@\"; fi\n"
	}
	return w + "exec \"$@\"\n"
}

// sshWrapStdin is the command line of a read-only script without data of
// its own, run as the login user (no sudo): the wrapper execs "sh -s",
// which reads the body from standard input. The login shell (bash, on
// most hosts) then parses a few lines instead of the body as one quoted
// word, and the exec request is small: about a millisecond of host CPU
// less per script (docs/benchmarks.md, "Host cost per script"). The body
// must not leave standard input to the programs it starts while sh still
// reads it: the facts script is one brace group, which the shell reads
// whole before it runs any of it.
func sshWrapStdin() string {
	return "printf '" + sshPIDMarker + "%s\\n' \"$$\" >&2\n" +
		"exec sh -s " + sshScriptTag + "\n"
}

// command builds the remote command line and its stdin for a script body
// (already wrapped, see sshWrap).
//
// As root, or as a user without Sudo: BODY itself, which the login shell
// runs (any POSIX shell: sshd runs it as "$SHELL -c BODY"); the wrapper
// execs into timeout and the script's sh from there, so a script costs
// the host no "sh -c" of its own in between. Stdin is the script's.
//
// With Sudo and no SudoPassword: exec sudo -n -- sh -c BODY (sudo must not
// need a password), stdin is the script's.
//
// With Sudo and a SudoPassword, stdin is the password line followed by the
// script's stdin. A small shell program that the user's login shell runs
// reads the password line itself, saves the rest of stdin to a private
// temporary file (mktemp, 0600), and pipes the password alone to "sudo -S -p ”". The
// root shell sudo starts takes its stdin from the temporary file, removes
// it, and runs the body. So the script gets exactly its stdin whether sudo
// asks for the password or not (NOPASSWD, cached credentials), and a wrong
// password cannot make sudo read the script's data as more password
// attempts. The password is never in argv.
func (c *sshConn) command(body string, data []byte) (cmd string, stdin []byte, err error) {
	switch {
	case !c.cfg.Sudo:
		cmd, stdin = body, data
	case c.cfg.SudoPassword == "":
		cmd, stdin = "exec sudo -n -- sh -c "+ShellQuote(body)+" portwarden \"$SSH_CONNECTION\"", data
	default:
		inner := "exec <\"$1\" || exit 125\nrm -f -- \"$1\"\nshift\n" + body
		outer := "IFS= read -r pw || exit 125\n" +
			"t=$(mktemp) || exit 125\n" +
			"trap 'rm -f -- \"$t\"' EXIT\n" +
			"cat >\"$t\" || exit 125\n" +
			"printf '%s\\n' \"$pw\" | sudo -S -p '' -- sh -c " + ShellQuote(inner) + " portwarden \"$t\" \"$SSH_CONNECTION\"\n"
		cmd = outer
		stdin = make([]byte, 0, len(c.cfg.SudoPassword)+1+len(data))
		stdin = append(append(append(stdin, c.cfg.SudoPassword...), '\n'), data...)
	}
	if len(cmd) > MaxSSHCommand {
		return "", nil, fmt.Errorf("script body too long for a command line (%d bytes, at most %d): send data through its stdin", len(cmd), MaxSSHCommand)
	}
	return cmd, stdin, nil
}

// scriptCommand is the command line and stdin of s in a session of its
// own: a read-only script without data or sudo goes to "sh -s" on
// standard input (sshWrapStdin); every other script is wrapped (sshWrap,
// with GNU timeout unless it is ReadOnly or Bounded) and sent as command
// picks for the connection's sudo mode.
func (c *sshConn) scriptCommand(s Script, timeout time.Duration) (cmd string, stdin io.Reader, err error) {
	if s.ReadOnly && len(s.Stdin) == 0 && !c.cfg.Sudo {
		// The body as it is (a reader, not a copy per run).
		return sshWrapStdin(), strings.NewReader(s.Body), nil
	}
	cmd, data, err := c.command(sshWrap(s.Body, timeout, !s.ReadOnly && !s.Bounded), s.Stdin)
	return cmd, bytes.NewReader(data), err
}

// Run runs one script (Shell "sh") in one SSH session of the connection,
// as root or, with Sudo, through sudo; see command for how the body and
// Stdin reach the script, and sshWrap for the remote timeout. When ctx ends
// or CommandTimeout passes, Run kills the script's process group through
// a second session (OpenSSH does not deliver signals to root sessions),
// closes the session and returns an error wrapping ctx.Err() or
// ErrCommandTimeout, with what the script printed so far in Result. Run is
// safe for concurrent use; sshd allows 10 sessions per connection at once
// by default.
func (c *sshConn) Run(ctx context.Context, s Script) (Result, error) {
	if s.Shell != "" && s.Shell != "sh" {
		return Result{}, fmt.Errorf("running script on %s: ssh runs sh scripts, not %q", c.name, s.Shell)
	}
	timeout := scriptTimeout(s, c.cfg.CommandTimeout, DefaultCommandTimeout)
	if c.residentFor(s) {
		if res, ok, err := c.runResident(ctx, s, timeout); ok {
			if err != nil {
				return res, fmt.Errorf("running script on %s: %w", c.name, err)
			}
			return res, nil
		}
	}
	cmd, stdin, err := c.scriptCommand(s, timeout)
	if err != nil {
		return Result{}, fmt.Errorf("running script on %s: %w", c.name, err)
	}
	res, err := c.runCommand(ctx, cmd, stdin, timeout, c.killScript)
	var pid int
	res.Stderr, pid = sshCutMarker(res.Stderr)
	if err != nil {
		return res, fmt.Errorf("running script on %s: %w", c.name, err)
	}
	if pid == 0 && res.ExitCode != 0 {
		if c.cfg.Sudo {
			return res, &SudoError{User: c.cfg.User, Host: c.name, ExitCode: res.ExitCode, Msg: strings.TrimSpace(string(res.Stderr))}
		}
		return res, fmt.Errorf("running script on %s: the shell failed before the script started (exit status %d): %s", c.name, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return res, nil
}

// killScript ends the script whose wrapper printed its pid to stderr: TERM
// to its process group, KILL a second later if it is still there. It runs
// with the script's privileges (through sudo if need be) and only touches a
// process whose command line carries sshScriptTag.
func (c *sshConn) killScript(stderr []byte) {
	_, pid := sshCutMarker(stderr)
	if pid <= 1 {
		return
	}
	p := strconv.Itoa(pid)
	alive := "grep -q " + sshScriptTag + " /proc/" + p + "/cmdline 2>/dev/null"
	body := alive + " || exit 0\n" +
		"kill -TERM -- -" + p + " 2>/dev/null || kill -TERM " + p + " 2>/dev/null\n" +
		"for i in 1 2 3 4 5 6 7 8 9 10; do " + alive + " || exit 0; sleep 0.1; done\n" +
		"kill -KILL -- -" + p + " 2>/dev/null || kill -KILL " + p + " 2>/dev/null\nexit 0\n"
	cmd, stdin, err := c.command(body, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout)
	defer cancel()
	_, _ = c.runCommand(ctx, cmd, bytes.NewReader(stdin), c.cfg.ConnectTimeout, nil)
}

// sshCutMarker removes the first pid marker line from stderr and returns the
// pid it names (0 if there is none).
func sshCutMarker(stderr []byte) ([]byte, int) {
	i := bytes.Index(stderr, []byte(sshPIDMarker))
	for i > 0 && stderr[i-1] != '\n' {
		j := bytes.Index(stderr[i+1:], []byte(sshPIDMarker))
		if j < 0 {
			return stderr, 0
		}
		i += 1 + j
	}
	if i < 0 {
		return stderr, 0
	}
	end := bytes.IndexByte(stderr[i:], '\n')
	if end < 0 {
		return stderr, 0
	}
	pid, err := strconv.Atoi(string(stderr[i+len(sshPIDMarker) : i+end]))
	if err != nil || pid <= 0 {
		return stderr, 0
	}
	return append(stderr[:i:i], stderr[i+end+1:]...), pid
}

// ShellQuote quotes s for a POSIX shell: one word, no expansion. It is
// safe for any byte string but NUL.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
