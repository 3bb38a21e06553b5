package main

import (
	"testing"
)

// FuzzSavedPlan: any file given to apply --plan is read without a panic,
// and a plan that reads (without failed hosts) compares equal to itself (apply goes ahead only
// when the plan made now matches it).
func FuzzSavedPlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePlan(b, "fuzz.json")
		if err != nil {
			return
		}
		for _, h := range p.Hosts {
			if h.Error != "" {
				return // a host that cannot be planned now always differs
			}
		}
		if d := comparePlans(*p, *p); len(d) != 0 {
			t.Errorf("a plan differs from itself: %q", d)
		}
	})
}
