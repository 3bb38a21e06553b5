package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// A resident shell serves the read-only scripts of a connection that is
// kept from one run to the next (KeepShell: watch's pooled connections).
// It is one session whose "sh -s" stays running and reads script after
// script from its standard input, each in a subshell of its own:
//
//	( SSH_CONNECTION restored if sudo dropped it; BODY ) </dev/null
//	printf '\nNONCE %s\n' "$?"; printf '\nNONCE-err\n' >&2
//
// A round then costs the host the subshell's fork and the script's own
// programs, not a session (sshd's fork of its session child), the login
// shell's start and sh's exec: about 2 ms of host CPU less per host per
// round (docs/benchmarks.md, "Host cost per script"). The subshell keeps
// rounds apart (no variable, trap or directory outlives its round), and
// its standard input is /dev/null, so nothing it runs can read the next
// round's script. The nonce is random per round; the output ends where
// its line starts, and the newline printed before it is not the script's.
//
// A round that times out or is canceled ends the shell as Run ends a
// session's script (killScript, the process group of the shell the
// wrapper printed the pid of), and the next round starts a new one. A
// shell that ended on its own (killed on the host, a syntax error in a
// body) is noticed as the end of its output; the round then runs in a
// session of its own, as without KeepShell (a read-only script may run
// twice), and the next round starts a new shell. A shell that ended
// before it finished its first round (sudo -n refused, no sh) is not
// started again on this connection. With Sudo and no SudoPassword the
// shell is "sudo -n -- sh -s", and each round gets $SSH_CONNECTION back
// from the wrapper's argument (sudo's env_reset drops it). Scripts with
// data, scripts that change the host, and every script when a
// SudoPassword is set (it would have to stay in a long-lived shell's
// input) run in sessions of their own as before.
type sshResident struct {
	sess   *ssh.Session
	stdin  io.WriteCloser
	out    residentStream
	errs   residentStream
	wake   chan struct{} // a stream has new bytes or ended
	pid    int           // from the wrapper's marker; 0 until read
	rounds int           // rounds it finished
}

type residentStream struct {
	mu  sync.Mutex
	buf []byte
	end error // why reading stopped (io.EOF when the shell ended)
}

// KeepShell makes read-only scripts on this connection run in a resident
// shell (see sshResident) from the next one on. ConnPool calls it on the
// connections it keeps.
func (c *sshConn) KeepShell() {
	c.resMu.Lock()
	c.keepShell = true
	c.resMu.Unlock()
}

// residentFor reports whether s can run in the resident shell.
func (c *sshConn) residentFor(s Script) bool {
	return s.ReadOnly && len(s.Stdin) == 0 && (!c.cfg.Sudo || c.cfg.SudoPassword == "")
}

// runResident runs s in the resident shell, starting one if there is
// none. ok is false when it did not run there (KeepShell not called, the
// shell busy with another script, or it could not start or ended before
// the round's end): the caller runs s in a session of its own.
func (c *sshConn) runResident(ctx context.Context, s Script, timeout time.Duration) (res Result, ok bool, err error) {
	if ctx.Err() != nil || !c.resMu.TryLock() {
		return Result{}, false, nil
	}
	defer c.resMu.Unlock()
	if !c.keepShell || c.resClosed || c.resRefused {
		return Result{}, false, nil
	}
	if c.res == nil {
		r, err := c.startResident()
		if err != nil {
			return Result{}, false, nil
		}
		c.res = r
	}
	r := c.res
	res, ended, err := r.round(ctx, s.Body, timeout, c.killScript, c.tooMuchOutput)
	if ended || err != nil {
		// The shell ended or was ended: the next round starts another,
		// unless this one never served a round.
		if ended && r.rounds == 0 {
			c.resRefused = true
		}
		r.close()
		c.res = nil
	} else {
		r.rounds++
	}
	if ended {
		return Result{}, false, nil
	}
	return res, true, err
}

// startResident opens the resident shell's session: the wrapper prints
// the pid marker and execs "sh -s" (as for a read-only script, see
// sshWrapStdin), whose input stays open.
func (c *sshConn) startResident() (*sshResident, error) {
	sess, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening a session: %w", err)
	}
	r := &sshResident{sess: sess, wake: make(chan struct{}, 1)}
	in, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	errs, err := sess.StderrPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	r.stdin = in
	cmd := sshWrapStdin()
	if c.cfg.Sudo {
		cmd = sshWrapStdinSudo()
	}
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, err
	}
	go r.drain(&r.out, out)
	go r.drain(&r.errs, errs)
	return r, nil
}

// drain keeps reading one of the shell's outputs, so that the channel's
// window never fills, until the session ends.
func (r *sshResident) drain(st *residentStream, from io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		st.mu.Lock()
		st.buf = append(st.buf, buf[:n]...)
		if err != nil {
			st.end = err
		}
		st.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// take returns what the stream holds up to the line "\n"+mark (without
// it) and removes it with its line; found is false while the line has not
// arrived. end is set once the stream has ended.
func (st *residentStream) take(mark []byte) (before, line []byte, found bool, end error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := bytes.Index(st.buf, mark)
	if i < 0 {
		return nil, nil, false, st.end
	}
	nl := bytes.IndexByte(st.buf[i+len(mark):], '\n')
	if nl < 0 {
		return nil, nil, false, st.end
	}
	rest := i + len(mark) + nl
	before = bytes.Clone(st.buf[:i])
	line = bytes.Clone(st.buf[i+len(mark) : rest])
	st.buf = append(st.buf[:0], st.buf[rest+1:]...)
	return before, line, true, nil
}

func (st *residentStream) size() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.buf)
}

func (st *residentStream) snapshot() []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	return bytes.Clone(st.buf)
}

// sshWrapStdinSudo is sshWrapStdin through sudo -n, which must not need
// a password; the login shell's $SSH_CONNECTION becomes the root shell's
// $2 (residentRound restores it).
func sshWrapStdinSudo() string {
	return "printf '" + sshPIDMarker + "%s\\n' \"$$\" >&2\n" +
		"exec sudo -n -- sh -s " + sshScriptTag + " \"$SSH_CONNECTION\"\n"
}

// residentRound is the text the resident shell reads for one script.
func residentRound(body, nonce string) string {
	return "(\n[ -n \"${SSH_CONNECTION-}\" ] || SSH_CONNECTION=${2-}\nexport SSH_CONNECTION\n" + body + "\n) </dev/null\n" +
		"printf '\\n%s %s\\n' '" + nonce + "' \"$?\"\n" +
		"printf '\\n%s\\n' '" + nonce + "-err' >&2\n"
}

// round runs one body. ended reports that the shell ended before the
// round's end (nothing is left running; the caller may run the body
// elsewhere); err that the round failed (ctx, the timeout, too much
// output), after which the shell has been killed.
func (r *sshResident) round(ctx context.Context, body string, timeout time.Duration, kill func(stderr []byte), tooMuch func() error) (res Result, ended bool, err error) {
	var nb [12]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return Result{}, true, nil
	}
	nonce := "pw-" + hex.EncodeToString(nb[:])
	if _, err := io.WriteString(r.stdin, residentRound(body, nonce)); err != nil {
		return Result{}, true, nil
	}
	outMark, errMark := []byte("\n"+nonce+" "), []byte("\n"+nonce+"-err")
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var (
		stdout, stderr, status []byte
		gotOut, gotErr         bool
	)
	for {
		if !gotOut {
			var end error
			stdout, status, gotOut, end = r.out.take(outMark)
			if end != nil {
				return Result{}, true, nil
			}
		}
		if !gotErr {
			var end error
			stderr, _, gotErr, end = r.errs.take(errMark)
			if end != nil {
				return Result{}, true, nil
			}
		}
		if gotOut && gotErr {
			break
		}
		if r.out.size()+r.errs.size() > MaxSSHOutput {
			err = tooMuch()
			break
		}
		select {
		case <-r.wake:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
			err = fmt.Errorf("%w after %s", ErrCommandTimeout, timeout)
		}
		break
	}
	if err != nil {
		// What the script printed so far.
		if !gotOut {
			stdout = r.out.snapshot()
		}
		if !gotErr {
			stderr = r.errs.snapshot()
		}
	}
	if r.pid == 0 {
		// The first round's stderr starts with the wrapper's pid marker.
		var pid int
		if stderr, pid = sshCutMarker(stderr); pid > 0 {
			r.pid = pid
		}
	}
	if err != nil {
		if kill != nil && r.pid > 0 {
			kill([]byte(sshPIDMarker + strconv.Itoa(r.pid) + "\n"))
		}
		return Result{Stdout: stdout, Stderr: stderr, ExitCode: -1}, false, err
	}
	code, cerr := strconv.Atoi(string(status))
	if cerr != nil {
		return Result{}, true, nil
	}
	return Result{Stdout: stdout, Stderr: stderr, ExitCode: code}, false, nil
}

// close ends the shell: its input closes (sh exits at the end of its
// script), and the session with it.
func (r *sshResident) close() {
	r.stdin.Close()
	r.sess.Close()
}

// closeResident ends the resident shell, if any; Close calls it.
func (c *sshConn) closeResident() {
	c.resMu.Lock()
	defer c.resMu.Unlock()
	c.resClosed = true
	if c.res != nil {
		c.res.close()
		c.res = nil
	}
}
