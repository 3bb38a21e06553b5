package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestWinRMKerberos(t *testing.T) {
	pol := builtin(t)
	src := "host \"w\" {\n  address = \"win01.corp.example\"\n  os = \"windows\"\n  winrm {\n" +
		"    user = \"admin\"\n    password = \"pw\"\n    auth = \"kerberos\"\n    realm = \"CORP.EXAMPLE\"\n    krb5_conf = \"krb5.conf\"\n  }\n}\n"
	inv, diags := Parse([]byte(src), filepath.Join("/inv", "test.hcl"), pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := inv.Host("w").WinRM
	if c.Auth != "kerberos" || c.Realm != "CORP.EXAMPLE" || c.SPN != "" || c.Krb5ConfigPath != filepath.Join("/inv", "krb5.conf") {
		t.Errorf("got auth %q realm %q spn %q krb5_conf %q", c.Auth, c.Realm, c.SPN, c.Krb5ConfigPath)
	}
}

// TestWinRMKerberosDiagnostics: each mistake is an error at the
// attribute (file:line,column) that has to change.
func TestWinRMKerberosDiagnostics(t *testing.T) {
	pol := builtin(t)
	host := func(address, winrm string) string {
		return "host \"w\" {\n  address = \"" + address + "\"\n  os = \"windows\"\n  winrm {\n    user = \"admin\"\n" + winrm + "  }\n}\n"
	}
	tests := []struct {
		name, address, winrm string
		summary, detail, pos string
	}{
		{"unknown auth", "w.corp.example", "    auth = \"kerb\"\n", "Invalid winrm auth", `"kerberos"`, "test.hcl:6,12"},
		{"realm without kerberos", "w.corp.example", "    realm = \"CORP.EXAMPLE\"\n", "Kerberos setting without Kerberos", "realm is used only", "test.hcl:6,13"},
		{"no realm", "w.corp.example", "    auth = \"kerberos\"\n", "Invalid Kerberos principal", "no Kerberos realm", "test.hcl:5,12"},
		{"ip without spn", "10.0.0.5", "    auth = \"kerberos\"\n    realm = \"CORP.EXAMPLE\"\n", "Invalid Kerberos SPN", "IP address", "test.hcl:6,12"},
		{"bad spn", "10.0.0.5", "    auth = \"kerberos\"\n    realm = \"CORP.EXAMPLE\"\n    spn = \"HTTP/w@CORP.EXAMPLE\"\n", "Invalid Kerberos SPN", "not a service principal", "test.hcl:8,11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse([]byte(host(tt.address, tt.winrm)), "test.hcl", pol)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) || d.Subject == nil || !strings.HasPrefix(d.Subject.String(), tt.pos) {
				t.Errorf("got %v, want %q with %q at %s", diags, tt.summary, tt.detail, tt.pos)
			}
		})
	}
}

func TestWinRMKerberosRealmCase(t *testing.T) {
	pol := builtin(t)
	src := "host \"w\" {\n  address = \"w.corp.example\"\n  os = \"windows\"\n  winrm {\n    user = \"admin\"\n    auth = \"kerberos\"\n    realm = \"corp.example\"\n  }\n}\n"
	_, diags := Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() || len(diags) != 1 || diags[0].Summary != "Kerberos realm not in capitals" || !strings.Contains(diags[0].Detail, `"CORP.EXAMPLE"`) ||
		!strings.HasPrefix(diags[0].Subject.String(), "test.hcl:7,13") {
		t.Errorf("got %v", diags)
	}
}

func TestWinRMKerberosRealmInUser(t *testing.T) {
	pol := builtin(t)
	src := "host \"w\" {\n  address = \"10.0.0.5\"\n  os = \"windows\"\n  winrm {\n    user = \"admin@CORP.EXAMPLE\"\n    realm = \"OTHER.EXAMPLE\"\n    auth = \"kerberos\"\n    spn = \"HTTP/w.corp.example\"\n  }\n}\n"
	_, diags := Parse([]byte(src), "test.hcl", pol)
	if !diags.HasErrors() || diags[0].Summary != "Invalid Kerberos principal" || !strings.HasPrefix(diags[0].Subject.String(), "test.hcl:6,13") {
		t.Errorf("got %v", diags)
	}
}

func TestWinRMKerberosCCache(t *testing.T) {
	pol := builtin(t)
	host := func(winrm string) string {
		return "host \"w\" {\n  address = \"w.corp.example\"\n  os = \"windows\"\n  winrm {\n    user = \"admin\"\n    auth = \"kerberos\"\n    realm = \"CORP.EXAMPLE\"\n" + winrm + "  }\n}\n"
	}
	inv, diags := Parse([]byte(host("    ccache = \"FILE:cc/krb5cc\"\n")), filepath.Join("/inv", "test.hcl"), pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c := inv.Host("w").WinRM; c.Krb5CCachePath != filepath.Join("/inv", "cc", "krb5cc") || c.Password != "" {
		t.Errorf("ccache %q, password set %t", c.Krb5CCachePath, c.Password != "")
	}
	for _, tt := range []struct{ winrm, summary, pos string }{
		{"    ccache = \"/tmp/krb5cc_0\"\n    password = \"pw\"\n", "Both password and ccache", "test.hcl:8,14"},
		{"    ccache = \"KEYRING:persistent:0\"\n", "Unsupported credential cache", "test.hcl:8,14"},
	} {
		_, diags := Parse([]byte(host(tt.winrm)), "test.hcl", pol)
		if !diags.HasErrors() || diags[0].Summary != tt.summary || !strings.HasPrefix(diags[0].Subject.String(), tt.pos) {
			t.Errorf("%q: %v, want %s at %s", tt.winrm, diags, tt.summary, tt.pos)
		}
	}
	src := "host \"w\" {\n  address = \"w.corp.example\"\n  os = \"windows\"\n  winrm {\n    ccache = \"/tmp/krb5cc_0\"\n  }\n}\n"
	if _, diags := Parse([]byte(src), "test.hcl", pol); !diags.HasErrors() || diags[0].Summary != "Kerberos setting without Kerberos" {
		t.Errorf("ccache with ntlm: %v", diags)
	}
}
