package wsman

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

const (
	testRealm = "LAB.TEST"
	testSPN   = "HTTP/win01.lab.test"
)

// testKeytab is a host's keytab whose key derives from secret.
func testKeytab(t *testing.T, secret string) (*keytab.Keytab, string) {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(testSPN, testRealm, secret, time.Now(), 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "http.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return kt, path
}

// ticketToken makes what a KDC and a client would: a service ticket for
// testSPN, encrypted with kt's key, for user, and the SPNEGO token with an
// AP-REQ for it. No KDC takes part: the test plays it.
func ticketToken(t *testing.T, kt *keytab.Keytab, user string) []byte {
	t.Helper()
	now := time.Now().UTC()
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, testSPN)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	tkt, key, err := messages.NewTicket(cname, testRealm, sname, testRealm, types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 2, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	types.SetFlag(&tkt.DecryptedEncPart.Flags, flags.Initial)
	cl := client.NewWithPassword(user, testRealm, "unused", config.New())
	init, err := spnego.NewNegTokenInitKRB5(cl, tkt, key)
	if err != nil {
		t.Fatal(err)
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: init}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKerberosAcceptor(t *testing.T) {
	kt, path := testKeytab(t, "host key")
	other, _ := testKeytab(t, "another host's key")
	k, err := newKerberosAcceptor(path, []string{"Administrator@" + testRealm})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token []byte
		want  string // error text; "" for accepted
	}{
		{"allowed user", ticketToken(t, kt, "administrator"), ""},
		{"user without WinRM rights", ticketToken(t, kt, "guest"), "guest@LAB.TEST may not use WinRM"},
		{"ticket for another key", ticketToken(t, other, "Administrator"), "verifying the ticket for " + testSPN},
		{"raw NTLMSSP", []byte("NTLMSSP\x00\x01\x00\x00\x00"), "not a SPNEGO token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := k.accept(tt.token)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && !strings.EqualFold(p, "Administrator@"+testRealm):
				t.Errorf("principal %q", p)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("accept = %q, %v; want an error with %q", p, err, tt.want)
			}
		})
	}
	// An AP-REQ seen once is not accepted again (the replay cache).
	tok := ticketToken(t, kt, "Administrator")
	if _, err := k.accept(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := k.accept(tok); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Errorf("a replayed token: %v", err)
	}
	if _, err := newKerberosAcceptor(path, nil); err == nil {
		t.Error("a keytab without principals was accepted")
	}
}

// TestKerberosOnlyHost: a host of a domain that disabled NTLM offers
// Negotiate only, refuses Basic and NTLM, and takes a valid ticket.
func TestKerberosOnlyHost(t *testing.T) {
	kt, path := testKeytab(t, "host key")
	s, err := NewServer(Config{
		ComputerName: "WIN01", KerberosKeytab: path, KerberosPrincipals: []string{"Administrator@" + testRealm},
		AllowUnencrypted: true,
		Interpreter:      InterpreterFunc(func(context.Context, string) (string, string, int) { return "", "", 0 }),
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(auth string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "/wsman", strings.NewReader("<not-soap/>"))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.http.Handler.ServeHTTP(rec, req)
		return rec.Result()
	}
	for _, auth := range []string{"", "Basic " + base64.StdEncoding.EncodeToString([]byte("Administrator:pw")),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2"))} {
		resp := post(auth)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%.20q: status %d, want 401", auth, resp.StatusCode)
		}
		if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != "Negotiate" {
			t.Errorf("%.20q: WWW-Authenticate %q, want only Negotiate", auth, got)
		}
	}
	resp := post("Negotiate " + base64.StdEncoding.EncodeToString(ticketToken(t, kt, "Administrator")))
	if resp.StatusCode == http.StatusUnauthorized {
		t.Errorf("a valid ticket was refused")
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != spnegoAcceptCompleted {
		t.Errorf("WWW-Authenticate %q, want accept-completed", got)
	}
	// Basic and NTLM are refusals; the request without credentials is
	// the first leg of a handshake.
	if st := s.Stats(); st.AuthFailures != 2 {
		t.Errorf("AuthFailures = %d, want 2", st.AuthFailures)
	}
}
