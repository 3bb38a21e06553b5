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

// RemoveAddr agrees with aggregating the addresses that are left, for
// every address of a small block and around it, in both families.
func TestRemoveAddr(t *testing.T) {
	for _, base := range []string{"10.0.0.0/29", "2001:db8::/125"} {
		block := netip.MustParsePrefix(base)
		in := AggregatePrefixes([]netip.Prefix{block, netip.MustParsePrefix("192.0.2.9/32")})
		saved := slices.Clone(in)
		var addrs []netip.Addr // the block, the address before it and the one after
		for a, i := block.Addr().Prev(), 0; i < 10; a, i = a.Next(), i+1 {
			addrs = append(addrs, a)
		}
		addrs = append(addrs, netip.MustParseAddr("192.0.2.9"))
		for _, a := range addrs {
			var left []netip.Prefix
			for _, p := range in {
				for b := p.Addr(); p.Contains(b); b = b.Next() {
					if b != a {
						left = append(left, netip.PrefixFrom(b, b.BitLen()))
					}
				}
			}
			want := AggregatePrefixes(left)
			got := RemoveAddr(in, a)
			if !slices.Equal(got, want) {
				t.Errorf("RemoveAddr(%v, %v) = %v, want %v", in, a, got, want)
			}
		}
		if !slices.Equal(saved, in) {
			t.Errorf("RemoveAddr modified its input: %v, was %v", in, saved)
		}
	}
}
