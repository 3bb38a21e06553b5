package wsman

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// connAuth is the NTLM state of one TCP connection. NTLM over HTTP is
// connection-oriented: the CHALLENGE belongs to the connection that sent
// the NEGOTIATE, and once AUTHENTICATE succeeds every later request on that
// connection is the user's, with or without an Authorization header (which
// is why go-ntlmssp first retries a request anonymously).
type connAuth struct {
	mu        sync.Mutex
	user      *account
	challenge *[8]byte
}

type connAuthKey struct{}

func withConnAuth(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connAuthKey{}, &connAuth{})
}

func connAuthFrom(ctx context.Context) *connAuth {
	if ca, ok := ctx.Value(connAuthKey{}).(*connAuth); ok {
		return ca
	}
	// Not served through Serve (e.g. a bare handler in a test): a fresh
	// state per request, so NTLM cannot complete.
	return &connAuth{}
}

// canonicalUser reduces an account name to its lookup key: the domain part
// must be absent, ".", or this host's name; the rest compares
// case-insensitively.
func (s *Server) canonicalUser(name string) (string, bool) {
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		domain := name[:i]
		if domain != "." && !strings.EqualFold(domain, s.cfg.ComputerName) {
			return "", false
		}
		name = name[i+1:]
	}
	return strings.ToLower(name), true
}

func (s *Server) lookupUser(name string) (account, bool) {
	key, ok := s.canonicalUser(name)
	if !ok {
		return account{}, false
	}
	a, ok := s.users[key]
	return a, ok
}

// unauthorized answers 401 with the schemes the service offers, as WinRM
// does: "Negotiate" and/or `Basic realm="WSMAN"`, and no body.
func (s *Server) unauthorized(w http.ResponseWriter) {
	if s.cfg.AllowNTLM || s.krb != nil {
		w.Header().Add("WWW-Authenticate", "Negotiate")
	}
	if s.cfg.AllowBasic {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// authResult says how authenticate answered a request.
type authResult int

const (
	authOK         authResult = iota
	authChallenged            // 401 as a step of the handshake
	authRefused               // 401 for bad, missing or disallowed credentials
)

// authenticate returns the request's user, or answers 401 (a challenge or
// a refusal).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (account, authResult) {
	ca := connAuthFrom(r.Context())
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	switch strings.ToLower(scheme) {
	case "":
		ca.mu.Lock()
		u := ca.user
		ca.mu.Unlock()
		if u != nil {
			return *u, authOK
		}
		// No credentials yet: the first leg of every handshake.
		s.unauthorized(w)
		return account{}, authChallenged
	case "basic":
		if !s.cfg.AllowBasic {
			s.logf("refusing Basic authentication: not enabled")
			break
		}
		raw, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			break
		}
		name, password, _ := strings.Cut(string(raw), ":")
		a, ok := s.lookupUser(name)
		if ok && subtle.ConstantTimeCompare([]byte(a.password), []byte(password)) == 1 {
			return a, authOK
		}
		s.logf("Basic authentication failed for user %q", name)
	case "negotiate", "ntlm":
		if s.krb != nil && strings.EqualFold(scheme, "negotiate") {
			if msg, ok := negotiateToken(token); ok && isKerberosToken(msg) {
				return s.authenticateKerberos(w, msg)
			}
		}
		if !s.cfg.AllowNTLM {
			if s.krb != nil {
				s.logf("refusing NTLM in %s authentication: this host takes Kerberos only (NTLM disabled)", scheme)
			} else {
				s.logf("refusing %s authentication: not enabled", scheme)
			}
			break
		}
		return s.authenticateNTLM(w, scheme, token, ca)
	}
	s.unauthorized(w)
	return account{}, authRefused
}

// authenticateNTLM runs one leg of the NTLM handshake on the connection.
func (s *Server) authenticateNTLM(w http.ResponseWriter, scheme, token string, ca *connAuth) (account, authResult) {
	msg, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		s.unauthorized(w)
		return account{}, authRefused
	}
	typ, err := ntlmMessageType(msg)
	if err != nil {
		// Most likely a SPNEGO (Kerberos or wrapped NTLM) token, which the
		// simulation does not speak.
		s.logf("refusing %s token that is not raw NTLMSSP", scheme)
		s.unauthorized(w)
		return account{}, authRefused
	}
	switch typ {
	case 1:
		flags, err := parseNegotiateFlags(msg)
		if err != nil {
			break
		}
		var sc [8]byte
		rand.Read(sc[:])
		// A new handshake replaces whatever the connection had.
		ca.mu.Lock()
		ca.user, ca.challenge = nil, &sc
		ca.mu.Unlock()
		challenge := challengeMessage(flags, s.cfg.ComputerName, sc, time.Now())
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(challenge))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return account{}, authChallenged
	case 3:
		ca.mu.Lock()
		sc := ca.challenge
		ca.challenge = nil
		ca.mu.Unlock()
		if sc == nil {
			s.logf("NTLM AUTHENTICATE without a CHALLENGE on this connection")
			break
		}
		am, err := parseAuthenticateMessage(msg)
		if err != nil {
			s.logf("bad NTLM AUTHENTICATE message: %v", err)
			break
		}
		a, known := s.lookupUser(am.user)
		domainOK := am.domain == "" || am.domain == "." || strings.EqualFold(am.domain, s.cfg.ComputerName)
		if !known || !domainOK {
			// Check a made-up password anyway so that timing does not
			// tell unknown users from wrong passwords.
			verifyNTLMv2(am, "\x00", *sc, time.Now())
			s.logf("NTLM authentication failed for user %q (domain %q)", am.user, am.domain)
			break
		}
		if err := verifyNTLMv2(am, a.password, *sc, time.Now()); err != nil {
			s.logf("NTLM authentication failed for user %q", am.user)
			break
		}
		ca.mu.Lock()
		ca.user = &a
		ca.mu.Unlock()
		return a, authOK
	}
	s.unauthorized(w)
	return account{}, authRefused
}
