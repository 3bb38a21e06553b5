package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/portwarden/portwarden/rule"
)

// Fake is a Backend for tests of other packages that need no host: Apply
// records the desired state and returns a script in the fake command
// language of transport/transporttest, which stores the state on the fake
// host and prints it back; State returns what was stored as the owned
// state. A plan after an apply of the same Desired is therefore empty,
// as on a real backend.
//
// The zero value is ready to use; one Fake may serve many hosts at once.
type Fake struct {
	mu      sync.Mutex
	applied []Desired
}

// FakeSection is the facts section the fake host stores the state in.
const FakeSection = "fake"

// FakeFactsScript prints the fake host's stored state, and the session
// section a Linux facts script prints (what a test stored as the host's
// view of $SSH_CONNECTION): the facts script that goes with Fake.
var FakeFactsScript = Script{Shell: "sh", Body: "print " + FakeSection + "\nprint " + linuxSecSession + "\n"}

// Name implements Backend.
func (*Fake) Name() string { return "fake" }

// Applied returns every Desired that Apply was given, in order.
func (f *Fake) Applied() []Desired {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Desired(nil), f.applied...)
}

// Apply implements Backend: the script stores d (as JSON on stdin) and
// prints it back.
func (f *Fake) Apply(_ Facts, d Desired) (Script, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return Script{}, fmt.Errorf("encoding fake state: %w", err)
	}
	f.mu.Lock()
	f.applied = append(f.applied, d)
	f.mu.Unlock()
	return Script{Shell: "sh", Body: "put " + FakeSection + "\nprint " + FakeSection + "\n", Stdin: body}, nil
}

// State implements Backend: nothing stored means nothing installed.
func (*Fake) State(facts Facts) (State, error) {
	raw := strings.TrimSpace(facts[FakeSection])
	st := State{Backend: "fake"}
	if raw == "" {
		return st, nil
	}
	var d Desired
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return State{}, fmt.Errorf("parsing fake state: %w", err)
	}
	st.Installed, st.Mode = true, d.Mode
	for _, r := range d.Rules {
		st.Rules = append(st.Rules, r.Normalize())
	}
	if d.Mode == rule.Enforce && d.ManagementPort != 0 {
		m := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: d.ManagementPort, Hi: d.ManagementPort}},
			Sources: append([]netip.Prefix(nil), d.ManagementSources...)}.Normalize()
		st.Management = &m
	}
	return st, nil
}
