package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("rules", "rules --inventory FILE [--host NAME ...] [--policy DIR] [--format text|json]", stderr, &c)
	if code := parseFlags(fs, args, &c); code >= 0 {
		return code
	}
	_, _, hrs, ok := computeRules(ctx, &c, stderr)
	if !ok {
		return 1
	}
	if c.format == "json" {
		return writeJSON(stdout, stderr, rulesJSON(hrs))
	}
	writeRulesText(stdout, hrs)
	return 0
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
	jr := jsonRule{Protocol: r.Protocol, Reasons: r.Reasons}
	for _, p := range r.Ports {
		jr.Ports = append(jr.Ports, p.String())
	}
	for _, s := range r.Sources {
		jr.Sources = append(jr.Sources, firewall.PrefixString(s))
	}
	return jr
}

func rulesJSON(hrs []*orchestrator.HostRules) jsonRules {
	out := jsonRules{FormatVersion: formatVersion, Hosts: []jsonHostRules{}}
	for _, hr := range hrs {
		h := jsonHostRules{Name: hr.Host.Name, Address: hr.Host.Address, OS: hr.Host.OS, Managed: hr.Host.Managed,
			Roles: hr.Roles, Rules: []jsonRule{}, Notes: hr.Notes}
		if h.Notes == nil {
			h.Notes = []string{}
		}
		for _, r := range hr.Rules {
			h.Rules = append(h.Rules, toJSONRule(r))
		}
		out.Hosts = append(out.Hosts, h)
	}
	return out
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "Error: writing JSON: %s\n", err)
		return 1
	}
	return 0
}

// writeRulesText prints each host's rules like the plan prints changes: a
// line per rule, then its reasons indented beneath, so that long
// descriptions never widen a table.
func writeRulesText(w io.Writer, hrs []*orchestrator.HostRules) {
	for i, hr := range hrs {
		if i > 0 {
			fmt.Fprintln(w)
		}
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
			width = max(width, len(r.Protocol)+1+len(firewall.PortsString(r.Ports)))
		}
		for _, r := range hr.Rules {
			spec := r.Spec()
			fmt.Fprintf(w, "  %-*s  from %s\n", width, spec, rule.JoinPrefixes(r.Sources))
			for _, rs := range r.Reasons {
				fmt.Fprintf(w, "      %s\n", reasonText(rs))
			}
		}
		for _, n := range hr.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

// reasonText cites the pack and the section of the page the flow encodes:
// "[veeam-v13: Backup Proxies]".
func reasonText(r orchestrator.Reason) string {
	return fmt.Sprintf("%s → %s: %s [%s: %s]", r.FromRole, r.ToRole, r.Description, r.Pack, r.Section)
}

// computeRules loads the policy and inventory, resolves host names and
// computes every host's rules, keeping the hosts --host and --group
// select. On any error it says so on stderr and returns ok false: nothing
// may touch a host then.
func computeRules(ctx context.Context, c *common, stderr io.Writer) (*inventory.Inventory, orchestrator.Addresses, []*orchestrator.HostRules, bool) {
	pol, inv := load(c, stderr)
	if inv == nil {
		return nil, nil, nil, false
	}
	addrs, err := orchestrator.ResolveAddresses(ctx, inv, nil)
	if err == nil {
		var all []*orchestrator.HostRules
		if all, err = orchestrator.Compute(inv, pol, addrs); err == nil {
			var hrs []*orchestrator.HostRules
			for _, hr := range all {
				if c.selected(hr.Host) {
					hrs = append(hrs, hr)
				}
			}
			return inv, addrs, hrs, true
		}
	}
	fmt.Fprintf(stderr, "Error: %s\nNothing was changed on any host.\n", err)
	return nil, nil, nil, false
}
