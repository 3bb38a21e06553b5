package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/policies"
)

func TestSelectHosts(t *testing.T) {
	pol, diags := policies.LoadPack(12, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Setenv("PW_WINRM_PASSWORD", "x")
	t.Setenv("PW_SUDO_PASSWORD", "x")
	inv, diags := inventory.Load("../../examples/site.hcl", pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	all := func() []string {
		var n []string
		for _, h := range inv.Hosts {
			n = append(n, h.Name)
		}
		return n
	}()
	for _, tc := range []struct {
		name          string
		hosts, groups []string
		want          []string // nil: every host
		err           string
	}{
		{name: "none"},
		{name: "one", hosts: []string{"repo01"}, want: []string{"repo01"}},
		{name: "glob", hosts: []string{"repo*"}, want: []string{"repo01", "repo-dr"}},
		{name: "class", hosts: []string{"hv0[12]"}, want: []string{"hv01", "hv02"}},
		{name: "only exclusion", hosts: []string{"!wan-*"}, want: without(all, "wan-hq", "wan-dr")},
		{name: "glob minus name", hosts: []string{"repo*", "!repo-dr"}, want: []string{"repo01"}},
		{name: "group minus host", groups: []string{"hyperv"}, hosts: []string{"!hv02"}, want: []string{"hv01"}},
		{name: "excluded group", groups: []string{"!hyperv"}, want: without(all, "hv01", "hv02")},
		{name: "host or group", groups: []string{"hyperv"}, hosts: []string{"repo01"}, want: []string{"hv01", "hv02", "repo01"}},
		{name: "no match", hosts: []string{"repo*", "nfs*"}, err: `--host "nfs*" matches no host`},
		{name: "exclusion no match", hosts: []string{"!rep01"}, err: `--host "rep01" matches no host`},
		{name: "typo suggests", groups: []string{"hyper"}, err: `Did you mean "hyperv"?`},
		{name: "bad glob", hosts: []string{"repo["}, err: "not a valid glob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, diags := selectHosts(inv, tc.hosts, tc.groups)
			if tc.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.err) {
					t.Fatalf("diags %v, want %q", diags, tc.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if tc.want == nil {
				if sel != nil {
					t.Fatalf("no filter selected %v", sel)
				}
				return
			}
			var got []string
			for _, n := range all {
				if sel[n] {
					got = append(got, n)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("selected %v, want %v", got, tc.want)
			}
		})
	}
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, n := range all {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}
