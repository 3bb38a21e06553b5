package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshBuffer is a bytes.Buffer safe to read while a session writes to it.
type sshBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *sshBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *sshBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// runCommand runs cmd in a new session and waits for it, ctx and timeout.
// When ctx or the timeout ends first, it calls kill (if any) with what the
// command printed on stderr so far, closes the session, and returns the
// output so far with the cause.
func (c *sshConn) runCommand(ctx context.Context, cmd string, stdin io.Reader, timeout time.Duration, kill func(stderr []byte)) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, err
	}
	var (
		mu       sync.Mutex
		sess     *ssh.Session
		canceled bool
		stdout   sshBuffer
		stderr   sshBuffer
	)
	over := make(chan struct{})
	budget := newOutputBudget(MaxSSHOutput, func(error) { close(over) })
	done := make(chan error, 1)
	go func() {
		s, err := c.client.NewSession()
		if err != nil {
			done <- fmt.Errorf("opening a session: %w", err)
			return
		}
		mu.Lock()
		if canceled {
			mu.Unlock()
			s.Close()
			done <- errors.New("canceled")
			return
		}
		sess = s
		mu.Unlock()
		defer s.Close()
		// Stdin through StdinPipe: Session.Stdin would copy it through an
		// io.Pipe with a 32 KB buffer of its own per session.
		in, err := s.StdinPipe()
		if err != nil {
			done <- fmt.Errorf("opening the session's stdin: %w", err)
			return
		}
		s.Stdout, s.Stderr = budget.writer(&stdout), budget.writer(&stderr)
		if err := s.Start(cmd); err != nil {
			done <- err
			return
		}
		go func() {
			// Ends when all is written or the session is closed.
			_, _ = io.Copy(in, stdin)
			in.Close()
		}()
		done <- s.Wait()
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var cause error
	select {
	case err := <-done:
		if budget.exceeded() {
			return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, c.tooMuchOutput()
		}
		return sshResult(stdout.Bytes(), stderr.Bytes(), err)
	case <-over:
		cause = c.tooMuchOutput()
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = fmt.Errorf("%w after %s", ErrCommandTimeout, timeout)
	}
	if kill != nil {
		kill(stderr.Bytes())
	}
	mu.Lock()
	canceled = true
	if sess != nil {
		sess.Close()
	}
	mu.Unlock()
	// Once the script is gone sshd closes the session; keep what was
	// printed. On a dead connection, give up waiting.
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, cause
}

func sshResult(stdout, stderr []byte, err error) (Result, error) {
	res := Result{Stdout: stdout, Stderr: stderr}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
		return res, nil
	case errors.As(err, &missing):
		res.ExitCode = -1
		return res, errors.New("the command ended without an exit status (connection lost?)")
	}
	res.ExitCode = -1
	return res, err
}
