package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
)

func TestKerberosPrincipal(t *testing.T) {
	tests := []struct {
		user, realm         string
		wantName, wantRealm string
		err                 string
	}{
		{"admin", "CORP.EXAMPLE", "admin", "CORP.EXAMPLE", ""},
		{`CORP\admin`, "CORP.EXAMPLE", "admin", "CORP.EXAMPLE", ""},
		{"admin@CORP.EXAMPLE", "", "admin", "CORP.EXAMPLE", ""},
		{"admin@corp.example", "CORP.EXAMPLE", "admin", "CORP.EXAMPLE", ""},
		{"admin@OTHER.EXAMPLE", "CORP.EXAMPLE", "", "", "names realm"},
		{"admin", "", "", "", "no Kerberos realm"},
		{"", "CORP.EXAMPLE", "", "", "not a Kerberos user name"},
		{"svc/host", "CORP.EXAMPLE", "", "", "not a Kerberos user name"},
		{"admin", "CORP EXAMPLE", "", "", "not a Kerberos realm"},
	}
	for _, tt := range tests {
		name, realm, err := KerberosPrincipal(tt.user, tt.realm)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("KerberosPrincipal(%q, %q) = %v, want error with %q", tt.user, tt.realm, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.wantName || realm != tt.wantRealm {
			t.Errorf("KerberosPrincipal(%q, %q) = %q, %q, %v; want %q, %q", tt.user, tt.realm, name, realm, err, tt.wantName, tt.wantRealm)
		}
	}
}

func TestWinRMSPN(t *testing.T) {
	tests := []struct {
		cfg  WinRMConfig
		want string
		err  string
	}{
		{WinRMConfig{Address: "win01.corp.example"}, "HTTP/win01.corp.example", ""},
		{WinRMConfig{Address: "win01.corp.example."}, "HTTP/win01.corp.example", ""},
		{WinRMConfig{Address: "10.0.0.5", TLSServerName: "win01.corp.example"}, "HTTP/win01.corp.example", ""},
		{WinRMConfig{Address: "10.0.0.5", SPN: "WSMAN/win01:5985"}, "WSMAN/win01:5985", ""},
		{WinRMConfig{Address: "10.0.0.5"}, "", "IP address"},
		{WinRMConfig{Address: "fd00::5"}, "", "IP address"},
		{WinRMConfig{Address: "w", SPN: "HTTP/w@CORP.EXAMPLE"}, "", "not a service principal"},
		{WinRMConfig{Address: "w", SPN: "HTTP"}, "", "not a service principal"},
	}
	for _, tt := range tests {
		got, err := WinRMSPN(tt.cfg)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("WinRMSPN(%+v) = %q, %v; want error with %q", tt.cfg, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("WinRMSPN(%+v) = %q, %v; want %q", tt.cfg, got, err, tt.want)
		}
	}
}

func TestKrb5ConfigPaths(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		goos     string
		env      map[string]string
		want     []string
		explicit bool
	}{
		{"linux", nil, []string{"/etc/krb5.conf"}, false},
		{"darwin", nil, []string{"/etc/krb5.conf"}, false},
		{"linux", map[string]string{"KRB5_CONFIG": "/a/krb5.conf:/b/krb5.conf"}, []string{"/a/krb5.conf", "/b/krb5.conf"}, true},
		{"windows", map[string]string{"ProgramData": `C:\ProgramData`}, []string{filepath.Join(`C:\ProgramData`, "MIT", "Kerberos5", "krb5.ini")}, false},
		{"windows", map[string]string{"KRB5_CONFIG": `C:\k\krb5.ini;D:\krb5.ini`}, []string{`C:\k\krb5.ini`, `D:\krb5.ini`}, true},
		{"windows", nil, nil, false},
	}
	for _, tt := range tests {
		got, explicit := krb5ConfigPaths(tt.goos, env(tt.env))
		if !slices.Equal(got, tt.want) || explicit != tt.explicit {
			t.Errorf("krb5ConfigPaths(%s, %v) = %q, %t; want %q, %t", tt.goos, tt.env, got, explicit, tt.want, tt.explicit)
		}
	}
}

func TestLoadKrb5Config(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n[realms]\n LAB.TEST = {\n  kdc = 192.0.2.1:88\n }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, src, err := loadKrb5Config(conf, "LAB.TEST")
	if err != nil || src != conf {
		t.Fatalf("loadKrb5Config = %q, %v", src, err)
	}
	if _, kdcs, err := c.GetKDCs("LAB.TEST", true); err != nil || kdcs[1] != "192.0.2.1:88" {
		t.Errorf("KDCs = %v, %v", kdcs, err)
	}
	t.Setenv("KRB5_CONFIG", filepath.Join(dir, "missing.conf"))
	if _, _, err := loadKrb5Config("", "LAB.TEST"); err == nil || !strings.Contains(err.Error(), "$KRB5_CONFIG") {
		t.Errorf("missing $KRB5_CONFIG: %v", err)
	}
	t.Setenv("KRB5_CONFIG", conf)
	if _, src, err := loadKrb5Config("", "LAB.TEST"); err != nil || src != conf {
		t.Errorf("$KRB5_CONFIG: %q, %v", src, err)
	}
	// MIT relations gokrb5 does not know are skipped, not fatal.
	mit := filepath.Join(dir, "mit.conf")
	os.WriteFile(mit, []byte("includedir /etc/krb5.conf.d/\n[libdefaults]\n default_realm = LAB.TEST\n pkinit_anchors = FILE:/etc/ca.pem\n"+
		" spake_preauth_groups = edwards25519\n[realms]\n LAB.TEST = {\n  kdc = 192.0.2.1:88\n  admin_server = 192.0.2.1\n  v4_realm = LAB.TEST\n }\n"), 0o644)
	if _, err := config.Load(mit); err == nil {
		t.Fatal("gokrb5 no longer reports v4_ directives: this check tests nothing")
	}
	if c, _, err := loadKrb5Config(mit, "LAB.TEST"); err != nil || c.LibDefaults.DefaultRealm != "LAB.TEST" {
		t.Errorf("MIT krb5.conf: %v", err)
	} else if _, kdcs, err := c.GetKDCs("LAB.TEST", true); err != nil || kdcs[1] != "192.0.2.1:88" {
		t.Errorf("MIT krb5.conf KDCs = %v, %v", kdcs, err)
	}
	if _, _, err := loadKrb5Config(filepath.Join(dir, "nope"), "LAB.TEST"); err == nil {
		t.Error("a missing krb5_conf loaded")
	}
}

// TestKerberosExplain checks that gokrb5's messages become the failures
// an admin can act on, and that no password leaks through.
func TestKerberosExplain(t *testing.T) {
	k := &kerberosAuth{spn: "HTTP/win01.lab.test", principal: "Administrator@LAB.TEST", realm: "LAB.TEST", source: "/lab/krb5.conf"}
	tests := []struct {
		in, kind, want string
		auth           bool
	}{
		{"[Root cause: KDC_Error] KDC_Error: AS Exchange Error: kerberos error response from KDC: KRB Error: (24) KDC_ERR_PREAUTH_FAILED Pre-authentication information was invalid", "pre-authentication failed", "wrong password for Administrator@LAB.TEST", true},
		{"[Root cause: KDC_Error] KDC_Error: AS Exchange Error: kerberos error response from KDC: KRB Error: (6) KDC_ERR_C_PRINCIPAL_UNKNOWN Client not found in Kerberos database", "unknown user", "KDC of LAB.TEST does not know Administrator@LAB.TEST", true},
		{"[Root cause: KDC_Error] KDC_Error: TGS Exchange Error: kerberos error response from KDC when requesting for HTTP/x: KRB Error: (7) KDC_ERR_S_PRINCIPAL_UNKNOWN Server not found in Kerberos database", "wrong SPN", "service principal HTTP/win01.lab.test", false},
		{"[Root cause: Networking_Error] Networking_Error: AS Exchange Error: failed sending AS_REQ to KDC: communication error with KDC via TCP: error sending to a KDC: dial tcp 198.18.1.1:88: connect: connection refused", "KDC unreachable", "dial tcp 198.18.1.1:88: connect: connection refused", false},
		{"[Root cause: Configuration_Error] error getting KDCs: no KDCs defined in configuration for realm LAB.TEST", "configuration", "no KDC for realm LAB.TEST in /lab/krb5.conf", false},
		{"[Root cause: KRBMessage_Handling_Error] AS Exchange Error: AS_REP is not valid or client password/keytab incorrect", "pre-authentication failed", "wrong password", true},
		{"[Root cause: KRBMessage_Handling_Error] KRBMessage_Handling_Error: AS Exchange Error: AS_REP is not valid or client password/keytab incorrect < KRBMessage_Handling_Error: CRealm in response does not match what was requested. Requested: lab.test; Reply: LAB.TEST", "configuration", "another spelling of realm LAB.TEST", false},
		{"something else", "kerberos", "something else", false},
	}
	for _, tt := range tests {
		err := k.explain(errors.New(tt.in))
		var ke *KerberosError
		if !errors.As(err, &ke) || ke.Kind != tt.kind || ke.Auth != tt.auth || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "kerberos: "+tt.kind+": ") {
			t.Errorf("explain(%q) = %v (%+v); want kind %q auth %t with %q", tt.in, err, ke, tt.kind, tt.auth, tt.want)
		}
	}
}

func TestOffersNegotiate(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{[]string{"Negotiate"}, true},
		{[]string{`Basic realm="WSMAN"`, "negotiate abc"}, true},
		{[]string{`Basic realm="WSMAN"`}, false},
		{nil, false},
	} {
		h := map[string][]string{"Www-Authenticate": tt.values}
		if got := offersNegotiate(h); got != tt.want {
			t.Errorf("offersNegotiate(%q) = %t", tt.values, got)
		}
	}
}

// TestKerberosLoginHonoursConnectTimeout: a KDC that accepts the
// connection and never answers holds the dial no longer than
// ConnectTimeout (gokrb5 itself would wait 5 s per KDC), and the error
// does not hold the password.
func TestKerberosLoginHonoursConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n udp_preference_limit = 1\n[realms]\n LAB.TEST = {\n  kdc = "+ln.Addr().String()+"\n }\n"), 0o644)
	const password = "pwMarkerKrbTimeout7Q4"
	start := time.Now()
	_, err = DialWinRM(context.Background(), WinRMConfig{Address: "127.0.0.1", Port: 1, User: "admin", Password: password,
		Auth: "kerberos", Realm: "LAB.TEST", SPN: "HTTP/w.lab.test", Krb5ConfigPath: conf, ConnectTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("err = %v, want a connect timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("DialWinRM took %s", d)
	}
	if err != nil && strings.Contains(err.Error(), password) {
		t.Errorf("the error holds the password: %v", err)
	}
}

func TestKerberosCCacheErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n[realms]\n LAB.TEST = {\n  kdc = 192.0.2.1:88\n }\n"), 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a ccache"), 0o600)
	base := WinRMConfig{Address: "w.lab.test", User: "admin", Auth: "kerberos", Realm: "LAB.TEST", Krb5ConfigPath: conf}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "kerberos: credential cache: reading " + filepath.Join(dir, "missing")},
		{garbage, "kerberos: credential cache: reading " + garbage},
	} {
		cfg := base
		cfg.Krb5CCachePath = tt.path
		if _, err := newKerberosAuth(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ccache %s: %v, want %q", tt.path, err, tt.want)
		}
	}
	// Without a password, a ccache is what makes the configuration whole.
	if _, err := winrmDefaults(WinRMConfig{Address: "w.lab.test", User: "admin", Auth: "kerberos", Krb5CCachePath: garbage}); err != nil {
		t.Errorf("kerberos with a ccache and no password: %v", err)
	}
	if _, err := winrmDefaults(WinRMConfig{Address: "w.lab.test", User: "admin", Auth: "ntlm", Krb5CCachePath: garbage}); err == nil {
		t.Error("ntlm without a password was accepted")
	}
}

// TestKerberosLoginOncePerProcess: the connections of one principal with
// one password and configuration share one login (one AS exchange with
// the KDC), however many hosts and however concurrent; a refused
// password is not tried again, a KDC that did not answer is.
func TestKerberosLoginOncePerProcess(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	// A KDC address nothing listens on: the service tickets fail at once.
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n udp_preference_limit = 1\n[realms]\n LAB.TEST = {\n  kdc = 127.0.0.1:1\n }\n"), 0o644)
	var (
		mu     sync.Mutex
		calls  = map[string]int{}
		answer = map[string]error{}
	)
	orig := kerberosLoginCall
	t.Cleanup(func() { kerberosLoginCall = orig })
	kerberosLoginCall = func(cl *client.Client) error {
		mu.Lock()
		defer mu.Unlock()
		calls[cl.Credentials.UserName()]++
		return answer[cl.Credentials.UserName()]
	}
	answer["wrongpw"] = errors.New("[Root cause: KDC_Error] KDC_Error: AS Exchange Error: kerberos error response from KDC: KRB Error: (24) KDC_ERR_PREAUTH_FAILED")
	answer["nokdc"] = errors.New("[Root cause: Networking_Error] Networking_Error: AS Exchange Error: failed sending AS_REQ to KDC: communication error with KDC via TCP: dial tcp 127.0.0.1:1: connect: connection refused")
	auth := func(user, password, host string) *kerberosAuth {
		t.Helper()
		k, err := newKerberosAuth(WinRMConfig{Address: host + ".lab.test", User: user, Password: password, Auth: "kerberos", Realm: "LAB.TEST", Krb5ConfigPath: conf})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			k := auth("admin", "pw1", fmt.Sprintf("w%d", i))
			defer k.destroy()
			_ = k.shared.login(context.Background(), k.explain)
		})
	}
	wg.Wait()
	// Another password is another login.
	k := auth("admin", "pw2", "w1")
	_ = k.shared.login(context.Background(), k.explain)
	if calls["admin"] != 2 {
		t.Errorf("8 hosts with one password and 1 with another: %d logins, want 2", calls["admin"])
	}
	for range 3 {
		k := auth("wrongpw", "pw", "w1")
		var ke *KerberosError
		if err := k.shared.login(context.Background(), k.explain); !errors.As(err, &ke) || !ke.Auth {
			t.Errorf("wrong password: %v", err)
		}
		k = auth("nokdc", "pw", "w1")
		if err := k.shared.login(context.Background(), k.explain); !errors.As(err, &ke) || ke.Kind != "KDC unreachable" {
			t.Errorf("KDC unreachable: %v", err)
		}
	}
	if calls["wrongpw"] != 1 || calls["nokdc"] != 3 {
		t.Errorf("logins: wrong password %d (want 1: not asked again), KDC unreachable %d (want 3: asked again)", calls["wrongpw"], calls["nokdc"])
	}
}
