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
