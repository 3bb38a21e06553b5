package transport

// The reach check: does a NEW connection to a host's management service
// get in? Commit-confirmed asks it after an apply (orchestrator/confirm.go)
// instead of logging in a second time: one TCP connection and the
// service's own greeting, not a key exchange, a login and a session.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Bounds of the SSH greeting (RFC 4253 §4.2): the identification line is
// at most 255 bytes with its CRLF; the lines a server may send before it
// are bounded here, in length and in all, so that a peer that talks
// endlessly cannot hold the check.
const (
	sshIdentMax     = 255
	sshPreLineMax   = 1024
	sshPreBannerMax = 8 * 1024
)

// reachIdent is what the check answers before it hangs up, so that sshd
// sees a client that spoke SSH and left, not a scan.
const reachIdent = "SSH-2.0-portwarden_reach\r\n"

// ReachSSH opens a new TCP connection to the host's sshd along the route a
// login would take — directly, or as a direct-tcpip channel of the
// bastion's connection (from cfg.Bastions while a connection of this run
// holds it, so the bastion is not dialed again) — and reads the server's
// identification line ("SSH-2.0-..."), then hangs up. It proves that the
// host admits new connections from the controller to its SSH port and that
// an SSH server answers there; it does not log in. ConnectTimeout bounds
// each attempt; a transient failure (refused, reset, dropped before the
// banner, timed out) is retried as a dial is (retry.go), within ctx.
func ReachSSH(ctx context.Context, cfg SSHConfig) error {
	cfg, err := sshDefaults(cfg)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	var jump *sshConn
	if cfg.ProxyJump != nil {
		jcfg := *cfg.ProxyJump
		if jcfg.Handshakes == nil {
			jcfg.Handshakes = cfg.Handshakes
		}
		if cfg.Bastions != nil {
			var release func()
			jump, release, err = cfg.Bastions.get(ctx, jcfg)
			if err == nil {
				defer release()
			}
		} else {
			jump, err = dialSSH(ctx, jcfg)
			if err == nil {
				defer jump.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("reaching ssh on %s through its proxy jump: %w", addr, err)
		}
	}
	_, err = dialRetry(ctx, func() (struct{}, error) { return struct{}{}, reachSSHOnce(ctx, cfg, addr, jump) })
	return err
}

// reachSSHOnce is one attempt, in a turn of cfg.Handshakes (the greeting
// takes one of sshd's MaxStartups slots while it lasts).
func reachSSHOnce(ctx context.Context, cfg SSHConfig, addr string, jump *sshConn) error {
	turnDone, err := cfg.Handshakes.acquire(ctx, addr)
	if err != nil {
		return fmt.Errorf("reaching ssh on %s: waiting for a turn to connect: %w", addr, err)
	}
	tctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	err = func() error {
		var conn net.Conn
		var err error
		if jump != nil {
			conn, err = jump.client.DialContext(tctx, "tcp", addr)
		} else {
			var d net.Dialer
			conn, err = d.DialContext(tctx, "tcp", addr)
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		// Deadlines do not work on a channel of the bastion: closing the
		// connection bounds the read.
		stop := context.AfterFunc(tctx, func() { conn.Close() })
		defer stop()
		if _, err := readSSHBanner(conn); err != nil {
			if tctx.Err() != nil {
				return fmt.Errorf("%w (%v)", tctx.Err(), err)
			}
			return err
		}
		_, _ = io.WriteString(conn, reachIdent)
		return nil
	}()
	if err != nil {
		turnDone(false, ctx.Err() == nil && transientDialError(err))
		return fmt.Errorf("reaching ssh on %s with a new connection: %w", addr, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
	}
	turnDone(true, false)
	return nil
}

// notSSHError is a greeting that is not an SSH 2 server's.
type notSSHError struct{ Reason string }

func (e *notSSHError) Error() string { return "not an SSH 2 server's greeting: " + e.Reason }

// readSSHBanner reads a server's greeting up to and including its
// identification line and returns that line without its line end. Lines
// before it that do not start with "SSH-" are skipped, as RFC 4253 §4.2
// allows; "SSH-2.0-" and the compatible "SSH-1.99-" are accepted.
// Anything else, a line longer than the bounds, or an end of input before
// the identification is an error (io.ErrUnexpectedEOF for the last, as an
// sshd dropping the connection, e.g. past MaxStartups, gives). It reads
// byte by byte through a small buffer and never past the bounds; the
// caller bounds the time.
func readSSHBanner(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, sshPreBannerMax+sshIdentMax), 256)
	read := 0
	for {
		line, err := readLine(br, sshPreLineMax)
		read += len(line)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if read >= sshPreBannerMax+sshIdentMax {
					return "", &notSSHError{Reason: fmt.Sprintf("no identification line in the first %d bytes", sshPreBannerMax)}
				}
				return "", fmt.Errorf("reading the ssh greeting: %w", io.ErrUnexpectedEOF)
			}
			var long *lineTooLong
			if errors.As(err, &long) {
				return "", &notSSHError{Reason: fmt.Sprintf("a line longer than %d bytes", sshPreLineMax)}
			}
			return "", fmt.Errorf("reading the ssh greeting: %w", err)
		}
		if !strings.HasPrefix(line, "SSH-") {
			if read > sshPreBannerMax {
				return "", &notSSHError{Reason: fmt.Sprintf("no identification line in the first %d bytes", sshPreBannerMax)}
			}
			continue
		}
		if len(line) > sshIdentMax {
			return "", &notSSHError{Reason: fmt.Sprintf("an identification line longer than %d bytes", sshIdentMax)}
		}
		ident := strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(ident, "SSH-2.0-") && !strings.HasPrefix(ident, "SSH-1.99-") {
			return "", &notSSHError{Reason: fmt.Sprintf("protocol %q", printable(ident))}
		}
		return ident, nil
	}
}

type lineTooLong struct{}

func (*lineTooLong) Error() string { return "line too long" }

// readLine reads one line with its "\n", at most max bytes.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b strings.Builder
	for b.Len() < max {
		c, err := br.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
		if c == '\n' {
			return b.String(), nil
		}
	}
	return b.String(), &lineTooLong{}
}

// printable keeps an answer's text safe to put into an error: at most 40
// runes, control characters as "?".
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i >= 40 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || r == '\ufffd' {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// notWinRMError is an answer that is not a WS-Management listener's.
type notWinRMError struct{ Reason string }

func (e *notWinRMError) Error() string {
	return "not a WS-Management listener's answer: " + e.Reason
}

// ReachWinRM opens a new connection to the host's WinRM listener as a
// login would (the address and port, no proxy; with HTTPS the TLS
// handshake under the same certificate rules: CA, server name, pin) and
// sends one unauthenticated request, which a WS-Management listener
// answers with 401 and the authentication schemes it offers. It sends no
// credentials and opens no shell. ConnectTimeout bounds each attempt; a
// transient failure is retried as a dial is (retry.go), within ctx.
func ReachWinRM(ctx context.Context, cfg WinRMConfig) error {
	cfg, err := winrmDefaults(cfg)
	if err != nil {
		return err
	}
	// No credentials and no authentication layer: only the URL, the dial
	// and the TLS rules of the transport a login uses.
	bare := cfg
	bare.User, bare.Password, bare.Auth, bare.Krb5CCachePath = "", "", "basic", ""
	tr, err := newWinRMTransport(bare)
	if err != nil {
		return err
	}
	defer tr.destroy()
	tr.base.DisableKeepAlives = true
	name := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	_, err = dialRetry(ctx, func() (struct{}, error) {
		tctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
		err := reachWinRMOnce(tctx, tr)
		if err != nil {
			return struct{}{}, fmt.Errorf("reaching winrm on %s with a new connection: %w", name, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
		}
		return struct{}{}, nil
	})
	return err
}

func reachWinRMOnce(ctx context.Context, tr *winrmTransport) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tr.url, http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, 64*1024)
	if resp.StatusCode != http.StatusUnauthorized {
		return &notWinRMError{Reason: fmt.Sprintf("HTTP %d to an unauthenticated request, want 401", resp.StatusCode)}
	}
	if len(resp.Header.Values("WWW-Authenticate")) == 0 {
		return &notWinRMError{Reason: "HTTP 401 without WWW-Authenticate"}
	}
	return nil
}
