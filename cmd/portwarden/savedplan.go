package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/portwarden/portwarden/rule"
)

// savePlan writes a plan document for review and for apply --plan. It
// holds rules and addresses but never a secret.
func savePlan(path string, p jsonPlan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the plan: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".portwarden-plan-*")
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return nil
}

func loadPlan(path string) (*jsonPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	return parsePlan(b, path)
}

// parsePlan decodes a saved plan document read from path.
func parsePlan(b []byte, path string) (*jsonPlan, error) {
	var p jsonPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading the saved plan %s: not a plan document: %w", path, err)
	}
	if p.FormatVersion != formatVersion {
		return nil, fmt.Errorf("reading the saved plan %s: format_version %q, want %q", path, p.FormatVersion, formatVersion)
	}
	return &p, nil
}

// comparePlans lists, host by host, where the plan made now differs from
// the saved one: a host whose changes differ in any way (rules, sources,
// mode, drift), a host that cannot be planned now, a host only one of them
// has changes for. It is pure; an empty result means apply may go ahead.
func comparePlans(saved, now jsonPlan) []string {
	type entry struct {
		changes string
		err     string
	}
	index := func(p jsonPlan) map[string]entry {
		m := map[string]entry{}
		for _, h := range p.Hosts {
			b, _ := json.Marshal(sourcesAsSets(h.Changes))
			m[h.Name] = entry{changes: string(b), err: h.Error}
		}
		return m
	}
	a, b := index(saved), index(now)
	var names []string
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	names = slices.Compact(names)
	var out []string
	for _, n := range names {
		sa, inSaved := a[n]
		nb, inNow := b[n]
		empty := func(e entry) bool { return e.changes == "[]" || e.changes == "null" }
		switch {
		case inNow && nb.err != "":
			out = append(out, fmt.Sprintf("%s cannot be planned now: %s", n, nb.err))
		case !inSaved && !empty(nb):
			out = append(out, fmt.Sprintf("%s has changes that the saved plan does not have", n))
		case !inNow && !empty(sa):
			out = append(out, fmt.Sprintf("%s has changes in the saved plan but is not part of this run", n))
		case inSaved && inNow && sa.changes != nb.changes:
			out = append(out, fmt.Sprintf("%s changed since the plan was saved", n))
		}
	}
	return out
}

// sourcesAsSets returns changes with their sources written as sets: the
// fewest prefixes, sorted (rule.AggregatePrefixes). A plan saved by a
// release that listed every peer one by one then compares equal to the
// same plan made now. Sources that do not parse are kept as they are, so
// they still differ.
func sourcesAsSets(cs []jsonChange) []jsonChange {
	out := slices.Clone(cs)
	norm := func(ss []string) []string {
		ps, err := parsePrefixes(ss)
		if err != nil || len(ss) == 0 {
			return ss
		}
		return rule.PrefixStrings(rule.AggregatePrefixes(ps))
	}
	for i := range out {
		out[i].Sources = norm(out[i].Sources)
		out[i].BeforeSources = norm(out[i].BeforeSources)
	}
	return out
}
