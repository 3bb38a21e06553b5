package wsman

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Interpreter stands in for powershell.exe on the simulated host. Run gets
// the script text (decoded from -EncodedCommand, taken from -Command, or
// read from stdin for "-Command -") and returns what PowerShell would
// write to stdout and stderr and its exit code. ctx ends when the client
// signals the command (terminate, Ctrl+C), deletes its shell, or the server
// closes; Run should return promptly then.
//
// Implementations: the Windows Defender Firewall model in lab/winfw.
// InterpreterFunc adapts a function.
type Interpreter interface {
	Run(ctx context.Context, script string) (stdout, stderr string, exitCode int)
}

// InterpreterFunc adapts an ordinary function to Interpreter.
type InterpreterFunc func(ctx context.Context, script string) (stdout, stderr string, exitCode int)

// Run calls f.
func (f InterpreterFunc) Run(ctx context.Context, script string) (string, string, int) {
	return f(ctx, script)
}

// Defaults for Config fields left zero.
const (
	// DefaultMaxShellsPerUser is WinRM's MaxShellsPerUser on Windows Server
	// 2008 R2 (later versions default to 30). A small number makes leaked
	// shells show up quickly in the lab.
	DefaultMaxShellsPerUser = 5
	// DefaultMaxEnvelopeSizeKB is WinRM's MaxEnvelopeSizekb.
	DefaultMaxEnvelopeSizeKB = 500
	// DefaultComputerName is the simulated host's NetBIOS name.
	DefaultComputerName = "WINHOST"
)

// Config configures a simulated WinRM service.
type Config struct {
	// Addr is where ListenAndServe listens; default ":5985", or ":5986"
	// with TLS.
	Addr string
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and key.
	// Both set: HTTPS, like a WinRM HTTPS listener. Both empty: plain HTTP.
	TLSCertFile, TLSKeyFile string
	// ComputerName is the host's NetBIOS name: the NTLM target and the
	// Machine of faults. Default DefaultComputerName.
	ComputerName string
	// Users maps local account names to passwords. Names match
	// case-insensitively and may carry the host's name or "." as domain
	// ("WINHOST\Administrator", ".\Administrator"); passwords are
	// case-sensitive.
	Users map[string]string
	// AllowBasic and AllowNTLM enable the authentication schemes, as
	// winrm/config/service/auth's Basic and Negotiate do. At least one of
	// them or Kerberos is required.
	AllowBasic, AllowNTLM bool
	// KerberosKeytab, when set, makes Negotiate accept Kerberos (SPNEGO
	// carrying an AP-REQ, kerberos.go): the keytab holds the host's
	// HTTP/<name> key. KerberosPrincipals are the domain accounts
	// ("user@REALM") that may use WinRM, as the members of a real host's
	// Administrators group may. Without AllowNTLM the host is one of a
	// domain that disabled NTLM: Negotiate takes Kerberos only.
	KerberosKeytab     string
	KerberosPrincipals []string
	// AllowUnencrypted is winrm/config/service's AllowUnencrypted. The
	// simulation never encrypts messages, so on plain HTTP every
	// authenticated request is refused with 401 unless it is set, as a
	// real host refuses masterzen/winrm. It has no effect on HTTPS.
	AllowUnencrypted bool
	// MaxCommandLine is cmd.exe's limit on a command line in characters
	// (UTF-16 code units); longer lines fail with "The command line is too
	// long." and exit code 1. Default DefaultMaxCommandLine (8191).
	MaxCommandLine int
	// MaxShellsPerUser is the number of open shells one user may have;
	// one more is refused with the w:QuotaLimit fault. Default
	// DefaultMaxShellsPerUser.
	MaxShellsPerUser int
	// MaxEnvelopeSizeKB limits request size; larger requests get a
	// w:EncodingLimit fault. Default DefaultMaxEnvelopeSizeKB.
	MaxEnvelopeSizeKB int
	// EmitCLIXML makes powershell.exe commands write stderr as CLIXML,
	// like Windows PowerShell 5.1 over WinRS: a progress record preamble,
	// then each line of the Interpreter's stderr as an error record
	// (stderr that already starts with "#< CLIXML" is left alone).
	EmitCLIXML bool
	// Interpreter runs the PowerShell scripts. Required.
	Interpreter Interpreter
	// Logf, if set, receives one line per notable event. Passwords and
	// script text are never logged.
	Logf func(format string, args ...any)
}

// Stats counts what the server has done, for tests.
type Stats struct {
	Connections     int // TCP connections accepted
	Requests        int // HTTP requests, including 401 round trips
	AuthFailures    int // requests refused: bad credentials, disabled scheme, unencrypted
	OpenShells      int // shells created and not yet deleted
	ShellsCreated   int
	RunningCommands int // commands whose program has not exited
	CommandsStarted int // Command requests accepted
	Receives        int // Receive requests answered, with output or not
	ReceiveTimeouts int // Receive requests answered with w:TimedOut
	Faults          int // SOAP faults sent
	Dropped         int // connections closed by DropNext
}

// Server is a simulated WinRM service. It is safe for concurrent use.
type Server struct {
	cfg       Config
	users     map[string]account // by canonical name
	tlsConfig *tls.Config
	http      *http.Server
	krb       *kerberosAcceptor // nil without Kerberos

	baseCtx context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup // command goroutines

	mu     sync.Mutex
	shells map[string]*shell
	stats  Stats
	drop   []string // pending DropNext actions
	closed bool
}

type account struct {
	key      string // canonical name: lower case, no domain
	name     string // as configured, for display
	password string
}

// NewServer checks cfg and returns a server that is not yet listening.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Interpreter == nil {
		return nil, errors.New("configuring simulated WinRM: an Interpreter is required")
	}
	if !cfg.AllowBasic && !cfg.AllowNTLM && cfg.KerberosKeytab == "" {
		return nil, errors.New("configuring simulated WinRM: enable Basic, NTLM or Kerberos authentication")
	}
	if len(cfg.Users) == 0 && cfg.KerberosKeytab == "" {
		return nil, errors.New("configuring simulated WinRM: no users")
	}
	if cfg.ComputerName == "" {
		cfg.ComputerName = DefaultComputerName
	}
	if cfg.MaxCommandLine <= 0 {
		cfg.MaxCommandLine = DefaultMaxCommandLine
	}
	if cfg.MaxShellsPerUser <= 0 {
		cfg.MaxShellsPerUser = DefaultMaxShellsPerUser
	}
	if cfg.MaxEnvelopeSizeKB <= 0 {
		cfg.MaxEnvelopeSizeKB = DefaultMaxEnvelopeSizeKB
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Server{cfg: cfg, users: make(map[string]account), shells: make(map[string]*shell)}
	if cfg.KerberosKeytab != "" {
		krb, err := newKerberosAcceptor(cfg.KerberosKeytab, cfg.KerberosPrincipals)
		if err != nil {
			return nil, fmt.Errorf("configuring simulated WinRM: %w", err)
		}
		s.krb = krb
	}
	for name, password := range cfg.Users {
		key, ok := s.canonicalUser(name)
		if !ok || key == "" {
			return nil, fmt.Errorf("configuring simulated WinRM: user %q: domain must be %q or \".\"", name, cfg.ComputerName)
		}
		if _, dup := s.users[key]; dup {
			return nil, fmt.Errorf("configuring simulated WinRM: user %q is configured twice", name)
		}
		s.users[key] = account{key: key, name: name, password: password}
	}
	switch {
	case cfg.TLSCertFile != "" && cfg.TLSKeyFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("configuring simulated WinRM: loading TLS certificate: %w", err)
		}
		// HTTP/1.1 only, as HTTP.sys serves WinRM; DropNext needs it too.
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	case cfg.TLSCertFile != "" || cfg.TLSKeyFile != "":
		return nil, errors.New("configuring simulated WinRM: TLSCertFile and TLSKeyFile go together")
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnContext:       withConnAuth,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.count(func(st *Stats) { st.Connections++ })
			}
		},
		ErrorLog: log.New(logWriter(cfg.Logf), "wsman "+cfg.ComputerName+": ", 0),
	}
	return s, nil
}

// logWriter sends http.Server's own messages (TLS handshake failures and
// the like) to Config.Logf.
type logWriter func(format string, args ...any)

func (f logWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Serve accepts connections on ln (wrapping it in TLS when configured)
// until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on Config.Addr and serves until Close.
func (s *Server) ListenAndServe() error {
	addr := s.cfg.Addr
	if addr == "" {
		addr = ":5985"
		if s.tlsConfig != nil {
			addr = ":5986"
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for simulated WinRM on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Close stops listening, drops every connection, ends every command
// (cancelling the Interpreter's context) and waits for them to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	shells := s.shells
	s.shells = make(map[string]*shell)
	s.stats.OpenShells = 0
	s.mu.Unlock()
	err := s.http.Close()
	s.cancel()
	for _, sh := range shells {
		sh.closeAll()
	}
	s.running.Wait()
	return err
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// DropNext makes the server close the TCP connection of the next request
// for the given action ("Create", "Command", "Send", "Receive", "Signal",
// "Delete"; "" for any), after reading the request and without answering
// it, as if the network had failed. Each call arms one drop.
func (s *Server) DropNext(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = append(s.drop, action)
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	s.cfg.Logf("wsman %s: "+format, append([]any{s.cfg.ComputerName}, args...)...)
}

// takeDrop reports whether a request for action should be dropped.
func (s *Server) takeDrop(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	short := action[strings.LastIndexByte(action, '/')+1:]
	for i, a := range s.drop {
		if a == "" || strings.EqualFold(a, short) {
			s.drop = append(s.drop[:i], s.drop[i+1:]...)
			s.stats.Dropped++
			return true
		}
	}
	return false
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Requests++ })
	w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
	limit := s.cfg.MaxEnvelopeSizeKB * 1024
	// Read the whole body before answering, even a 401, so that the
	// connection stays usable: NTLM authenticates the connection.
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return
	}
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	user, res := s.authenticate(w, r)
	switch res {
	case authChallenged:
		return
	case authRefused:
		s.count(func(st *Stats) { st.AuthFailures++ })
		return
	}
	if r.TLS == nil && !s.cfg.AllowUnencrypted {
		// A real host answers unencrypted messages on HTTP with 401 when
		// AllowUnencrypted is false, even after authentication succeeds.
		s.logf("refusing unencrypted request from %s: AllowUnencrypted is false", user.name)
		s.count(func(st *Stats) { st.AuthFailures++ })
		s.unauthorized(w)
		return
	}
	if len(body) > limit {
		s.writeFault(w, "", faultEncodingLimit(len(body), limit))
		return
	}
	env, err := parseEnvelope(body)
	if err != nil {
		s.writeFault(w, "", faultInvalidXML(""))
		return
	}
	if s.takeDrop(env.Header.Action) {
		s.logf("dropping the connection of a %s request", env.Header.Action)
		dropConnection(w)
		return
	}
	resp, f := s.dispatch(r.Context(), user, clientIP(r), env)
	if f != nil {
		s.writeFault(w, env.Header.MessageID, f)
		return
	}
	writeSOAP(w, http.StatusOK, resp)
}

func (s *Server) writeFault(w http.ResponseWriter, relatesTo string, f *soapFault) {
	s.count(func(st *Stats) { st.Faults++ })
	if f.subcode != "w:TimedOut" {
		s.logf("fault %s", f)
	}
	writeSOAP(w, http.StatusInternalServerError, f.envelope(relatesTo, s.cfg.ComputerName))
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(body)
}

// dropConnection closes the client's TCP connection without a response
// (and without a TLS close_notify), so the client sees the stream end.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	conn.Close()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// dispatch performs one authenticated WS-Management operation.
func (s *Server) dispatch(ctx context.Context, user account, ip string, env *envelope) ([]byte, *soapFault) {
	action := env.Header.Action
	switch action {
	case actionCreate, actionDelete, actionCommand, actionSend, actionReceive, actionSignal:
	default:
		return nil, faultActionNotSupported(action)
	}
	if env.Header.ResourceURI != resourceCmd {
		return nil, faultResourceNotFound(env.Header.ResourceURI)
	}
	if action == actionCreate {
		return s.createShell(user, ip, env)
	}
	id := env.selector("ShellId")
	sh := s.lookupShell(user, id)
	if sh == nil {
		return nil, faultShellNotFound(id)
	}
	switch action {
	case actionDelete:
		return s.deleteShell(sh, env)
	case actionCommand:
		return s.command(sh, env)
	case actionSend:
		return s.send(sh, env)
	case actionReceive:
		return s.receive(ctx, sh, env)
	default:
		return s.signal(sh, env)
	}
}
