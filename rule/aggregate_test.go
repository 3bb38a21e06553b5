package rule

import (
	"net/netip"
	"slices"
	"testing"
)

func TestAggregatePrefixes(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name     string
		in, want []netip.Prefix
	}{
		{"none", nil, nil},
		{"one host is masked", pp("192.0.2.7/24"), pp("192.0.2.0/24")},
		{"adjacent pair merges", pp("192.0.2.3/32", "192.0.2.2/32"), pp("192.0.2.2/31")},
		{"misaligned pair stays apart", pp("192.0.2.1/32", "192.0.2.2/32"), pp("192.0.2.1/32", "192.0.2.2/32")},
		{"four make a /30", pp("10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"), pp("10.0.0.0/30")},
		{"covered prefix disappears", pp("10.0.0.0/24", "10.0.0.9/32", "10.0.0.0/24"), pp("10.0.0.0/24")},
		{"families stay apart, v4 first", pp("fd00::1/128", "192.0.2.1/32", "fd00::/128"), pp("192.0.2.1/32", "fd00::/127")},
		{"duplicates collapse", pp("192.0.2.9/32", "192.0.2.9/32"), pp("192.0.2.9/32")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AggregatePrefixes(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("AggregatePrefixes(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// A rule read back from a host as the aggregated prefixes equals the rule
// computed from the single addresses: Diff sees no change.
func TestNormalizeReadBackEqualsComputed(t *testing.T) {
	computed := Rule{Protocol: "TCP", Ports: []PortRange{{2500, 3300}}, Sources: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.4/32"), netip.MustParsePrefix("198.18.0.5/32"), netip.MustParsePrefix("198.18.0.6/32")}}.Normalize()
	readBack := Rule{Protocol: "tcp", Ports: []PortRange{{2500, 3300}}, Sources: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.6/32"), netip.MustParsePrefix("198.18.0.4/31")}}.Normalize()
	if !slices.Equal(computed.Sources, readBack.Sources) || computed.Key() != readBack.Key() {
		t.Fatalf("computed %v, read back %v", computed, readBack)
	}
}
