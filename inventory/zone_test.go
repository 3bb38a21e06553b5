package inventory

import (
	"strings"
	"testing"
)

// An IPv6 zone is refused wherever the inventory names an address.
func TestZonesRefused(t *testing.T) {
	pol := builtin(t)
	for _, tc := range []struct{ name, src, summary string }{
		{"host address", "host \"a\" {\n  address = \"fe80::1%eth0\"\n  os = \"linux\"\n}\n", "Invalid address"},
		{"network cidr", "network \"n\" {\n  cidrs = [\"fe80::1%eth0\"]\n  roles = [\"console\"]\n}\n", "Invalid CIDR"},
		{"network prefix", "network \"n\" {\n  cidrs = [\"fe80::%eth0/64\"]\n  roles = [\"console\"]\n}\n", "Invalid CIDR"},
		{"zone with shell", "network \"n\" {\n  cidrs = [\"fe80::1%$(touch x)\"]\n  roles = [\"console\"]\n}\n", "Invalid CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Parse([]byte(tc.src), "test.hcl", pol)
			if !diags.HasErrors() {
				t.Fatal("accepted")
			}
			if d := diags[0]; d.Summary != tc.summary || d.Subject == nil {
				t.Errorf("got %s: %s (subject %v), want %q with a range", d.Summary, d.Detail, d.Subject, tc.summary)
			}
			if !strings.Contains(diags[0].Detail, "zone") {
				t.Errorf("the detail does not name the zone: %s", diags[0].Detail)
			}
		})
	}
}
