package rule

import (
	"net/netip"
	"testing"
)

func TestSpecAndJoinPrefixes(t *testing.T) {
	tests := []struct {
		name   string
		protos []string
		ports  []PortRange
		want   string
	}{
		{"one port", []string{"tcp"}, []PortRange{{Lo: 22, Hi: 22}}, "tcp/22"},
		{"range and port", []string{"tcp"}, []PortRange{{Lo: 22, Hi: 22}, {Lo: 2500, Hi: 3300}}, "tcp/22,2500-3300"},
		{"two protocols", []string{"tcp", "udp"}, []PortRange{{Lo: 53, Hi: 53}}, "tcp+udp/53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Spec(tt.protos, tt.ports); got != tt.want {
				t.Errorf("Spec = %q, want %q", got, tt.want)
			}
		})
	}
	r := Rule{Protocol: "udp", Ports: []PortRange{{Lo: 111, Hi: 111}}}
	if r.Spec() != "udp/111" || r.Key() != r.Spec() {
		t.Errorf("Rule.Spec = %q, Key = %q", r.Spec(), r.Key())
	}
	ps := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("fd70::1/128")}
	if got, want := JoinPrefixes(ps), "192.0.2.1, 198.18.0.0/24, fd70::1"; got != want {
		t.Errorf("JoinPrefixes = %q, want %q", got, want)
	}
	if got := JoinPrefixes(nil); got != "" {
		t.Errorf("JoinPrefixes(nil) = %q, want empty", got)
	}
}
