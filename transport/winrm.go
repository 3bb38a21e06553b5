package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/portwarden/portwarden/firewall"
)

// Defaults and limits of WinRM connections.
const (
	DefaultWinRMHTTPSPort = 5986
	DefaultWinRMHTTPPort  = 5985
	// MaxWinRMCommandLine is cmd.exe's limit on a command line, in
	// characters: WinRS runs every command through "cmd.exe /c". A
	// script whose encoded command line would be longer is staged
	// (see Run).
	MaxWinRMCommandLine = 8191
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
	client *winrm.Client
	shell  *winrm.Shell
	closed bool
}

// DialWinRM opens a WinRM connection to a Windows host and a remote shell
// on it (which checks the address, the TLS certificate and the
// credentials at once). HTTPS is used unless HTTPS is false and
// AllowUnencrypted is set; the server certificate is verified against
// CACertPath (or the system roots) unless Insecure is set. Auth is "ntlm"
// (default) or "basic". A refused login is an *AuthError. ConnectTimeout
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
	endpoint := &winrm.Endpoint{Host: cfg.Address, Port: cfg.Port, HTTPS: cfg.HTTPS, Insecure: cfg.Insecure, Timeout: cfg.CommandTimeout}
	c.client, err = winrm.NewClientWithParameters(endpoint, cfg.User, cfg.Password, params)
	if err != nil {
		return nil, fmt.Errorf("winrm to %s: %w", c.name, err)
	}

	dctx, cancel := context.WithTimeoutCause(ctx, cfg.ConnectTimeout, errConnectTimeout)
	defer cancel()
	tr.setContext(dctx)
	shell, err := c.client.CreateShell()
	if err != nil {
		tr.closeIdle()
		return nil, c.opError(dctx, "connecting", err)
	}
	c.shell = shell
	if dctx.Err() != nil {
		// Ended while the host was opening the shell: close it again.
		_ = shell.Close()
		tr.closeIdle()
		return nil, c.opError(dctx, "connecting", dctx.Err())
	}
	return c, nil
}

var errConnectTimeout = errors.New("connect timeout")

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
	// Plain HTTP only on explicit request: the zero WinRMConfig (HTTPS
	// false) means HTTPS unless AllowUnencrypted says otherwise.
	if !cfg.AllowUnencrypted {
		cfg.HTTPS = true
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultWinRMHTTPPort
		if cfg.HTTPS {
			cfg.Port = DefaultWinRMHTTPSPort
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("winrm to %s: bad port %d", cfg.Address, cfg.Port)
	}
	switch strings.ToLower(cfg.Auth) {
	case "", "ntlm":
		cfg.Auth = "ntlm"
	case "basic":
		cfg.Auth = "basic"
	default:
		return cfg, fmt.Errorf("winrm to %s: unknown authentication %q (want \"ntlm\" or \"basic\")", cfg.Address, cfg.Auth)
	}
	if cfg.User == "" {
		return cfg, fmt.Errorf("winrm to %s: no user", cfg.Address)
	}
	if cfg.Password == "" {
		return cfg, fmt.Errorf("winrm to %s: no password for user %s", cfg.Address, cfg.User)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	return cfg, nil
}

// winrmTransport is the HTTP layer handed to the winrm library. Every
// request carries the context of the operation under way (setContext),
// since the library's calls take none.
type winrmTransport struct {
	url            string
	user, password string
	ntlm           bool
	connectTimeout time.Duration
	base           *http.Transport
	client         *http.Client
	op             atomic.Pointer[context.Context]
	local          atomic.Pointer[netip.Addr]
}

func newWinRMTransport(cfg WinRMConfig) (*winrmTransport, error) {
	scheme := "http"
	if cfg.HTTPS {
		scheme = "https"
	}
	t := &winrmTransport{
		url:            scheme + "://" + net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)) + "/wsman",
		user:           cfg.User,
		password:       cfg.Password,
		ntlm:           cfg.Auth == "ntlm",
		connectTimeout: cfg.ConnectTimeout,
	}
	var tc *tls.Config
	if cfg.HTTPS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure, ServerName: cfg.Address}
		if cfg.CACertPath != "" && !cfg.Insecure {
			pem, err := os.ReadFile(cfg.CACertPath)
			if err != nil {
				return nil, fmt.Errorf("winrm to %s: reading the CA certificates: %w", cfg.Address, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("winrm to %s: no PEM certificate in %s", cfg.Address, cfg.CACertPath)
			}
			tc.RootCAs = pool
		}
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	// dial connects (and for HTTPS does the TLS handshake) within
	// ConnectTimeout; connecting has no effect on the host, so the
	// operation's context may always abort it.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if op, ok := ctx.Value(abortDialKey{}).(context.Context); ok {
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			stop := context.AfterFunc(op, func() { cancel(context.Cause(op)) })
			defer stop()
			defer cancel(nil)
		}
		ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if a := tcpAddr(conn.LocalAddr()); a.IsValid() {
			t.local.Store(&a)
		}
		if tc == nil {
			return conn, nil
		}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tconn, nil
	}
	t.base = &http.Transport{
		// Management traffic goes straight to the host: a proxy from the
		// environment would also hide the controller's address.
		Proxy:               nil,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		// WinRM speaks HTTP/1.1; NTLM authenticates a connection.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if tc != nil {
		t.base.DialTLSContext = dial
	} else {
		t.base.DialContext = dial
	}
	var rt http.RoundTripper = t.base
	if t.ntlm {
		rt = ntlmssp.Negotiator{RoundTripper: noBasicAuth{t.base}}
	}
	t.client = &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return t, nil
}

func tcpAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// errBasicRefused stops the NTLM negotiator from sending the password in
// a Basic header when the host offers only Basic.
var errBasicRefused = errors.New("the host offers only Basic authentication; not sending the password that way with auth \"ntlm\" (set auth to \"basic\" to allow it)")

// noBasicAuth refuses requests that carry Basic credentials.
type noBasicAuth struct{ rt http.RoundTripper }

func (n noBasicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.Header.Get("Authorization"), "Basic ") {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errBasicRefused
	}
	return n.rt.RoundTrip(req)
}

// setContext sets the context of the operation under way.
func (t *winrmTransport) setContext(ctx context.Context) { t.op.Store(&ctx) }

func (t *winrmTransport) operation() context.Context {
	if p := t.op.Load(); p != nil {
		return *p
	}
	return context.Background()
}

type abortDialKey struct{}

var soapAction = regexp.MustCompile(`<[A-Za-z0-9]*:?Action[^>]*>([^<]+)<`)

// requestContext is the context of one request. Receive and Send end with
// the operation. Create and Command change the host: once sent they are
// let finish (within ConnectTimeout) so that the client learns the ID of
// the shell or command it has to close; only connecting for them ends
// with the operation. Signal and Delete tidy up and run even after the
// operation ended, within winrmCleanupTimeout.
func (t *winrmTransport) requestContext(body string) (context.Context, context.CancelFunc) {
	op := t.operation()
	action := ""
	if m := soapAction.FindStringSubmatch(body); m != nil {
		action = m[1][strings.LastIndexByte(m[1], '/')+1:]
	}
	switch action {
	case "Create", "Command":
		ctx, cancel := context.WithTimeout(context.WithoutCancel(op), 2*t.connectTimeout)
		return context.WithValue(ctx, abortDialKey{}, op), cancel
	case "Signal", "Delete":
		return context.WithTimeout(context.WithoutCancel(op), winrmCleanupTimeout)
	}
	return context.WithCancel(op)
}

func (t *winrmTransport) closeIdle() { t.base.CloseIdleConnections() }

// Transport implements winrm.Transporter; the transport is configured
// when it is made.
func (t *winrmTransport) Transport(*winrm.Endpoint) error { return nil }

// errUnauthorized is an HTTP 401 answer: bad credentials, an account
// without WinRM rights, or a host that refuses unencrypted traffic.
var errUnauthorized = errors.New("the host answered 401 Unauthorized")

// winrmFault is a WS-Management fault or another HTTP error.
type winrmFault struct {
	status  int
	subcode string
	reason  string
}

func (f *winrmFault) Error() string {
	msg := fmt.Sprintf("WS-Management fault (HTTP %d)", f.status)
	if f.subcode != "" {
		msg += " " + f.subcode
	}
	if f.reason != "" {
		msg += ": " + f.reason
	}
	// The library polls again on an error that says OperationTimeout.
	if f.subcode == "w:TimedOut" && !strings.Contains(msg, "OperationTimeout") {
		msg += " (OperationTimeout)"
	}
	return msg
}

// Post implements winrm.Transporter: one SOAP request with the current
// operation's context.
func (t *winrmTransport) Post(_ *winrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	ctx, cancel := t.requestContext(body)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	// Both schemes start from a Basic header: sent as is for "basic",
	// turned into an NTLM handshake by the negotiator for "ntlm".
	req.SetBasicAuth(t.user, t.password)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", errUnauthorized
	case resp.StatusCode == http.StatusOK && strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml"):
		return string(answer), nil
	case resp.StatusCode == http.StatusOK:
		return "", fmt.Errorf("the host answered with %q instead of a SOAP message", resp.Header.Get("Content-Type"))
	}
	return "", parseFault(resp.StatusCode, answer)
}

func parseFault(status int, body []byte) error {
	var env struct {
		Subcode string `xml:"Body>Fault>Code>Subcode>Value"`
		Reason  string `xml:"Body>Fault>Reason>Text"`
		Message string `xml:"Body>Fault>Detail>WSManFault>Message"`
	}
	f := &winrmFault{status: status}
	if err := xml.Unmarshal(body, &env); err == nil {
		f.subcode = strings.TrimSpace(env.Subcode)
		f.reason = strings.TrimSpace(env.Reason)
		if msg := strings.TrimSpace(env.Message); msg != "" && msg != f.reason {
			f.reason = strings.TrimSpace(f.reason + " " + msg)
		}
	}
	if f.subcode == "" && f.reason == "" {
		f.reason = http.StatusText(status)
	}
	return f
}

// opError turns what went wrong during an operation into a clear error
// naming the host.
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
	)
	switch {
	case ctxEnded(ctx):
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, ErrCommandTimeout):
			return fmt.Errorf("%s: %w after %s", prefix, ErrCommandTimeout, c.cfg.CommandTimeout)
		case errors.Is(cause, errConnectTimeout):
			return fmt.Errorf("%s: timed out after %s: %w", prefix, c.cfg.ConnectTimeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
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
	c.tr.closeIdle()
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
func (c *winrmConn) Run(ctx context.Context, s firewall.Script) (Result, error) {
	if s.Shell != "powershell" {
		return Result{}, fmt.Errorf("winrm to %s: running a script: WinRM runs powershell scripts, not %q", c.name, s.Shell)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Result{}, fmt.Errorf("winrm to %s: running a script: the connection is closed", c.name)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.CommandTimeout, ErrCommandTimeout)
	defer cancel()

	lines, file, err := winrmCommandLines(winrmScript(s))
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
	c.tr.setContext(ctx)
	cmd, err := c.shell.Execute(line)
	var fault *winrmFault
	if errors.As(err, &fault) && fault.subcode == "w:InvalidSelectors" {
		// The host no longer knows the shell (WinRM restarted, or the
		// shell idled out): the command did not start. Open a new shell
		// and try once more.
		shell, serr := c.client.CreateShell()
		if serr != nil {
			return Result{}, fmt.Errorf("opening a new remote shell: %w", serr)
		}
		c.shell = shell
		cmd, err = c.shell.Execute(line)
	}
	if err != nil {
		return Result{}, err
	}
	// If ctx ends from here on, the library's first Receive fails at once
	// and the command is terminated below.
	var stdout, stderr bytes.Buffer
	var outErr, errErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, outErr = io.Copy(&stdout, cmd.Stdout) }()
	go func() { defer wg.Done(); _, errErr = io.Copy(&stderr, cmd.Stderr) }()
	cmd.Wait()
	wg.Wait()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ExitCode()}

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

// winrmScript is the body with $PortwardenStdin in front and the end
// marker behind.
func winrmScript(s firewall.Script) string {
	var b strings.Builder
	if len(s.Stdin) > 0 {
		b.WriteString("$PortwardenStdin=[Convert]::FromBase64String('" + base64.StdEncoding.EncodeToString(s.Stdin) + "')\n")
	}
	b.WriteString(s.Body)
	if !strings.HasSuffix(s.Body, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("'" + WinRMEndMarker + "'\n")
	return b.String()
}

// encodeCommand makes the command line that runs script.
func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return powershellPrefix + base64.StdEncoding.EncodeToString(b)
}

// winrmCommandLines returns the command lines that run script: just one
// if it fits, else the staging commands and the one that runs the staged
// script, with the name of the staging file.
func winrmCommandLines(script string) ([]string, string, error) {
	if line := encodeCommand(script); len(line) <= MaxWinRMCommandLine {
		return []string{line}, "", nil
	}
	rnd := make([]byte, 8)
	if _, err := rand.Read(rnd); err != nil {
		return nil, "", err
	}
	file := "portwarden-" + hex.EncodeToString(rnd) + ".b64"
	payload := base64.StdEncoding.EncodeToString([]byte(script))
	chunkCmd := func(first bool, chunk string) string {
		verb := "Add-Content"
		if first {
			verb = "Set-Content"
		}
		return "$ProgressPreference='SilentlyContinue';" + verb + " -LiteralPath (Join-Path $env:TEMP '" + file + "') -Value '" + chunk + "'"
	}
	// The largest chunk whose command fits: every script character costs
	// 8/3 command-line characters.
	room := (MaxWinRMCommandLine-len(powershellPrefix))*3/8 - len(chunkCmd(true, ""))
	room -= room % 4
	var lines []string
	for i := 0; i < len(payload); i += room {
		line := encodeCommand(chunkCmd(i == 0, payload[i:min(len(payload), i+room)]))
		if len(line) > MaxWinRMCommandLine {
			return nil, "", fmt.Errorf("staging command of %d characters exceeds cmd.exe's limit", len(line))
		}
		lines = append(lines, line)
	}
	run := "$ErrorActionPreference='Stop';$ProgressPreference='SilentlyContinue';$f=Join-Path $env:TEMP '" + file + "';" +
		"try{$b=[Convert]::FromBase64String((Get-Content -LiteralPath $f -Raw))}finally{Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue};" +
		"if($b.Length -ne " + strconv.Itoa(len(script)) + "){throw 'portwarden: the staged script arrived incomplete'};" +
		"& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString($b)))"
	lines = append(lines, encodeCommand(run))
	return lines, file, nil
}

// cutEndMarker removes the end marker line, which must be the last line
// of stdout.
func cutEndMarker(stdout []byte) ([]byte, bool) {
	trimmed := bytes.TrimRight(stdout, "\r\n \t")
	if !bytes.HasSuffix(trimmed, []byte(WinRMEndMarker)) {
		return stdout, false
	}
	start := len(trimmed) - len(WinRMEndMarker)
	if start > 0 && trimmed[start-1] != '\n' {
		return stdout, false
	}
	return stdout[:start], true
}

const clixmlMarker = "#< CLIXML"

var clixmlEscape = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// cleanCLIXML turns the CLIXML that powershell.exe writes to a
// redirected stderr into text: progress records are dropped (they are no
// errors), error records become their message, warnings, verbose and
// debug records their message with a prefix. Anything that is not CLIXML
// is kept, and CLIXML that does not parse is kept as it is.
func cleanCLIXML(stderr []byte) []byte {
	if !bytes.Contains(stderr, []byte(clixmlMarker)) {
		return stderr
	}
	var out bytes.Buffer
	rest := stderr
	for {
		i := bytes.Index(rest, []byte(clixmlMarker))
		if i < 0 {
			out.Write(rest)
			return out.Bytes()
		}
		out.Write(rest[:i])
		rest = bytes.TrimLeft(rest[i+len(clixmlMarker):], "\r\n")
		end := bytes.Index(rest, []byte("</Objs>"))
		if end < 0 {
			out.Write([]byte(clixmlMarker + "\r\n"))
			out.Write(rest)
			return out.Bytes()
		}
		doc := rest[:end+len("</Objs>")]
		rest = bytes.TrimLeft(rest[end+len("</Objs>"):], "\r\n")
		text, ok := clixmlText(doc)
		if !ok {
			out.Write([]byte(clixmlMarker + "\r\n"))
			out.Write(doc)
			continue
		}
		out.WriteString(text)
	}
}

func clixmlText(doc []byte) (string, bool) {
	var objs struct {
		S []struct {
			Kind string `xml:"S,attr"`
			Text string `xml:",chardata"`
		} `xml:"S"`
	}
	if err := xml.Unmarshal(doc, &objs); err != nil {
		return "", false
	}
	var b strings.Builder
	for _, s := range objs.S {
		text := decodeCLIXMLString(s.Text)
		switch s.Kind {
		case "Error":
			b.WriteString(text)
		case "Warning":
			b.WriteString("WARNING: " + text)
		case "Verbose":
			b.WriteString("VERBOSE: " + text)
		case "Debug":
			b.WriteString("DEBUG: " + text)
		case "Information":
			b.WriteString(text)
		}
	}
	return b.String(), true
}

// decodeCLIXMLString undoes CLIXML's _xHHHH_ escapes (line breaks and
// other control characters, UTF-16 surrogates).
func decodeCLIXMLString(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	last := 0
	for _, m := range clixmlEscape.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			flush()
			b.WriteString(s[last:m[0]])
		}
		v, _ := strconv.ParseUint(s[m[2]:m[3]], 16, 16)
		units = append(units, uint16(v))
		last = m[1]
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}
