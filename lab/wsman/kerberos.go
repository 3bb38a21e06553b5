package wsman

// Kerberos in Negotiate, simulated: the host's service key comes from a
// keytab (a real host's is its computer account's, which the domain
// controller shares); an Authorization: Negotiate header whose token is
// SPNEGO carrying a Kerberos AP-REQ is verified with gokrb5's service
// side (the ticket decrypts with the key, the authenticator with the
// ticket's session key, the clocks within 5 minutes, no replay), and the
// ticket's client must be one of the domain accounts the host lets use
// WinRM. Each request carries its own AP-REQ; the connection is not
// remembered as authenticated (HTTP.sys may persist Kerberos on a
// connection, the clients portwarden uses never rely on it, so refusing
// is the stricter choice). No AP-REP (mutual authentication) is sent,
// and no message is sealed: plain HTTP needs AllowUnencrypted, as with
// NTLM.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberosAcceptor verifies Kerberos tokens for one host.
type kerberosAcceptor struct {
	kt         *keytab.Keytab
	principals map[string]string // "user@REALM" with user in lower case -> as configured
}

func newKerberosAcceptor(keytabPath string, principals []string) (*kerberosAcceptor, error) {
	kt, err := keytab.Load(keytabPath)
	if err != nil {
		return nil, fmt.Errorf("loading the Kerberos keytab: %w", err)
	}
	if len(kt.Entries) == 0 {
		return nil, fmt.Errorf("the Kerberos keytab %s has no keys", keytabPath)
	}
	k := &kerberosAcceptor{kt: kt, principals: map[string]string{}}
	for _, p := range principals {
		key, ok := principalKey(p)
		if !ok {
			return nil, fmt.Errorf("the Kerberos principal %q: want user@REALM", p)
		}
		k.principals[key] = p
	}
	if len(k.principals) == 0 {
		return nil, fmt.Errorf("a Kerberos keytab without KerberosPrincipals lets nobody in")
	}
	return k, nil
}

// principalKey is the lookup key of "user@REALM": Windows compares account
// names without case; the realm is compared as written (AD realms are the
// domain's name in capitals, and tickets carry it so).
func principalKey(p string) (string, bool) {
	user, realm, ok := strings.Cut(p, "@")
	if !ok || user == "" || realm == "" || strings.ContainsAny(user, "/\\@") {
		return "", false
	}
	return strings.ToLower(user) + "@" + realm, true
}

// spnegoAcceptCompleted is a NegTokenResp saying accept-completed for
// Kerberos: what a host sends back (real hosts add the AP-REP).
const spnegoAcceptCompleted = "Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg=="

// isKerberosToken reports whether a Negotiate token is SPNEGO (GSS-API
// InitialContextToken, tag 0x60, or a NegTokenResp, 0xa1) or a raw
// Kerberos AP-REQ, rather than raw NTLMSSP.
func isKerberosToken(msg []byte) bool {
	return len(msg) > 0 && (msg[0] == 0x60 || msg[0] == 0xa1 || msg[0] == 0x6e) && !strings.HasPrefix(string(msg), "NTLMSSP\x00")
}

// accept verifies one Negotiate token and returns the client principal.
func (k *kerberosAcceptor) accept(msg []byte) (string, error) {
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(msg); err != nil {
		return "", fmt.Errorf("not a SPNEGO token: %w", err)
	}
	if !st.Init || len(st.NegTokenInit.MechTypes) == 0 {
		return "", fmt.Errorf("the SPNEGO token is not a NegTokenInit")
	}
	oid := st.NegTokenInit.MechTypes[0]
	if !oid.Equal(gssapi.OIDKRB5.OID()) && !oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		// NTLM wrapped in SPNEGO: Kerberos is what this host takes.
		return "", fmt.Errorf("the SPNEGO token offers mechanism %s, not Kerberos", oid)
	}
	var mt spnego.KRB5Token
	if err := mt.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil {
		return "", fmt.Errorf("reading the Kerberos token: %w", err)
	}
	if !mt.IsAPReq() {
		return "", fmt.Errorf("the Kerberos token is not an AP-REQ")
	}
	ok, creds, err := service.VerifyAPREQ(&mt.APReq, service.NewSettings(k.kt, service.DecodePAC(false)))
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("the AP-REQ is not valid")
		}
		return "", fmt.Errorf("verifying the ticket for %s: %w", mt.APReq.Ticket.SName.PrincipalNameString(), err)
	}
	principal := creds.UserName() + "@" + creds.Domain()
	key, _ := principalKey(principal)
	if _, allowed := k.principals[key]; !allowed {
		return "", fmt.Errorf("%s may not use WinRM on this host", principal)
	}
	return principal, nil
}

// authenticateKerberos checks a Negotiate header's Kerberos token.
func (s *Server) authenticateKerberos(w http.ResponseWriter, msg []byte) (account, authResult) {
	principal, err := s.krb.accept(msg)
	if err != nil {
		s.logf("Kerberos authentication failed: %v", err)
		s.unauthorized(w)
		return account{}, authRefused
	}
	key, _ := principalKey(principal)
	w.Header().Set("WWW-Authenticate", spnegoAcceptCompleted)
	return account{key: "krb:" + key, name: principal}, authOK
}

// negotiateToken decodes the base64 token of a Negotiate header.
func negotiateToken(token string) ([]byte, bool) {
	msg, err := base64.StdEncoding.DecodeString(token)
	return msg, err == nil
}
