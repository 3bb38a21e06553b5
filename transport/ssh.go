package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/portwarden/portwarden/internal/filelock"
)

// Defaults of SSHConfig.
const (
	DefaultSSHPort        = 22
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 60 * time.Second
)

// MaxSSHCommand bounds the command line sent to sshd: Linux refuses a
// single argument longer than 128 KiB, and the script body travels as one.
// Data belongs in Script.Stdin, which has no such limit.
const MaxSSHCommand = 120 << 10

// HostKeyErrorKind says why a host key was refused.
type HostKeyErrorKind int

const (
	// HostKeyUnknown: known_hosts has no key for the host.
	HostKeyUnknown HostKeyErrorKind = iota + 1
	// HostKeyChanged: known_hosts has other keys for the host. It may be a
	// man-in-the-middle attack or a reinstalled host; it is always refused.
	HostKeyChanged
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked
)

func (k HostKeyErrorKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	}
	return "HostKeyErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// HostKeyError is a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Kind HostKeyErrorKind
	// Host is the host as known_hosts names it: "198.18.1.10", or
	// "[host]:2222" for another port.
	Host       string
	Port       int
	KnownHosts string
	// KeyType and Fingerprint (SHA256:...) describe the key the host
	// presented.
	KeyType     string
	Fingerprint string
	// Known lists the keys known_hosts has for the host, as
	// "FILE:LINE TYPE FINGERPRINT" (changed and revoked keys).
	Known []string
}

func (e *HostKeyError) Error() string {
	switch e.Kind {
	case HostKeyUnknown:
		return fmt.Sprintf("host key of %s is not known: it presented %s %s, and %s has no key for it; "+
			"check the fingerprint, then trust it with \"ssh-keyscan -p %d -t %s %s >> %s\", or run with --accept-new-host-keys",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, e.Port, strings.TrimPrefix(e.KeyType, "ssh-"), sshHostOnly(e.Host), e.KnownHosts)
	case HostKeyChanged:
		return fmt.Sprintf("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it presented %s %s, but %s has %s. "+
			"Someone could be intercepting the connection (man-in-the-middle attack), or the host was reinstalled. "+
			"portwarden refuses to connect; if the change is expected, remove the old key with \"ssh-keygen -R %s -f %s\" and trust the new one",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, strings.Join(e.Known, ", "), e.Host, e.KnownHosts)
	case HostKeyRevoked:
		return fmt.Sprintf("host key of %s is revoked: it presented %s %s, marked @revoked in %s",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
	}
	return fmt.Sprintf("host key of %s refused (%s)", e.Host, e.Kind)
}

func sshHostOnly(knownHost string) string {
	if h, _, err := net.SplitHostPort(knownHost); err == nil {
		return h
	}
	return knownHost
}

// AuthError is a login that the host refused with every method offered.
type AuthError struct {
	User, Host string
	// Methods are the methods portwarden offered ("publickey", "password",
	// "keyboard-interactive").
	Methods []string
	// Offered are the public keys offered, as ssh -v names them: "key
	// file PATH TYPE SHA256:...", "agent key COMMENT TYPE SHA256:...".
	Offered []string
	Err     error
}

func (e *AuthError) Error() string {
	keys := ""
	if len(e.Offered) > 0 {
		keys = "; keys offered: " + strings.Join(e.Offered, ", ")
	}
	return fmt.Sprintf("authenticating as %s to %s (offered %s%s): %v", e.User, e.Host, strings.Join(e.Methods, ", "), keys, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// SudoError is a script that sudo refused to run: a wrong password, a user
// not in sudoers, or sudo missing. Msg is what sudo printed.
type SudoError struct {
	User, Host string
	ExitCode   int
	Msg        string
}

func (e *SudoError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("sudo as %s on %s refused the script (exit status %d): %s", e.User, e.Host, e.ExitCode, msg)
}

// ErrCommandTimeout is wrapped by Run's error when CommandTimeout passes.
var ErrCommandTimeout = errors.New("command timed out")

// sshConn is one SSH connection, reused for every Run.
type sshConn struct {
	cfg    SSHConfig // with defaults
	name   string    // "user@host:port", for errors
	client *ssh.Client
	jump   *sshConn // the bastion, closed with this connection
	// releaseJump, when set, hands the bastion back to its pool instead
	// of closing it.
	releaseJump func()
	local       netip.Addr

	closeOnce sync.Once
	closeErr  error
}

// DialSSH opens one SSH connection to a host; every Run on it opens one
// session. The host key is checked against known_hosts (see SSHConfig);
// an unknown or changed key is a *HostKeyError, a refused login an
// *AuthError. ConnectTimeout bounds the TCP connection and the SSH
// handshake together; ctx can end them too. With ProxyJump the bastion is
// reached first (itself possibly through its own ProxyJump) and the host
// through a direct-tcpip channel of the bastion's connection.
//
// A connection attempt that failed for a transient reason (see
// transientDialError) is retried with jittered backoff, a few times.
func DialSSH(ctx context.Context, cfg SSHConfig) (Conn, error) {
	c, err := dialRetry(ctx, func() (*sshConn, error) { return dialSSH(ctx, cfg) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

func sshDefaults(cfg SSHConfig) (SSHConfig, error) {
	if cfg.Address == "" {
		return cfg, errors.New("ssh: no address")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultSSHPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("ssh to %s: bad port %d", cfg.Address, cfg.Port)
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.KnownHostsPath == "" && !cfg.InsecureIgnoreHostKey {
		home, err := os.UserHomeDir()
		if err != nil {
			return cfg, fmt.Errorf("ssh to %s: finding ~/.ssh/known_hosts: %w", cfg.Address, err)
		}
		cfg.KnownHostsPath = filepath.Join(home, ".ssh", "known_hosts")
	}
	if strings.ContainsAny(cfg.SudoPassword, "\n\r") {
		return cfg, fmt.Errorf("ssh to %s: the sudo password contains a line break", cfg.Address)
	}
	return cfg, nil
}

func dialSSH(ctx context.Context, cfg SSHConfig) (*sshConn, error) {
	cfg, err := sshDefaults(cfg)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	c := &sshConn{cfg: cfg, name: cfg.User + "@" + addr}

	auth, methods, offered, cleanup, err := sshAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	defer cleanup()
	hostKey, algos, err := hostKeyCheck(cfg, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	ccfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
	}

	// The connect timeout covers reaching the host and the handshake.
	tctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	if cfg.ProxyJump != nil {
		if cfg.Bastions != nil {
			c.jump, c.releaseJump, err = cfg.Bastions.get(tctx, *cfg.ProxyJump)
		} else {
			c.jump, err = dialSSH(tctx, *cfg.ProxyJump)
		}
		if err != nil {
			return nil, fmt.Errorf("connecting to %s through its proxy jump: %w", c.name, err)
		}
		conn, err = c.jump.client.DialContext(tctx, "tcp", addr)
		if err != nil {
			c.dropJump()
			return nil, fmt.Errorf("connecting to %s through %s: %w", c.name, c.jump.name, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
		}
	} else {
		var d net.Dialer
		conn, err = d.DialContext(tctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", c.name, sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err))
		}
	}

	// Deadlines do not work on a channel of the bastion, so the handshake
	// is bounded by closing the connection.
	stop := context.AfterFunc(tctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, ccfg)
	if !stop() {
		if err == nil {
			sc.Close()
			err = errors.New("handshake interrupted")
		}
		err = sshConnectErr(ctx, tctx, cfg.ConnectTimeout, err)
	}
	if err != nil {
		conn.Close()
		c.dropJump()
		var hke *HostKeyError
		if errors.As(err, &hke) {
			return nil, fmt.Errorf("connecting to %s: %w", c.name, hke)
		}
		if sshAuthFailure(err) {
			return nil, &AuthError{User: cfg.User, Host: addr, Methods: methods, Offered: offered(), Err: err}
		}
		return nil, fmt.Errorf("connecting to %s: %w", c.name, err)
	}
	c.client = ssh.NewClient(sc, chans, reqs)

	if c.jump == nil {
		c.local = sshAddrOf(conn.LocalAddr())
	} else {
		// The host sees the bastion, not us: ask it who connected.
		c.local = c.remoteView(tctx)
		if !c.local.IsValid() {
			c.local = c.jump.local
		}
	}
	return c, nil
}

// connectErr explains an error of a connection attempt that ctx or the
// connect timeout ended.
func sshConnectErr(parent, tctx context.Context, timeout time.Duration, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("%w (%v)", parent.Err(), err)
	}
	var ne net.Error
	if errors.Is(tctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

func sshAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "too many authentication")
}

func sshAddrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// remoteView returns the client address the host saw, from
// $SSH_CONNECTION ("client-ip client-port server-ip server-port").
func (c *sshConn) remoteView(ctx context.Context) netip.Addr {
	res, err := c.runCommand(ctx, "echo \"$SSH_CONNECTION\"", nil, c.cfg.ConnectTimeout, nil)
	if err != nil || res.ExitCode != 0 {
		return netip.Addr{}
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) == 0 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(f[0])
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// LocalAddr is the controller's address as the host sees it: the local
// address of the TCP connection, or through a ProxyJump the address the
// host saw the connection come from (the bastion's), read from
// $SSH_CONNECTION when connecting.
func (c *sshConn) LocalAddr() netip.Addr { return c.local }

// Close closes the connection and the bastion's.
func (c *sshConn) Close() error {
	c.closeOnce.Do(func() {
		if c.client != nil {
			c.closeErr = c.client.Close()
		}
		c.dropJump()
		if errors.Is(c.closeErr, net.ErrClosed) {
			c.closeErr = nil
		}
	})
	return c.closeErr
}

// sshAuth builds the auth methods: public keys (the key file with its
// certificate, the agent's keys, then the identity files), then password
// and keyboard-interactive with the password. offered describes each key,
// for the error when the host refuses them all. cleanup closes the agent
// connection once the handshake is over.
func sshAuth(cfg SSHConfig) (auth []ssh.AuthMethod, methods []string, offered func() []string, cleanup func(), err error) {
	keys, cleanup, err := sshKeys(cfg)
	if err != nil {
		return nil, nil, nil, cleanup, err
	}
	offered = keys.describe
	if keys.any() {
		auth = append(auth, ssh.PublicKeysCallback(keys.signers))
		methods = append(methods, "publickey")
	}
	if cfg.Password != "" {
		pw := cfg.Password
		auth = append(auth, ssh.Password(pw), ssh.KeyboardInteractive(passwordChallenge(pw)))
		methods = append(methods, "password", "keyboard-interactive")
	}
	if len(auth) == 0 {
		return nil, nil, nil, cleanup, errors.New("no authentication method: set a private key, the agent or a password")
	}
	return auth, methods, offered, cleanup, nil
}

// passwordChallenge answers keyboard-interactive prompts that do not echo
// (password prompts) with the password. It gives up after a few rounds so
// that a server asking again and again gets no more tries than password
// authentication would.
func passwordChallenge(pw string) ssh.KeyboardInteractiveChallenge {
	rounds := 0
	return func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		if len(questions) == 0 {
			return answers, nil
		}
		rounds++
		if rounds > 3 {
			return nil, errors.New("keyboard-interactive: password refused")
		}
		for i := range questions {
			if !echos[i] {
				answers[i] = pw
			}
		}
		return answers, nil
	}
}

func loadPrivateKey(path, passphrase string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("private key %s is encrypted: give its passphrase", path)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("decrypting private key %s: wrong passphrase", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key %s: %w", path, err)
	}
	return s, nil
}

// hostKeyCheck returns the host key callback for cfg and the host key
// algorithms to ask for: those of the keys known_hosts has for the host, so
// that a host with several keys presents one we can check.
func hostKeyCheck(cfg SSHConfig, addr string) (ssh.HostKeyCallback, []string, error) {
	if cfg.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	v := &knownHostsVerifier{path: cfg.KnownHostsPath, acceptNew: cfg.AcceptNewHostKeys, port: cfg.Port}
	cb, err := v.load()
	if err != nil {
		return nil, nil, err
	}
	return v.check, knownAlgorithms(cb, addr, caLines(cfg.KnownHostsPath)), nil
}

// knownAlgorithms lists the host key algorithms to ask for: host
// certificates first when an @cert-authority line covers the host, then
// the types of the plain keys known_hosts has for it.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string, cas map[string]bool) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	add := func(a ...string) {
		for _, s := range a {
			if !sshContains(algos, s) {
				algos = append(algos, s)
			}
		}
	}
	for _, k := range ke.Want {
		if cas[caKey(k.Filename, k.Line)] {
			add(hostCertAlgorithms...)
		}
	}
	for _, k := range ke.Want {
		if cas[caKey(k.Filename, k.Line)] {
			continue
		}
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

func sshContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// knownHostsVerifier checks host keys against one known_hosts file and,
// with acceptNew, records keys of hosts it does not know.
type knownHostsVerifier struct {
	path      string
	acceptNew bool
	port      int
}

// load reads the file; a missing file knows no host.
func (v *knownHostsVerifier) load() (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(v.path)
	if errors.Is(err, os.ErrNotExist) {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading known hosts: %w", err)
	}
	return cb, nil
}

func (v *knownHostsVerifier) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	cb, err := v.load()
	if err != nil {
		return err
	}
	err = v.classify(hostname, key, cb(hostname, remote, key))
	var hke *HostKeyError
	if !v.acceptNew || !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
		return err
	}
	return v.record(hostname, remote, key)
}

func (v *knownHostsVerifier) classify(hostname string, key ssh.PublicKey, err error) error {
	if err == nil {
		return nil
	}
	e := &HostKeyError{
		Host:        knownhosts.Normalize(hostname),
		Port:        v.port,
		KnownHosts:  v.path,
		KeyType:     key.Type(),
		Fingerprint: ssh.FingerprintSHA256(key),
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	cas := caLines(v.path)
	if errors.As(err, &ke) {
		// @cert-authority lines vouch for certificates only: a plain key
		// they do not match is unknown, not changed.
		plain := ke.Want[:0:0]
		for _, k := range ke.Want {
			if !cas[caKey(k.Filename, k.Line)] {
				plain = append(plain, k)
			}
		}
		ke = &knownhosts.KeyError{Want: plain}
	}
	if c, ok := key.(*ssh.Certificate); ok {
		e.KeyType, e.Fingerprint = c.Type(), ssh.FingerprintSHA256(c.Key)
		if err := hostCertErr(c, err, v.path); err != nil {
			return err
		}
	}
	switch {
	case errors.As(err, new(*knownhosts.KeyError)) && len(ke.Want) == 0:
		e.Kind = HostKeyUnknown
	case errors.As(err, new(*knownhosts.KeyError)):
		e.Kind = HostKeyChanged
		for _, k := range ke.Want {
			e.Known = append(e.Known, fmt.Sprintf("%s:%d %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
	case errors.As(err, &re):
		e.Kind = HostKeyRevoked
		e.Known = []string{fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)}
	default:
		return fmt.Errorf("checking the host key of %s: %w", hostname, err)
	}
	return e
}

// knownHostsMu serializes appends within this process; flock serializes
// them with other processes.
var knownHostsMu sync.Mutex

// record appends the key of a new host to known_hosts, unless another
// connection recorded a key for it meanwhile: then that key decides.
func (v *knownHostsVerifier) record(hostname string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(v.path), 0o700); err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	f, err := os.OpenFile(v.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	defer f.Close()
	if err := filelock.Lock(f); err != nil {
		return fmt.Errorf("recording the host key of %s: locking %s: %w", hostname, v.path, err)
	}
	defer filelock.Unlock(f)

	cb, err := v.load()
	if err != nil {
		return err
	}
	if err := v.classify(hostname, key, cb(hostname, remote, key)); err != nil {
		var hke *HostKeyError
		if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
			return err
		}
	} else {
		return nil
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	// Keep the file line-oriented if its last line lacks a newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("recording the host key of %s in %s: %w", hostname, v.path, err)
	}
	return nil
}

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
// pid marker and execs the body's shell, under GNU timeout when the host
// has it, so the host itself stops a script that outlives the command
// timeout even if the controller is gone (timeout runs the script in its
// own process group and signals all of it: TERM, then KILL 2s later).
// Whether timeout exists is asked of the shell (command -v, a builtin), not
// by running it: a process more per script is a cost every host pays on
// every run. Every Linux that Veeam supports ships GNU coreutils' timeout.
func sshWrap(body string, timeout time.Duration) string {
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
	return "[ -n \"${SSH_CONNECTION-}\" ] || SSH_CONNECTION=${1-}\nexport SSH_CONNECTION\n" +
		"printf '" + sshPIDMarker + "%s\\n' \"$$\" >&2\n" +
		"set -- sh -c " + ShellQuote(body) + " " + sshScriptTag + "\n" +
		"if command -v timeout >/dev/null 2>&1; then set -- timeout -s TERM -k 2 " + secs + " \"$@\"; fi\n" +
		"exec \"$@\"\n"
}

// command builds the remote command line and its stdin for a script body
// (already wrapped, see sshWrap).
//
// As root, or as a user without Sudo: sh -c BODY, stdin is the script's.
//
// With Sudo and no SudoPassword: sudo -n -- sh -c BODY (sudo must not need
// a password), stdin is the script's.
//
// With Sudo and a SudoPassword, stdin is the password line followed by the
// script's stdin. A small shell program run as the user reads the password
// line itself, saves the rest of stdin to a private temporary file
// (mktemp, 0600), and pipes the password alone to "sudo -S -p ”". The
// root shell sudo starts takes its stdin from the temporary file, removes
// it, and runs the body. So the script gets exactly its stdin whether sudo
// asks for the password or not (NOPASSWD, cached credentials), and a wrong
// password cannot make sudo read the script's data as more password
// attempts. The password is never in argv.
func (c *sshConn) command(body string, data []byte) (cmd string, stdin []byte, err error) {
	switch {
	case !c.cfg.Sudo:
		cmd, stdin = "sh -c "+ShellQuote(body), data
	case c.cfg.SudoPassword == "":
		cmd, stdin = "sudo -n -- sh -c "+ShellQuote(body)+" portwarden \"$SSH_CONNECTION\"", data
	default:
		inner := "exec <\"$1\" || exit 125\nrm -f -- \"$1\"\nshift\n" + body
		outer := "IFS= read -r pw || exit 125\n" +
			"t=$(mktemp) || exit 125\n" +
			"trap 'rm -f -- \"$t\"' EXIT\n" +
			"cat >\"$t\" || exit 125\n" +
			"printf '%s\\n' \"$pw\" | sudo -S -p '' -- sh -c " + ShellQuote(inner) + " portwarden \"$t\" \"$SSH_CONNECTION\"\n"
		cmd = "sh -c " + ShellQuote(outer)
		stdin = make([]byte, 0, len(c.cfg.SudoPassword)+1+len(data))
		stdin = append(append(append(stdin, c.cfg.SudoPassword...), '\n'), data...)
	}
	if len(cmd) > MaxSSHCommand {
		return "", nil, fmt.Errorf("script body too long for a command line (%d bytes, at most %d): send data through its stdin", len(cmd), MaxSSHCommand)
	}
	return cmd, stdin, nil
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
	cmd, stdin, err := c.command(sshWrap(s.Body, c.cfg.CommandTimeout), s.Stdin)
	if err != nil {
		return Result{}, fmt.Errorf("running script on %s: %w", c.name, err)
	}
	res, err := c.runCommand(ctx, cmd, stdin, c.cfg.CommandTimeout, c.killScript)
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
	_, _ = c.runCommand(ctx, cmd, stdin, c.cfg.ConnectTimeout, nil)
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
func (c *sshConn) runCommand(ctx context.Context, cmd string, stdin []byte, timeout time.Duration, kill func(stderr []byte)) (Result, error) {
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
		s.Stdin = bytes.NewReader(stdin)
		s.Stdout, s.Stderr = budget.writer(&stdout), budget.writer(&stderr)
		done <- s.Run(cmd)
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

// dropJump lets go of the bastion: back to its pool, or closed.
func (c *sshConn) dropJump() {
	switch {
	case c.releaseJump != nil:
		c.releaseJump()
		c.releaseJump = nil
	case c.jump != nil:
		c.jump.Close()
	}
}

// BastionPool shares one SSH connection to each bastion among the hosts
// behind it, for the length of a run: N hosts behind a bastion cost N+1
// handshakes instead of 2N. A bastion connection is closed when the last
// host using it closes. The zero value is ready to use.
type BastionPool struct {
	mu sync.Mutex
	m  map[string]*bastion
}

type bastion struct {
	ready chan struct{} // closed when conn or err is set
	conn  *sshConn
	err   error
	refs  int
}

// bastionKey identifies a bastion connection: the same address and port,
// user and credentials. Secrets are not part of it (they come from the
// same inventory attributes as the rest of the key).
func bastionKey(cfg SSHConfig) string {
	return strings.Join([]string{cfg.User, cfg.Address, strconv.Itoa(cfg.Port), cfg.PrivateKeyPath,
		cfg.KnownHostsPath, strconv.FormatBool(cfg.Agent)}, "\x00")
}

// get returns a connection to the bastion cfg names, dialing it once for
// all concurrent callers, and a release function. A failed dial is not
// kept: the next caller tries again.
func (p *BastionPool) get(ctx context.Context, cfg SSHConfig) (*sshConn, func(), error) {
	key := bastionKey(cfg)
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]*bastion{}
	}
	b := p.m[key]
	if b == nil {
		b = &bastion{ready: make(chan struct{})}
		p.m[key] = b
		p.mu.Unlock()
		b.conn, b.err = dialSSH(ctx, cfg)
		p.mu.Lock()
		if b.err != nil {
			delete(p.m, key)
		}
		close(b.ready)
	}
	p.mu.Unlock()
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	p.mu.Lock()
	if b.refs < 0 { // closed by its last user meanwhile: dial afresh
		p.mu.Unlock()
		return p.get(ctx, cfg)
	}
	b.refs++
	p.mu.Unlock()
	var once sync.Once
	return b.conn, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			b.refs--
			if b.refs == 0 {
				b.refs = -1
				if p.m[key] == b {
					delete(p.m, key)
				}
				b.conn.Close()
			}
		})
	}, nil
}
