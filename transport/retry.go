package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"
)

// Connecting is retried when it failed in a way that says nothing about
// the host's answer: refused or reset during the handshake, a dial that
// timed out, or sshd dropping the connection before its banner (what
// MaxStartups does to a burst of connections: the client sees EOF, the
// server logs kex_exchange_identification). Retries wait a jittered,
// doubling delay (equal jitter: between half the bound and the bound), at most
// sshDialAttempts attempts in all. Scripts are never retried: one that may
// have started could have changed the host.
const (
	sshDialAttempts = 4
	sshBackoffBase  = 200 * time.Millisecond
	sshBackoffMax   = 2 * time.Second
)

// transientDialError reports whether a failed connection attempt is worth
// another one. Host key and authentication failures are answers, and so
// is everything else not listed.
func transientDialError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var hke *HostKeyError
	var ae *AuthError
	if errors.As(err, &hke) || errors.As(err, &ae) {
		return false
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	s := strings.ToLower(err.Error())
	for _, m := range []string{"kex_exchange_identification", "connection reset by peer", "connection refused",
		"handshake failed: eof", "broken pipe", "i/o timeout", "timed out after"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func dialTimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "timed out after")
}

// sshBackoff is the wait before attempt n+1 (n >= 1), with a random
// jitter.
func sshBackoff(n int) time.Duration { return backoff(n, rand.Float64()) }

// backoff is the retry policy as a pure function: before attempt n+1 wait
// between half and all of a bound that doubles from sshBackoffBase with
// each attempt, up to sshBackoffMax; jitter in [0, 1) picks the point.
// Half the bound is always waited so that a burst of refused connections
// does not come back as the same burst; the other half spreads them.
func backoff(n int, jitter float64) time.Duration {
	bound := sshBackoffMax
	if n >= 1 && n < 32 {
		bound = min(sshBackoffBase<<(n-1), sshBackoffMax)
	}
	jitter = min(max(jitter, 0), 1)
	return bound/2 + time.Duration(jitter*float64(bound/2))
}

// attemptLimit is how many attempts a dial that failed with err gets in
// all: a dial that timed out already took the whole connect timeout, so
// it gets one more try, not three.
func attemptLimit(err error) int {
	if dialTimedOut(err) {
		return 2
	}
	return sshDialAttempts
}

// dialRetry calls dial until it succeeds, fails for good, or ctx ends.
func dialRetry[T any](ctx context.Context, dial func() (T, error)) (T, error) {
	var zero T
	for n := 1; ; n++ {
		c, err := dial()
		if err == nil {
			return c, nil
		}
		if n >= attemptLimit(err) || !transientDialError(err) || ctx.Err() != nil {
			if n > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, n)
			}
			return zero, err
		}
		t := time.NewTimer(sshBackoff(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("%w (after %d attempts)", err, n)
		}
	}
}
