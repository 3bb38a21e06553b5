package inventory

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestWinRMRiskyAuthNeedsWords covers Basic over plain HTTP (refused
// unless allow_basic_over_http_cleartext_password says so, then warned)
// and insecure = true (warned).
func TestWinRMRiskyAuthNeedsWords(t *testing.T) {
	pol := builtin(t)
	host := func(winrm string) string {
		return "host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n" + winrm + "  }\n}\n"
	}
	tests := []struct {
		name, winrm string
		err         bool
		want        string // in a diagnostic's summary or detail
	}{
		{"basic over http refused", "    https = false\n    allow_unencrypted = true\n    auth = \"basic\"\n", true, "allow_basic_over_http_cleartext_password"},
		{"basic over http accepted in words", "    https = false\n    allow_unencrypted = true\n    auth = \"basic\"\n    allow_basic_over_http_cleartext_password = true\n", false, "Cleartext WinRM password"},
		{"insecure warns", "    insecure = true\n", false, "Unverified WinRM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse([]byte(host(tt.winrm)), "test.hcl", pol)
			if diags.HasErrors() != tt.err {
				t.Fatalf("errors = %v, want errors %t", diags, tt.err)
			}
			found := false
			for _, d := range diags {
				if strings.Contains(d.Summary+" "+d.Detail, tt.want) && (tt.err || d.Severity == hcl.DiagWarning) {
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnostic mentioning %q in %v", tt.want, diags)
			}
		})
	}
}

// TestSSHInsecureHostKeyWarns: skipping the host key check is allowed
// (for a first contact in a lab) but warned, at the attribute.
func TestSSHInsecureHostKeyWarns(t *testing.T) {
	pol := builtin(t)
	src := "host \"l\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  ssh {\n    insecure_ignore_host_key = true\n  }\n}\n"
	inv, diags := Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() || !inv.Host("l").SSH.InsecureIgnoreHostKey {
		t.Fatalf("refused or not set: %v", diags)
	}
	var warned bool
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && d.Summary == "Unverified SSH host key" && d.Subject != nil && d.Subject.Start.Line == 5 {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning at the attribute: %v", diags)
	}
	if _, diags := Parse([]byte(strings.Replace(src, "true", "false", 1)), "test.hcl", pol); len(diags) != 0 {
		t.Errorf("warned without the attribute set: %v", diags)
	}
}

func TestWinRMServerNameAndPinAttrs(t *testing.T) {
	pol := builtin(t)
	pin := strings.Repeat("AB:", 31) + "AB"
	src := "host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n    tls_server_name = \"w.corp.example\"\n    cert_sha256 = \"" + pin + "\"\n  }\n}\n"
	inv, diags := Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c := inv.Host("w").WinRM; c.TLSServerName != "w.corp.example" || c.CertSHA256 != pin {
		t.Errorf("got %q %q", c.TLSServerName, c.CertSHA256)
	}
	for _, bad := range []struct{ attr, want, pos string }{
		{`cert_sha256 = "ab:cd"`, "Invalid cert_sha256", "test.hcl:5,19"},
		{`tls_server_name = "not a name"`, "Invalid tls_server_name", "test.hcl:5,23"},
	} {
		src := "host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n    " + bad.attr + "\n  }\n}\n"
		_, diags := Parse([]byte(src), "test.hcl", pol)
		if !diags.HasErrors() || diags[0].Summary != bad.want || !strings.HasPrefix(diags[0].Subject.String(), bad.pos) {
			t.Errorf("%s: %v, want %s at %s", bad.attr, diags, bad.want, bad.pos)
		}
	}
}
