package winfw

import (
	"slices"
	"testing"
)

func TestParseMutexSDDL(t *testing.T) {
	for _, tc := range []struct {
		sddl   string
		grants []string
		ok     bool
	}{
		{"D:(A;;GA;;;SY)(A;;GA;;;BA)", []string{sidSystem, sidAdmins}, true},
		{"O:SYD:P(A;;0x1F0001;;;S-1-5-32-544)", []string{sidAdmins}, true},
		{"D:", []string{}, true}, // an empty DACL grants nobody
		{"D:(D;;GA;;;WD)", nil, false},
		{"D:(A;;GR;;;BA)", nil, false},
		{"nonsense", nil, false},
	} {
		grants, ok := parseMutexSDDL(tc.sddl)
		if ok != tc.ok || !slices.Equal(grants, tc.grants) || (tc.ok && grants == nil) {
			t.Errorf("parseMutexSDDL(%q) = %q, %v; want %q, %v", tc.sddl, grants, ok, tc.grants, tc.ok)
		}
	}
}
