package transport

// Kerberos for WinRM (auth = "kerberos"): what masterzen/winrm's
// ClientKerberos does (a gokrb5 v8 client that logs in with the user's
// password, and an SPNEGO "Authorization: Negotiate" header on every
// request), done inside this transport's own HTTP layer instead of the
// library's ClientKerberos, which takes no context, logs in to the KDC
// again for every request, bypasses this transport's TLS settings
// (ca_cert, tls_server_name, cert_sha256) and puts the host's whole answer
// into its errors. Here the client logs in once per process (per
// principal, password and configuration: see kerberosLogin) and fetches
// the host's service ticket when the connection opens, so that a KDC that
// cannot be reached, a wrong password or a wrong SPN are reported at
// once, clearly and without the password; later requests reuse the
// tickets (gokrb5 renews them).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberosAuth is the Kerberos client of one WinRM connection.
type kerberosAuth struct {
	cl        *client.Client
	spn       string
	principal string // user@REALM, for errors
	realm     string
	source    string // where the KDCs come from, for errors
	ccache    string // the credential cache used instead of a password
	// shared is the process's login of this principal with this
	// password and configuration, which cl belongs to (nil with a
	// credential cache: cl is this connection's own).
	shared *kerberosLogin
	// loggingIn is closed when a login that ctx stopped waiting for has
	// ended; destroy waits for it rather than race with it.
	loggingIn chan struct{}
}

// kerberosLogin is one password login (a ticket-granting ticket) that
// every connection of the process with the same principal, password and
// Kerberos configuration shares: a run logs in to the KDC once, not once
// per host. Service tickets are still fetched per host (the client
// caches them). gokrb5's client is safe for concurrent use and renews the
// ticket-granting ticket by itself; a shared login lives as long as the
// process.
type kerberosLogin struct {
	cl *client.Client
	mu sync.Mutex
	ok bool // logged in
	// refused is a refusal of the credentials (wrong password, unknown
	// or disabled account), kept: asking again would only count more
	// failures against the account's lockout threshold.
	refused error
	// attempt is the login under way, if any.
	attempt *loginAttempt
}

type loginAttempt struct {
	done chan struct{}
	err  error // set before done is closed
}

var kerberosLogins = struct {
	sync.Mutex
	m map[string]*kerberosLogin
}{m: map[string]*kerberosLogin{}}

// kerberosLoginCall is gokrb5's AS exchange; tests count the calls.
var kerberosLoginCall = (*client.Client).Login

// sharedLogin returns the process's login for key, made with newClient
// the first time.
func sharedLogin(key string, newClient func() *client.Client) *kerberosLogin {
	kerberosLogins.Lock()
	defer kerberosLogins.Unlock()
	l := kerberosLogins.m[key]
	if l == nil {
		l = &kerberosLogin{cl: newClient()}
		kerberosLogins.m[key] = l
	}
	return l
}

// login logs in once for all its callers: a caller finds the login made,
// waits for the one under way, or starts one; the callers of one attempt
// share its outcome. A failure other than a refusal of the credentials
// (a KDC that did not answer) lets the next caller try again. explain
// turns gokrb5's errors into KerberosErrors.
func (l *kerberosLogin) login(ctx context.Context, explain func(error) error) error {
	l.mu.Lock()
	switch {
	case l.ok:
		l.mu.Unlock()
		return nil
	case l.refused != nil:
		l.mu.Unlock()
		return l.refused
	}
	a := l.attempt
	if a == nil {
		a = &loginAttempt{done: make(chan struct{})}
		l.attempt = a
		go func() {
			err := kerberosLoginCall(l.cl)
			if err != nil {
				err = explain(err)
			}
			l.mu.Lock()
			a.err = err
			var ke *KerberosError
			switch {
			case err == nil:
				l.ok = true
			case errors.As(err, &ke) && ke.Auth:
				l.refused = err
			}
			l.attempt = nil
			l.mu.Unlock()
			close(a.done)
		}()
	}
	l.mu.Unlock()
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KerberosPrincipal splits a WinRM user into the Kerberos user name and
// realm: "user@REALM" carries its realm, "DOMAIN\user" and "user" take
// realm. A realm in the name that differs from realm (other than in case)
// is an error, and so is no realm at all.
func KerberosPrincipal(user, realm string) (name, userRealm string, err error) {
	name = user
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		// The NetBIOS domain says nothing the realm does not.
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		inName := name[i+1:]
		name = name[:i]
		switch {
		case realm == "":
			realm = inName
		case !strings.EqualFold(realm, inName):
			return "", "", fmt.Errorf("the user %q names realm %q, but realm is %q", user, inName, realm)
		}
	}
	if name == "" || strings.ContainsAny(name, "/@\\") {
		return "", "", fmt.Errorf("%q is not a Kerberos user name", user)
	}
	if realm == "" {
		return "", "", errors.New("no Kerberos realm: set realm, or write the user as user@REALM")
	}
	if !validRealm(realm) {
		return "", "", fmt.Errorf("%q is not a Kerberos realm", realm)
	}
	return name, realm, nil
}

var realmRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)

func validRealm(r string) bool { return len(r) <= 255 && realmRE.MatchString(r) }

// spnRE is "service/host" with an optional port, as setspn writes them
// ("HTTP/win01.corp.example", "WSMAN/win01:5985").
var spnRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$`)

// validSPN reports whether spn is a service principal name portwarden
// accepts: "service/host[:port]", without realm.
func validSPN(spn string) bool { return spnRE.MatchString(spn) }

// WinRMSPN is the service principal the ticket is asked for: SPN if set,
// else HTTP/ with the TLS server name or the address. A host addressed by
// IP needs an SPN (or tls_server_name): Windows registers its HTTP SPNs
// under its names, and a Kerberos client does not look the address up.
func WinRMSPN(cfg WinRMConfig) (string, error) {
	spn := cfg.SPN
	if spn == "" {
		host := cfg.TLSServerName
		if host == "" {
			host = cfg.Address
		}
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			return "", fmt.Errorf("%s is an IP address and Kerberos needs the host's name: set spn (e.g. \"HTTP/host.corp.example\") or tls_server_name", host)
		}
		spn = "HTTP/" + strings.TrimSuffix(host, ".")
	}
	if !validSPN(spn) {
		return "", fmt.Errorf("%q is not a service principal name (want \"HTTP/host.corp.example\")", spn)
	}
	return spn, nil
}

// krb5ConfigPaths lists the krb5.conf files to try when the inventory
// names none, first match wins: $KRB5_CONFIG (a list, as MIT Kerberos
// reads it), else the OS's: /etc/krb5.conf, or on Windows, which keeps
// Kerberos in the LSA and has no such file, MIT Kerberos for Windows'
// %ProgramData%\MIT\Kerberos5\krb5.ini. explicit says the list came from
// $KRB5_CONFIG, which must then name a file that exists.
func krb5ConfigPaths(goos string, getenv func(string) string) (paths []string, explicit bool) {
	if v := getenv("KRB5_CONFIG"); v != "" {
		sep := ":"
		if goos == "windows" {
			sep = ";"
		}
		for _, p := range strings.Split(v, sep) {
			if p != "" {
				paths = append(paths, p)
			}
		}
		return paths, true
	}
	if goos == "windows" {
		if pd := getenv("ProgramData"); pd != "" {
			return []string{filepath.Join(pd, "MIT", "Kerberos5", "krb5.ini")}, false
		}
		return nil, false
	}
	return []string{"/etc/krb5.conf"}, false
}

// loadKrb5Config reads the Kerberos configuration: path, else the first
// of krb5ConfigPaths that exists, else a built-in one that finds the
// realm's KDCs through DNS SRV records (_kerberos._tcp.REALM), as a
// domain-joined Windows controller can. It returns where the KDCs come
// from, for errors.
func loadKrb5Config(path, realm string) (*config.Config, string, error) {
	if path == "" {
		paths, explicit := krb5ConfigPaths(runtime.GOOS, os.Getenv)
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" && explicit {
			return nil, "", fmt.Errorf("$KRB5_CONFIG names no file that exists (%s)", strings.Join(paths, ", "))
		}
	}
	if path == "" {
		c := config.New()
		c.LibDefaults.DefaultRealm = realm
		c.LibDefaults.DNSLookupKDC = true
		return c, "DNS SRV records of " + realm + " (no krb5.conf)", nil
	}
	c, err := config.Load(path)
	var unsupported config.UnsupportedDirective
	if err != nil && !(errors.As(err, &unsupported) && c != nil) {
		return nil, "", fmt.Errorf("reading the Kerberos configuration %s: %w", path, err)
	}
	// A directive gokrb5 does not know (MIT has many) is skipped, as MIT
	// skips unknown relations.
	return c, path, nil
}

func newKerberosAuth(cfg WinRMConfig) (*kerberosAuth, error) {
	name, realm, err := KerberosPrincipal(cfg.User, cfg.Realm)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %w", err)
	}
	spn, err := WinRMSPN(cfg)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %w", err)
	}
	kc, source, err := loadKrb5Config(cfg.Krb5ConfigPath, realm)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %w", err)
	}
	k := &kerberosAuth{spn: spn, principal: name + "@" + realm, realm: realm, source: source}
	if cfg.Password == "" && cfg.Krb5CCachePath != "" {
		if k.cl, err = clientFromCCache(cfg.Krb5CCachePath, name, realm, kc); err != nil {
			return nil, err
		}
		k.ccache = cfg.Krb5CCachePath
		return k, nil
	}
	// FAST armoring needs a ticket the client does not have yet; like
	// masterzen/winrm, do without it. Pre-authentication is sent at once
	// (Active Directory requires it) so that a wrong password is the
	// KDC's KDC_ERR_PREAUTH_FAILED, not an AS-REP that fails to decrypt.
	sum := sha256.Sum256([]byte(cfg.Password))
	key := strings.Join([]string{source, name, realm, hex.EncodeToString(sum[:])}, "\x00")
	k.shared = sharedLogin(key, func() *client.Client {
		return client.NewWithPassword(name, realm, cfg.Password, kc,
			client.DisablePAFXFAST(true), client.AssumePreAuthentication(true))
	})
	k.cl = k.shared.cl
	return k, nil
}

// clientFromCCache makes a client from a credential cache that kinit
// filled for name@realm.
func clientFromCCache(path, name, realm string, kc *config.Config) (*client.Client, error) {
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		return nil, &KerberosError{Kind: "credential cache", Msg: fmt.Sprintf("reading %s: %v", path, err)}
	}
	holder := cc.GetClientPrincipalName().PrincipalNameString() + "@" + cc.GetClientRealm()
	if !strings.EqualFold(cc.GetClientPrincipalName().PrincipalNameString(), name) || cc.GetClientRealm() != realm {
		return nil, &KerberosError{Kind: "credential cache", Msg: fmt.Sprintf("%s holds the tickets of %s, not %s@%s", path, holder, name, realm), Auth: true}
	}
	cl, err := client.NewFromCCache(cc, kc, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, &KerberosError{Kind: "credential cache", Msg: fmt.Sprintf("%s has no ticket-granting ticket for %s: run kinit %s", path, holder, holder), Auth: true}
	}
	return cl, nil
}

// login gets a ticket-granting ticket (the process's shared one, or from
// the credential cache) and the host's service ticket. gokrb5 takes no
// context, and bounds each KDC exchange itself (5 s per KDC); ctx ending
// stops the wait.
func (k *kerberosAuth) login(ctx context.Context) error {
	if k.shared != nil {
		if err := k.shared.login(ctx, k.explain); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	k.loggingIn = make(chan struct{})
	go func() {
		defer close(k.loggingIn)
		if k.shared == nil {
			// A client from a credential cache checks its ticket.
			if err := k.cl.Login(); err != nil {
				done <- err
				return
			}
		}
		_, _, err := k.cl.GetServiceTicket(k.spn)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return k.explain(err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setHeader puts an SPNEGO token with a fresh authenticator for the
// host's ticket into req.
func (k *kerberosAuth) setHeader(req *http.Request) error {
	if err := spnego.SetSPNEGOHeader(k.cl, req, k.spn); err != nil {
		return k.explain(err)
	}
	return nil
}

// destroy forgets the tickets of a client of this connection's own (from
// a credential cache); after a login still under way, once it has ended.
// A shared login stays for the process's other connections.
func (k *kerberosAuth) destroy() {
	if k.shared != nil {
		return
	}
	if k.loggingIn == nil {
		k.cl.Destroy()
		return
	}
	select {
	case <-k.loggingIn:
		k.cl.Destroy()
	default:
		go func() { <-k.loggingIn; k.cl.Destroy() }()
	}
}

// KerberosError is a Kerberos failure, said in words: which step failed
// and what to check. It never holds the password.
type KerberosError struct {
	// Kind is a short name of the failure: "KDC unreachable",
	// "pre-authentication failed", "unknown user", "wrong SPN",
	// "clock skew", "account unusable", "configuration" or "kerberos".
	Kind string
	Msg  string
	// Auth is set for failures of the user's credentials (wrong
	// password, unknown or disabled account), which callers treat like
	// a refused login.
	Auth bool
}

func (e *KerberosError) Error() string { return "kerberos: " + e.Kind + ": " + e.Msg }

// kdcCodes maps the KDC's error names (RFC 4120 7.5.9) that gokrb5 puts
// into its messages to what they mean here.
var kdcCodes = []struct {
	code, kind, msg string
	auth            bool
}{
	{"KDC_ERR_PREAUTH_FAILED", "pre-authentication failed", "wrong password for %[1]s (KDC_ERR_PREAUTH_FAILED)", true},
	{"KDC_ERR_C_PRINCIPAL_UNKNOWN", "unknown user", "the KDC of %[3]s does not know %[1]s (KDC_ERR_C_PRINCIPAL_UNKNOWN)", true},
	{"KDC_ERR_CLIENT_REVOKED", "account unusable", "%[1]s is disabled or locked out (KDC_ERR_CLIENT_REVOKED)", true},
	{"KDC_ERR_KEY_EXPIRED", "account unusable", "the password of %[1]s has expired (KDC_ERR_KEY_EXPIRED)", true},
	{"KDC_ERR_S_PRINCIPAL_UNKNOWN", "wrong SPN", "the KDC does not know the service principal %[2]s (KDC_ERR_S_PRINCIPAL_UNKNOWN): set spn to one the host has (setspn -L HOST)", false},
	{"KRB_AP_ERR_SKEW", "clock skew", "the clocks of this machine and the KDC differ by more than the allowed skew (KRB_AP_ERR_SKEW)", false},
	{"KDC_ERR_WRONG_REALM", "configuration", "the KDC refers %[1]s to another realm (KDC_ERR_WRONG_REALM): check realm", false},
	{"KDC_ERR_ETYPE_NOSUPP", "configuration", "the KDC and this client share no encryption type for %[1]s (KDC_ERR_ETYPE_NOSUPP)", false},
}

// explain turns a gokrb5 error into a KerberosError. gokrb5 reports the
// KDC's answer and network failures as text (its Krberror does not wrap
// them), so the text is what is read.
func (k *kerberosAuth) explain(err error) error {
	text := err.Error()
	for _, c := range kdcCodes {
		if strings.Contains(text, c.code) {
			return &KerberosError{Kind: c.kind, Msg: fmt.Sprintf(c.msg, k.principal, k.spn, k.realm), Auth: c.auth}
		}
	}
	switch {
	case k.ccache != "" && (strings.Contains(text, "no valid existing session") || strings.Contains(text, "error getting any existing session")):
		return &KerberosError{Kind: "ticket expired", Msg: fmt.Sprintf("the ticket-granting ticket of %s in %s has expired: run kinit %s", k.principal, k.ccache, k.principal), Auth: true}
	case strings.Contains(text, "CRealm in response does not match") || strings.Contains(text, "SRealm in response does not match"):
		// gokrb5 compares realms exactly; a KDC answers in its own
		// spelling (Active Directory: capitals).
		return &KerberosError{Kind: "configuration", Msg: fmt.Sprintf("the KDC answered for another spelling of realm %s: write realm as the KDC does (Active Directory: the domain's DNS name in capitals)", k.realm)}
	case strings.Contains(text, "client password/keytab incorrect"):
		// A KDC that did not ask for pre-authentication, and an AS-REP
		// that the password cannot decrypt.
		return &KerberosError{Kind: "pre-authentication failed", Msg: "wrong password for " + k.principal + " (the KDC's answer does not decrypt with it)", Auth: true}
	case strings.Contains(text, "no KDCs defined") || strings.Contains(text, "error getting KDCs"):
		msg := fmt.Sprintf("no KDC for realm %s in %s", k.realm, k.source)
		if up := strings.ToUpper(k.realm); up != k.realm {
			msg += fmt.Sprintf(" (realms are case-sensitive: %s?)", up)
		}
		return &KerberosError{Kind: "configuration", Msg: msg}
	case strings.Contains(text, "Networking_Error") || strings.Contains(text, "error sending to a KDC") || strings.Contains(text, "communication error with KDC"):
		return &KerberosError{Kind: "KDC unreachable", Msg: fmt.Sprintf("no KDC of realm %s answered (KDCs from %s): %s", k.realm, k.source, kdcCause(err))}
	}
	return &KerberosError{Kind: "kerberos", Msg: fmt.Sprintf("%s for %s: %s", k.spn, k.principal, trimKrbError(text))}
}

// kdcCause is the network error under a gokrb5 networking error, as far
// as its text shows it: the last "dial ..." or "read ..." part, else the
// innermost message.
func kdcCause(err error) string {
	var ne net.Error
	if errors.As(err, &ne) {
		return ne.Error()
	}
	text := trimKrbError(err.Error())
	for _, marker := range []string{"dial ", "read ", "write "} {
		if i := strings.LastIndex(text, marker); i >= 0 {
			return text[i:]
		}
	}
	if i := strings.LastIndex(text, ": "); i >= 0 {
		return text[i+2:]
	}
	return text
}

// trimKrbError drops gokrb5's "[Root cause: X] " prefix.
func trimKrbError(text string) string {
	if strings.HasPrefix(text, "[Root cause: ") {
		if i := strings.Index(text, "] "); i >= 0 {
			return text[i+2:]
		}
	}
	return text
}

// errKerberosRefused is a 401 answer to a request with a Kerberos ticket.
var errKerberosRefused = errors.New("the host refused the Kerberos ticket")

// errKerberosNotOffered is a 401 answer that offers no Negotiate.
var errKerberosNotOffered = errors.New("the host does not offer Negotiate (Kerberos) authentication")

// offersNegotiate reports whether a 401 answer offers Negotiate or
// Kerberos among its WWW-Authenticate schemes.
func offersNegotiate(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "Kerberos") {
			return true
		}
	}
	return false
}
