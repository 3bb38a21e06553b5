package orchestrator

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/rule"
)

// Action is what a plan does to one rule or to the host's policy.
type Action rune

const (
	Create Action = '+'
	Delete Action = '-'
	Update Action = '~'
)

// Wire names the JSON plan uses: stable, unlike the runes.
func (a Action) Wire() string {
	switch a {
	case Create:
		return "create"
	case Delete:
		return "delete"
	case Update:
		return "update"
	}
	return "unknown"
}

// ChangeKind says what a Change is about. Its values are also the wire
// strings of the JSON plan's "kind" (docs/json.md).
type ChangeKind string

const (
	// KindRule is a rule's ports and sources.
	KindRule ChangeKind = "rule"
	// KindMode is the inbound policy or the management rule.
	KindMode ChangeKind = "mode"
	// KindDrift is an owned object that was changed by hand.
	KindDrift ChangeKind = "drift"
)

// Change is one difference between a host and what it should have.
type Change struct {
	Action Action
	// Kind is KindRule for a rule, KindMode for the inbound policy,
	// KindDrift for an owned object that was changed by hand.
	Kind    ChangeKind
	Key     string     // the rule key (protocol/ports), or the mode/drift text
	Before  *rule.Rule // nil for Create
	After   *rule.Rule // nil for Delete
	Reasons []Reason   // why the rule is wanted (Create, Update)
	Detail  string     // mode and drift changes: what changes
}

// Diff compares what a host has with what it should have. It is pure: the
// plan that apply shows is exactly this function's result.
func Diff(hr *HostRules, want firewall.Desired, cur firewall.State) []Change {
	var out []Change
	have := map[string]rule.Rule{}
	for _, r := range cur.Rules {
		have[r.Key()] = r
	}
	reasons := map[string][]Reason{}
	if hr != nil {
		for _, r := range hr.Rules {
			reasons[r.Key()] = r.Reasons
		}
	}
	wantKeys := map[string]bool{}
	for _, w := range want.Rules {
		k := w.Key()
		wantKeys[k] = true
		h, ok := have[k]
		switch {
		case !ok:
			out = append(out, Change{Action: Create, Kind: KindRule, Key: k, After: &w, Reasons: reasons[k]})
		case !slices.Equal(h.Sources, w.Sources):
			out = append(out, Change{Action: Update, Kind: KindRule, Key: k, Before: &h, After: &w, Reasons: reasons[k]})
		}
	}
	for _, h := range cur.Rules {
		if !wantKeys[h.Key()] {
			out = append(out, Change{Action: Delete, Kind: KindRule, Key: h.Key(), Before: &h})
		}
	}
	curMode := cur.Mode
	if !cur.Installed || curMode == "" {
		curMode = rule.Additive
	}
	if curMode != want.Mode {
		detail := fmt.Sprintf("inbound policy: %s → %s", curMode, want.Mode)
		if want.Mode == rule.Enforce {
			detail += fmt.Sprintf(" (drop what no rule allows; management tcp/%d stays open from %s)",
				want.ManagementPort, prefixList(rule.Rule{Sources: want.ManagementSources}.Normalize().Sources))
			if cur.Backend == "firewalld" {
				detail += "; with firewalld: policy portwarden, which runs before every zone, gets target DROP, so the zones' own services and ports no longer let traffic in (the zones are left as they are)"
			}
		} else {
			detail += " (portwarden's rules only; the host's own policy decides the rest)"
		}
		out = append(out, Change{Action: Update, Kind: KindMode, Key: "mode", Detail: detail})
	}
	// In enforce mode the management rule is part of what portwarden owns:
	// a controller that moved must not be locked out by a stale rule.
	if want.Mode == rule.Enforce && curMode == rule.Enforce && cur.Management != nil {
		wm := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: want.ManagementPort, Hi: want.ManagementPort}},
			Sources: want.ManagementSources}.Normalize()
		if wm.Key() != cur.Management.Key() || !slices.Equal(wm.Sources, cur.Management.Sources) {
			out = append(out, Change{Action: Update, Kind: KindMode, Key: "management",
				Detail: fmt.Sprintf("management rule: %s from %s → %s from %s", cur.Management.Key(), prefixList(cur.Management.Sources),
					wm.Key(), prefixList(wm.Sources))})
		}
	}
	for _, d := range cur.Drift {
		out = append(out, Change{Action: Update, Kind: KindDrift, Key: d, Detail: d})
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) - kindOrder(b.Kind)
		}
		return compareRules(ruleOf(a), ruleOf(b))
	})
	return out
}

func kindOrder(k ChangeKind) int {
	switch k {
	case KindMode:
		return 0
	case KindDrift:
		return 1
	}
	return 2
}

func ruleOf(c Change) rule.Rule {
	if c.After != nil {
		return *c.After
	}
	if c.Before != nil {
		return *c.Before
	}
	return rule.Rule{}
}

// SourceDelta returns the sources an Update adds and removes.
func SourceDelta(c Change) (added, removed []netip.Prefix) {
	if c.Before == nil || c.After == nil {
		return nil, nil
	}
	// A set each way, not a scan per source: a rule may carry thousands.
	in := func(ps []netip.Prefix) map[netip.Prefix]bool {
		m := make(map[netip.Prefix]bool, len(ps))
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	before, after := in(c.Before.Sources), in(c.After.Sources)
	for _, s := range c.After.Sources {
		if !before[s] {
			added = append(added, s)
		}
	}
	for _, s := range c.Before.Sources {
		if !after[s] {
			removed = append(removed, s)
		}
	}
	return added, removed
}

// Summary counts a plan's changes the way the human view reports them.
type Summary struct {
	Add, Change, Remove, Hosts int
}

// Summarize counts changes over host plans; mode and drift changes count as
// changes.
func Summarize(plans []*HostPlan) Summary {
	var s Summary
	for _, p := range plans {
		if len(p.Changes) > 0 {
			s.Hosts++
		}
		for _, c := range p.Changes {
			switch c.Action {
			case Create:
				s.Add++
			case Delete:
				s.Remove++
			default:
				s.Change++
			}
		}
	}
	return s
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "nobody"
	}
	return rule.JoinPrefixes(ps)
}
