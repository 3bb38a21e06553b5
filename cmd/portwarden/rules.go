package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// rules connects to no host: it needs no secret.
	c, code := parseOffline("rules", "rules --inventory FILE [--host NAME ...] [--policy DIR] [--format text|json]", args, stderr)
	if code >= 0 {
		return code
	}
	// Each host is written as soon as its rules are computed and then
	// let go: a large inventory's rules never exist all at once.
	jw := newHostsWriter(stdout)
	text := bufio.NewWriterSize(stdout, hostsFlushAt)
	first := true
	_, _, ok := computeRulesEach(ctx, &c, stderr, func(hr *orchestrator.HostRules) {
		if c.format == "json" {
			jw.addFunc(func(w *bytes.Buffer) error { return appendHostRulesJSON(w, hr) })
			return
		}
		if !first {
			fmt.Fprintln(text)
		}
		first = false
		writeHostRulesText(text, hr)
	})
	if !ok {
		return 1
	}
	code = 0
	if len(c.skipped) > 0 {
		code = 1
	}
	if c.format == "json" {
		return max(code, jw.close(stderr, nil))
	}
	if err := text.Flush(); err != nil {
		fmt.Fprintf(stderr, "Error: writing the rules: %s\n", err)
		return 1
	}
	return code
}

// jsonRules is the stable wire form of `portwarden rules --format json`.
type jsonRules struct {
	FormatVersion string          `json:"format_version"`
	Hosts         []jsonHostRules `json:"hosts"`
}

type jsonHostRules struct {
	Name    string     `json:"name"`
	Address string     `json:"address"`
	OS      string     `json:"os"`
	Managed bool       `json:"managed"`
	Roles   []string   `json:"roles"`
	Rules   []jsonRule `json:"rules"`
	Notes   []string   `json:"notes"`
}

type jsonRule struct {
	Protocol string                `json:"protocol"`
	Ports    []string              `json:"ports"`
	Sources  []string              `json:"sources"`
	Reasons  []orchestrator.Reason `json:"reasons"`
}

func toJSONRule(r orchestrator.Rule) jsonRule {
	return jsonRule{Protocol: r.Protocol, Ports: rule.PortStrings(r.Ports), Sources: rule.PrefixStrings(r.Sources), Reasons: r.Reasons}
}

func hostRulesJSON(hr *orchestrator.HostRules) jsonHostRules {
	h := jsonHostRules{Name: hr.Host.Name, Address: hr.Host.Address, OS: hr.Host.OS, Managed: hr.Host.Managed,
		Roles: hr.Roles, Rules: make([]jsonRule, 0, len(hr.Rules)), Notes: hr.Notes}
	if h.Notes == nil {
		h.Notes = []string{}
	}
	for _, r := range hr.Rules {
		h.Rules = append(h.Rules, toJSONRule(r))
	}
	return h
}

// writeHostRulesText prints a host's rules like the plan prints changes:
// a line per rule, then its reasons indented beneath, so that long
// descriptions never widen a table.
func writeHostRulesText(w io.Writer, hr *orchestrator.HostRules) {
	h := hr.Host
	managed := ""
	if !h.Managed {
		managed = ", not managed: open these by hand"
	}
	fmt.Fprintf(w, "%s (%s, %s%s)\n", h.Name, h.Address, h.OS, managed)
	fmt.Fprintf(w, "  roles: %s\n", strings.Join(hr.Roles, ", "))
	if len(hr.Rules) == 0 {
		fmt.Fprintf(w, "  no inbound rules needed\n")
	}
	width := 0
	for _, r := range hr.Rules {
		width = max(width, len(r.Spec()))
	}
	for _, r := range hr.Rules {
		spec := r.Spec()
		fmt.Fprintf(w, "  %-*s  from %s\n", width, spec, rule.JoinPrefixes(r.Sources))
		for _, rs := range r.Reasons {
			fmt.Fprintf(w, "      %s\n", reasonText(rs))
		}
	}
	for _, n := range hr.Notes {
		fmt.Fprintf(w, "  note: %s\n", oneLine(n))
	}
}

// reasonText cites the pack and the section of the page the flow encodes:
// "[veeam-v13: Backup Proxies]".
func reasonText(r orchestrator.Reason) string {
	return oneLine(fmt.Sprintf("%s → %s: %s [%s: %s]", r.FromRole, r.ToRole, r.Description, r.Pack, r.Section))
}

// computeRules loads the policy and inventory, resolves host names and
// computes every host's rules, keeping the hosts --host and --group
// select. A DNS name that does not resolve is a diagnostic at its address:
// that host and the hosts whose rules need its address are left out (in
// c.skipped, as failed plans), the others go on. On any other error it says
// so on stderr and returns ok false: nothing may touch a host then.
func computeRules(ctx context.Context, c *common, stderr io.Writer) (*inventory.Inventory, orchestrator.Addresses, []*orchestrator.HostRules, bool) {
	var hrs []*orchestrator.HostRules
	inv, addrs, ok := computeRulesEach(ctx, c, stderr, func(hr *orchestrator.HostRules) { hrs = append(hrs, hr) })
	if !ok {
		return nil, nil, nil, false
	}
	return inv, addrs, hrs, true
}

// computeRulesEach is computeRules handing each kept host's rules to each
// as soon as they are computed (orchestrator.ComputeEach), so that rules
// can write a large inventory host by host without holding every host's
// sources. each is never called when ok is false.
func computeRulesEach(ctx context.Context, c *common, stderr io.Writer, each func(*orchestrator.HostRules)) (*inventory.Inventory, orchestrator.Addresses, bool) {
	loading.Store(true)
	defer loading.Store(false)
	pol, inv := load(c, stderr)
	if inv == nil {
		return nil, nil, false
	}
	addrs, missing, diags := resolveHosts(ctx, inv, false)
	for _, d := range diags { // a host not selected only warns
		if h := hostAt(inv, d.Subject); h != nil && !c.selected(h) {
			d.Severity = hcl.DiagWarning
		}
	}
	err := orchestrator.ComputeEach(inv, pol, addrs, func(hr *orchestrator.HostRules) {
		if !c.selected(hr.Host) {
			return
		}
		need := needsPlaceholder(hr, inv, addrs, missing)
		switch {
		case missing[hr.Host.Name]:
			c.skip(hr.Host, fmt.Errorf("its address %s did not resolve (%s)", shownAddress(hr.Host), hr.Host.AddressRange))
		case len(need) > 0:
			c.skip(hr.Host, fmt.Errorf("its rules need the address of %s, which did not resolve", strings.Join(need, ", ")))
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Host left out",
				Detail:   fmt.Sprintf("Host %q is left out: its rules need the address of %s, which did not resolve.", hr.Host.Name, strings.Join(need, ", ")),
				Subject:  hr.Host.DeclRange.Ptr(),
			})
		default:
			each(hr)
		}
	})
	if err != nil {
		writeDiags(stderr, c.format, inv.Files, diags)
		fmt.Fprintf(stderr, "Error: %s\nNothing was changed on any host.\n", err)
		return nil, nil, false
	}
	if writeDiagList(stderr, c.format, inv.Files, diags) && c.format != "json" {
		fmt.Fprintf(stderr, "%s left out; the other hosts go on.\n", countHosts(len(c.skipped)))
	}
	return inv, withoutPlaceholders(addrs), true
}

// hostAt is the host whose address is at rng, or nil.
func hostAt(inv *inventory.Inventory, rng *hcl.Range) *inventory.Host {
	for _, h := range inv.Hosts {
		if rng != nil && h.AddressRange == *rng {
			return h
		}
	}
	return nil
}

// skip records a host that cannot be worked on while the others go on.
func (c *common) skip(h *inventory.Host, err error) {
	c.skipped = append(c.skipped, &orchestrator.HostPlan{Host: h, Err: err})
}
