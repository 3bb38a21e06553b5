package firewall

import (
	"testing"
)

// FuzzLinuxFacts: any output of a Linux host parses without a panic
// through detection and both backends' State, and a state it accepts
// holds only valid, zone-free sources and ports.
func FuzzLinuxFacts(f *testing.F) {
	f.Fuzz(func(t *testing.T, out string) {
		facts := ParseFacts(out)
		if b, err := Detect(facts, "auto", ""); err == nil {
			checkFuzzedState(t, b, facts)
		}
		checkFuzzedState(t, &NFTables{}, facts)
		checkFuzzedState(t, &IPTables{}, facts)
	})
}

// FuzzWindowsFacts does the same for the Windows backend.
func FuzzWindowsFacts(f *testing.F) {
	f.Fuzz(func(t *testing.T, out string) {
		checkFuzzedState(t, Windows{}, ParseFacts(out))
	})
}

func checkFuzzedState(t *testing.T, b Backend, facts Facts) {
	st, err := b.State(facts)
	if err != nil {
		return
	}
	rules := st.Rules
	if st.Management != nil {
		rules = append(rules[:len(rules):len(rules)], *st.Management)
	}
	for _, r := range rules {
		for _, p := range r.Sources {
			if !p.IsValid() || p.Addr().Zone() != "" {
				t.Errorf("%T: rule %s has source %v", b, r.Key(), p)
			}
		}
		for _, pr := range r.Ports {
			if pr.Hi < pr.Lo {
				t.Errorf("%T: rule %s has port range %v", b, r.Key(), pr)
			}
		}
	}
}
