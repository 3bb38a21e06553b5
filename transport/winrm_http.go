package transport

// The HTTP layer under the winrm library: contexts per request, NTLM or
// Basic, TLS, bounded answers, WS-Management faults.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"sync/atomic"
	"time"

	"github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// winrmTransport is the HTTP layer handed to the winrm library. Every
// request carries the context of the operation under way (setContext),
// since the library's calls take none.
type winrmTransport struct {
	url            string
	user, password string
	ntlm           bool
	krb            *kerberosAuth // auth "kerberos"
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
	if cfg.Auth == "kerberos" {
		krb, err := newKerberosAuth(cfg)
		if err != nil {
			return nil, fmt.Errorf("winrm to %s: %w", cfg.Address, err)
		}
		t.krb = krb
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
		if cfg.TLSServerName != "" {
			tc.ServerName = cfg.TLSServerName
		}
		if cfg.CertSHA256 != "" {
			pin, err := parseCertPin(cfg.CertSHA256)
			if err != nil {
				return nil, fmt.Errorf("winrm to %s: %w", cfg.Address, err)
			}
			pinCertificate(tc, pin)
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
		if ctx.Err() != nil {
			// The operation ended while the dial completed (the abort
			// above runs in a goroutine of its own and may come late).
			conn.Close()
			return nil, context.Cause(ctx)
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
	switch {
	case t.ntlm:
		rt = ntlmssp.Negotiator{RoundTripper: noBasicAuth{t.base}}
	case t.krb != nil:
		rt = noBasicAuth{t.base}
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

// destroy closes the connections and forgets the Kerberos tickets.
func (t *winrmTransport) destroy() {
	t.closeIdle()
	if t.krb != nil {
		t.krb.destroy()
	}
}

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
	// A request that changes the host is not sent once the operation has
	// ended (it is let finish only once sent): without this check one
	// made after a cancel could still go out on a kept or fast connection.
	if op, ok := ctx.Value(abortDialKey{}).(context.Context); ok && op.Err() != nil {
		return "", context.Cause(op)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if t.krb != nil {
		if err := t.krb.setHeader(req); err != nil {
			return "", err
		}
	} else {
		// Both schemes start from a Basic header: sent as is for "basic",
		// turned into an NTLM handshake by the negotiator for "ntlm".
		req.SetBasicAuth(t.user, t.password)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	// Each answer is one envelope, which the host keeps under the
	// MaxEnvelopeSize the client asks for (150 KB); a far larger one is
	// refused rather than read whole.
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxWinRMAnswer+1))
	if err != nil {
		return "", err
	}
	if len(answer) > maxWinRMAnswer {
		return "", fmt.Errorf("%w: one WS-Management answer exceeded %d MiB", ErrOutputTooLarge, maxWinRMAnswer>>20)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && t.krb != nil && !offersNegotiate(resp.Header):
		return "", errKerberosNotOffered
	case resp.StatusCode == http.StatusUnauthorized && t.krb != nil:
		return "", errKerberosRefused
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
