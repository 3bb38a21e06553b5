package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/rule"
)

func TestFakeStateIsWhatWasApplied(t *testing.T) {
	var f Fake
	if st, err := f.State(Facts{}); err != nil || st.Installed {
		t.Fatalf("empty host: %+v, %v", st, err)
	}
	d := Desired{Mode: rule.Enforce, ManagementPort: 22, ManagementSources: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")},
		Rules: []rule.Rule{{Protocol: "TCP", Ports: []rule.PortRange{{Lo: 10, Hi: 20}, {Lo: 21, Hi: 30}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.4/32")}}}}
	s, err := f.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Body, "put "+FakeSection) || len(s.Stdin) == 0 {
		t.Fatalf("script %+v does not store the state", s)
	}
	st, err := f.State(Facts{FakeSection: string(s.Stdin)})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Installed || st.Mode != rule.Enforce || len(st.Rules) != 1 || st.Rules[0].Key() != "tcp/10-30" {
		t.Errorf("state %+v", st)
	}
	if st.Management == nil || st.Management.Key() != "tcp/22" || st.Management.Sources[0] != d.ManagementSources[0] {
		t.Errorf("management %+v", st.Management)
	}
	if got := f.Applied(); len(got) != 1 || got[0].Mode != rule.Enforce {
		t.Errorf("Applied = %+v", got)
	}
	if _, err := f.State(Facts{FakeSection: "{not json"}); err == nil {
		t.Error("nonsense state was accepted")
	}
}
