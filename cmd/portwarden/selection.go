package main

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/policies"
)

// selectHosts applies --host and --group as Ansible's --limit does: each
// pattern is a glob (path.Match); the hosts any plain pattern matches are
// selected (all hosts when there is none), then the hosts a "!pattern"
// matches are removed. A pattern that matches nothing is an error naming
// it: a typo must not silently select fewer hosts. nil means every host.
func selectHosts(inv *inventory.Inventory, hosts, groups []string) (map[string]bool, hcl.Diagnostics) {
	if len(hosts) == 0 && len(groups) == 0 {
		return nil, nil
	}
	var diags hcl.Diagnostics
	var names []string
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	// members returns the hosts a pattern picks: by name, or by group.
	members := func(flag, pattern string) []string {
		var out []string
		candidates := names
		if flag == "group" {
			candidates = inv.GroupNames()
		}
		matched := false
		for _, cand := range candidates {
			ok, err := path.Match(pattern, cand)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid pattern",
					Detail: fmt.Sprintf("--%s %q is not a valid glob: %s.", flag, pattern, err)})
				return nil
			}
			if !ok {
				continue
			}
			matched = true
			for _, h := range inv.Hosts {
				if (flag == "host" && h.Name == cand) || (flag == "group" && slices.Contains(h.Groups, cand)) {
					out = append(out, h.Name)
				}
			}
		}
		if !matched {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown " + flag,
				Detail:   fmt.Sprintf("--%s %q matches no %s of the inventory.%s", flag, pattern, flag, policies.Suggest(pattern, candidates)),
			})
		}
		return out
	}
	sel := map[string]bool{}
	var excluded []string
	positive := false
	for _, f := range []struct {
		flag     string
		patterns []string
	}{{"host", hosts}, {"group", groups}} {
		for _, p := range f.patterns {
			if rest, ok := strings.CutPrefix(p, "!"); ok {
				excluded = append(excluded, members(f.flag, rest)...)
				continue
			}
			positive = true
			for _, n := range members(f.flag, p) {
				sel[n] = true
			}
		}
	}
	if !positive {
		for _, n := range names {
			sel[n] = true
		}
	}
	for _, n := range excluded {
		delete(sel, n)
	}
	return sel, diags
}

// selected reports whether the --host and --group filters pick h.
func (c *common) selected(h *inventory.Host) bool {
	return c.selection == nil || c.selection[h.Name]
}
