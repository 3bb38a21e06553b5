package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/masterzen/winrm"
)

// Defaults and limits of WinRM connections.
const (
	// MaxWinRMCommandLine is cmd.exe's limit on a command line, in
	// characters: WinRS runs every command through "cmd.exe /c". A
	// script whose encoded command line would be longer is staged
	// (see Run).
	MaxWinRMCommandLine = 8191
	// winrmCommandLineBudget is what portwarden's own command lines
	// stay within: a margin under cmd.exe's limit for what WinRS adds
	// around the command, so that no line sits at the very edge.
	winrmCommandLineBudget = 8000
	// WinRMEndMarker is the line every PowerShell script run over WinRM
	// prints last. Run checks for it and removes it: a run that exits 0
	// without it was cut short.
	WinRMEndMarker = "### portwarden:end"
)

// powershellPrefix starts every command line. -NoProfile keeps the
// account's profile scripts out; -NonInteractive makes a prompt an error
// instead of a hang.
const powershellPrefix = "powershell.exe -NoProfile -NonInteractive -EncodedCommand "

// winrmOperationTimeout is the WS-Management OperationTimeout of each
// request: how long the host holds a Receive open when the command
// prints nothing. The library polls again after it; ctx and
// CommandTimeout end the whole run.
const winrmOperationTimeout = "PT20S"

// winrmCleanupTimeout bounds the requests that tidy up after a failed or
// cancelled run (terminating the command, deleting the shell).
const winrmCleanupTimeout = 5 * time.Second

// ErrWinRMOutputTruncated is wrapped by Run's error when a script exited
// 0 but its output lacks WinRMEndMarker.
var ErrWinRMOutputTruncated = errors.New("the script's output ended before its end marker")

// winrmConn is one WinRM connection: one remote shell, opened by
// DialWinRM and deleted by Close, in which every Run executes.
type winrmConn struct {
	cfg  WinRMConfig // with defaults
	name string      // "host:port", for errors
	tr   *winrmTransport

	mu     sync.Mutex // one command at a time in the shell
	params *winrm.Parameters
	client *winrm.Client
	shell  *winrm.Shell
	// shellID is the id the host gave the shell. Every script gets it as
	// $PortwardenShellId, so that the facts script can ask the host which
	// client address created that shell (see firewall.SessionClient).
	shellID string
	closed  bool
}

// DialWinRM opens a WinRM connection to a Windows host and a remote shell
// on it (which checks the address, the TLS certificate and the
// credentials at once). HTTPS is used unless HTTPS is false and
// AllowUnencrypted is set; the server certificate is verified against
// CACertPath (or the system roots) unless Insecure is set. Auth is "ntlm"
// (default), "basic" or "kerberos" (winrm_kerberos.go: the client logs in
// to the realm's KDC and gets the host's service ticket before it opens
// the shell). A refused login is an *AuthError; a Kerberos failure is a
// *KerberosError (inside the AuthError when it is the user's). ConnectTimeout
// bounds the TCP connection, the TLS handshake and opening the shell;
// ctx can end them too.
//
// The masterzen/winrm library has no context API; this transport plugs
// its own HTTP layer into the library (a winrm.Transporter through
// Parameters.TransportDecorator) whose requests carry the context of the
// current operation, so that ctx and the timeouts abort requests in
// flight. For NTLM it decorates its http.Transport with the same
// go-ntlmssp Negotiator that winrm.ClientNTLM uses, but never lets it fall
// back to Basic authentication.
func DialWinRM(ctx context.Context, cfg WinRMConfig) (Conn, error) {
	cfg, err := winrmDefaults(cfg)
	if err != nil {
		return nil, err
	}
	tr, err := newWinRMTransport(cfg)
	if err != nil {
		return nil, err
	}
	c := &winrmConn{cfg: cfg, name: net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)), tr: tr}
	params := winrm.NewParameters(winrmOperationTimeout, "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return tr }
	c.params = params
	// The endpoint's Timeout bounds the library's own HTTP client, which
	// this transport replaces: Run bounds each command itself.
	endpoint := &winrm.Endpoint{Host: cfg.Address, Port: cfg.Port, HTTPS: cfg.HTTPS, Insecure: cfg.Insecure}
	c.client, err = winrm.NewClientWithParameters(endpoint, cfg.User, cfg.Password, params)
	if err != nil {
		tr.destroy()
		return nil, fmt.Errorf("winrm to %s: %w", c.name, err)
	}

	if tr.krb != nil {
		// The Kerberos login (tickets from the KDC) is made once, within
		// the connect timeout; opening the shell below is what is retried.
		lctx, cancel := context.WithTimeoutCause(ctx, cfg.ConnectTimeout, errConnectTimeout)
		err := tr.krb.login(lctx)
		if err != nil {
			err = c.opError(lctx, "connecting", err)
			cancel()
			tr.destroy()
			return nil, err
		}
		cancel()
	}
	// Opening the shell is connecting: retried as SSH's dial is when it
	// failed in a way that says nothing about the host's answer (refused,
	// reset, dropped, timed out; transport/retry.go). A shell the host may
	// have opened for a dropped attempt runs nothing and idles out.
	// openShell makes the shell it opened the connection's (c.shell).
	if _, err := dialRetry(ctx, func() (*winrm.Shell, error) { return c.openShell(ctx) }); err != nil {
		tr.destroy()
		return nil, err
	}
	return c, nil
}

// openShell makes one attempt at opening the remote shell, bounded by the
// connect timeout.
func (c *winrmConn) openShell(ctx context.Context) (*winrm.Shell, error) {
	dctx, cancel := context.WithTimeoutCause(ctx, c.cfg.ConnectTimeout, errConnectTimeout)
	defer cancel()
	c.tr.setContext(dctx)
	shell, err := c.createShell()
	if err != nil {
		c.tr.closeIdle()
		return nil, c.opError(dctx, "connecting", err)
	}
	if dctx.Err() != nil {
		// Ended while the host was opening the shell: close it again.
		_ = shell.Close()
		c.tr.closeIdle()
		return nil, c.opError(dctx, "connecting", dctx.Err())
	}
	return shell, nil
}

var errConnectTimeout = errors.New("connect timeout")

// winrmShellIDRe is a WinRS shell id: a GUID (upper case on Windows).
var winrmShellIDRe = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// createShell creates a remote shell as winrm.Client.CreateShell does and
// makes it the connection's shell (c.shell), keeping its id, which the
// library does not expose. A shell-quota fault
// reaches here as an answer without a ShellId (see docs/wsman.md): that
// is an error, not a shell with an empty id.
func (c *winrmConn) createShell() (*winrm.Shell, error) {
	req := winrm.NewOpenShellRequest(c.tr.url, c.params)
	defer req.Free()
	resp, err := c.tr.Post(c.client, req)
	if err != nil {
		return nil, err
	}
	id, err := winrm.ParseOpenShellResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("reading the new shell's id: %w", err)
	}
	if !winrmShellIDRe.MatchString(id) {
		return nil, fmt.Errorf("the host answered the shell creation without a shell id (over its shell quota?)")
	}
	c.shell, c.shellID = c.client.NewShell(id), id
	return c.shell, nil
}

func winrmDefaults(cfg WinRMConfig) (WinRMConfig, error) {
	if cfg.Address == "" {
		return cfg, errors.New("winrm: no host address")
	}
	if strings.Contains(cfg.Address, "://") || strings.ContainsAny(cfg.Address, "/ ") {
		return cfg, fmt.Errorf("winrm to %s: the address must be a host name or IP address, without scheme or path", cfg.Address)
	}
	if a, err := netip.ParseAddr(strings.Trim(cfg.Address, "[]")); err == nil {
		cfg.Address = a.String()
	} else if strings.Contains(cfg.Address, ":") {
		return cfg, fmt.Errorf("winrm to %s: give the port in the port setting, not in the address", cfg.Address)
	}
	cfg = WinRMDefaults(cfg)
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("winrm to %s: bad port %d", cfg.Address, cfg.Port)
	}
	switch strings.ToLower(cfg.Auth) {
	case "", "ntlm":
		cfg.Auth = "ntlm"
	case "basic":
		cfg.Auth = "basic"
	case "kerberos":
		cfg.Auth = "kerberos"
	default:
		return cfg, fmt.Errorf("winrm to %s: unknown authentication %q (want \"ntlm\", \"basic\" or \"kerberos\")", cfg.Address, cfg.Auth)
	}
	if cfg.Auth == "basic" && !cfg.HTTPS && !cfg.AllowBasicOverHTTPCleartextPassword {
		return cfg, fmt.Errorf("winrm to %s: refusing Basic authentication over plain HTTP: it sends the password in clear text with every request "+
			"(use HTTPS, or NTLM, or set allow_basic_over_http_cleartext_password = true to accept that risk)", cfg.Address)
	}
	if cfg.User == "" {
		return cfg, fmt.Errorf("winrm to %s: no user", cfg.Address)
	}
	if cfg.Password == "" && !(cfg.Auth == "kerberos" && cfg.Krb5CCachePath != "") {
		return cfg, fmt.Errorf("winrm to %s: no password for user %s", cfg.Address, cfg.User)
	}
	// CommandTimeout stays as it is: Run falls back to
	// DefaultWinRMCommandTimeout (scriptTimeout).
	return cfg, nil
}

func (c *winrmConn) opError(ctx context.Context, doing string, err error) error {
	prefix := fmt.Sprintf("winrm to %s: %s", c.name, doing)
	var (
		cve   *tls.CertificateVerificationError
		uae   x509.UnknownAuthorityError
		he    x509.HostnameError
		cie   x509.CertificateInvalidError
		rhe   tls.RecordHeaderError
		fault *winrmFault
		ne    net.Error
		ke    *KerberosError
	)
	switch {
	case ctxEnded(ctx):
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, ErrCommandTimeout):
			return fmt.Errorf("%s: %w", prefix, cause)
		case errors.Is(cause, errConnectTimeout):
			return fmt.Errorf("%s: timed out after %s: %w", prefix, c.cfg.ConnectTimeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	case errors.As(err, &ke):
		if ke.Auth {
			return &AuthError{User: c.cfg.User, Host: c.name, Methods: []string{c.cfg.Auth}, Err: ke}
		}
		return fmt.Errorf("%s: %w", prefix, ke)
	case errors.Is(err, errKerberosRefused):
		spn, _ := WinRMSPN(c.cfg)
		return &AuthError{User: c.cfg.User, Host: c.name, Methods: []string{c.cfg.Auth}, Err: &KerberosError{Kind: "ticket refused",
			Msg: fmt.Sprintf("the host refused the ticket for %s: wrong spn for this host, a keytab on the host that does not match the KDC, clocks more than 5 minutes apart, or an account that may not use WinRM", spn)}}
	case errors.Is(err, errKerberosNotOffered):
		return &AuthError{User: c.cfg.User, Host: c.name, Methods: []string{c.cfg.Auth}, Err: errKerberosNotOffered}
	case errors.Is(err, errUnauthorized):
		why := errors.New("authentication failed: wrong user name or password, or the account may not use WinRM")
		if !c.cfg.HTTPS {
			why = errors.New("authentication failed: wrong user name or password, the account may not use WinRM, or the host refuses unencrypted traffic (AllowUnencrypted)")
		}
		return &AuthError{User: c.cfg.User, Host: c.name, Methods: []string{c.cfg.Auth}, Err: why}
	case errors.Is(err, errBasicRefused):
		return &AuthError{User: c.cfg.User, Host: c.name, Methods: []string{c.cfg.Auth}, Err: errBasicRefused}
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return fmt.Errorf("%s: verifying the host's TLS certificate: %w", prefix, err)
	case errors.As(err, &rhe), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s: the host does not speak TLS on this port (plain HTTP? then set https = false and allow_unencrypted): %w", prefix, err)
	case errors.As(err, &fault):
		return fmt.Errorf("%s: %w", prefix, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%s: the connection dropped: %w", prefix, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused (is WinRM listening on this port?): %w", prefix, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: timed out: %w", prefix, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// ctxEnded reports whether ctx has ended, including a deadline that has
// passed while its timer has not fired yet: an operation can fail on a
// timer of its own a moment before the context notices.
func ctxEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
		return true
	}
	return false
}

// LocalAddr is the local address of the TCP connection to the host.
func (c *winrmConn) LocalAddr() netip.Addr {
	if a := c.tr.local.Load(); a != nil {
		return *a
	}
	return netip.IPv4Unspecified()
}

// Close deletes the remote shell and closes the connections.
func (c *winrmConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.tr.setContext(context.Background())
	err := c.shell.Close()
	c.tr.destroy()
	if err != nil {
		return c.opError(context.Background(), "closing the remote shell", err)
	}
	return nil
}

// Run runs one PowerShell script (Shell "powershell") in the connection's
// shell as
//
//	powershell.exe -NoProfile -NonInteractive -EncodedCommand <base64 of the UTF-16LE script>
//
// The script gets a last line that prints WinRMEndMarker; Run removes
// that line from Stdout and reports a run that exited 0 without it as
// ErrWinRMOutputTruncated. Script.Stdin, if any, reaches the script as
// the byte array $PortwardenStdin, embedded in the script (so it must not
// hold secrets: the script may sit in a temporary file, see below).
//
// cmd.exe, through which WinRS starts every command, takes at most 8191
// characters, and the encoding makes a command line about 2.7 times the
// script. A longer script is staged: a few commands in the same shell
// write the script, base64-encoded, in chunks to
// %TEMP%\portwarden-<random>.b64, and a last command reads it back,
// deletes the file, checks its length and runs it. Each chunk command
// must succeed before the next is sent; a failure ends the run with an
// error.
//
// stderr is cleaned of the CLIXML that powershell.exe writes when its
// stderr is not a console: progress records are dropped, error and
// warning records become their text.
//
// CommandTimeout bounds the whole run, staging included; ctx can end it
// too. Either way the command is terminated on the host and the error
// wraps ErrCommandTimeout or ctx.Err(). A dropped connection is an error
// too: the script may or may not have run, and it is not sent again.
func (c *winrmConn) Run(ctx context.Context, s Script) (Result, error) {
	if s.Shell != "powershell" {
		return Result{}, fmt.Errorf("winrm to %s: running a script: WinRM runs powershell scripts, not %q", c.name, s.Shell)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Result{}, fmt.Errorf("winrm to %s: running a script: the connection is closed", c.name)
	}
	timeout := scriptTimeout(s, c.cfg.CommandTimeout, DefaultWinRMCommandTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w after %s", ErrCommandTimeout, timeout))
	defer cancel()

	lines, file, err := winrmCommandLines(winrmScript(s, c.shellID))
	if err != nil {
		return Result{}, fmt.Errorf("winrm to %s: running a script: %w", c.name, err)
	}
	for i, line := range lines[:len(lines)-1] {
		res, err := c.exec(ctx, line)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit status %d: %s", res.ExitCode, strings.TrimSpace(string(cleanCLIXML(res.Stderr))))
		}
		if err != nil {
			c.removeStaged(file)
			return Result{}, c.opError(ctx, fmt.Sprintf("staging the script (part %d of %d)", i+1, len(lines)-1), err)
		}
	}
	res, err := c.exec(ctx, lines[len(lines)-1])
	res.Stderr = cleanCLIXML(res.Stderr)
	if err != nil {
		if file != "" {
			c.removeStaged(file)
		}
		return res, c.opError(ctx, "running a script", err)
	}
	if bytes.Contains(res.Stderr, []byte("The command line is too long.")) {
		return res, fmt.Errorf("winrm to %s: running a script: cmd.exe refused the command line as too long", c.name)
	}
	var found bool
	res.Stdout, found = cutEndMarker(res.Stdout)
	if !found && res.ExitCode == 0 {
		return res, fmt.Errorf("winrm to %s: running a script: %w: the script was cut short or its output lost", c.name, ErrWinRMOutputTruncated)
	}
	return res, nil
}

// exec runs one command line in the shell and collects its output.
func (c *winrmConn) exec(ctx context.Context, line string) (Result, error) {
	if n := len(utf16.Encode([]rune(line))); n > MaxWinRMCommandLine {
		return Result{}, fmt.Errorf("the command line is too long (%d characters, cmd.exe takes %d)", n, MaxWinRMCommandLine)
	}
	// The output budget cancels the requests of this command when the
	// host sends too much; see outputBudget.
	ectx, ecancel := context.WithCancelCause(ctx)
	defer ecancel(nil)
	c.tr.setContext(ectx)
	cmd, err := c.shell.Execute(line)
	var fault *winrmFault
	if errors.As(err, &fault) && fault.subcode == "w:InvalidSelectors" {
		// The host no longer knows the shell (WinRM restarted, or the
		// shell idled out): the command did not start. Open a new shell
		// and try once more.
		shell, serr := c.createShell()
		if serr != nil {
			return Result{}, fmt.Errorf("opening a new remote shell: %w", serr)
		}
		cmd, err = shell.Execute(line)
	}
	if err != nil {
		return Result{}, err
	}
	// If ctx ends from here on, the library's first Receive fails at once
	// and the command is terminated below.
	budget := newOutputBudget(MaxWinRMOutput, ecancel)
	var stdout, stderr bytes.Buffer
	var outErr, errErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, outErr = io.Copy(budget.writer(&stdout), cmd.Stdout) }()
	go func() { defer wg.Done(); _, errErr = io.Copy(budget.writer(&stderr), cmd.Stderr) }()
	cmd.Wait()
	wg.Wait()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ExitCode()}
	if budget.exceeded() {
		_ = cmd.Close()
		return Result{}, fmt.Errorf("%w (%d MiB): stopped reading and terminated the command", ErrOutputTooLarge, MaxWinRMOutput>>20)
	}

	// Terminate the command on the host: a formality once it has ended,
	// and what stops it after a cancellation or a lost Receive. Signal
	// requests outlive ctx (see requestContext).
	_ = cmd.Close()

	if outErr != nil {
		return res, outErr
	}
	return res, errErr
}

// removeStaged deletes a staging file after a failed run, best effort.
func (c *winrmConn) removeStaged(file string) {
	if file == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), winrmCleanupTimeout)
	defer cancel()
	script := "$ProgressPreference='SilentlyContinue';Remove-Item -LiteralPath (Join-Path $env:TEMP '" + file + "') -Force -ErrorAction SilentlyContinue"
	_, _ = c.exec(ctx, encodeCommand(script))
}
