package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// runShow renders a plan saved with plan --out, as plan shows it.
func runShow(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newPlainFlagSet("show", "show [--format text|json|markdown] PLAN.json", stderr)
	format := new(string)
	fs.Var(newChoice(format, "text", "text", "json", "markdown"), "format", "output format: text (the plan view), json (the plan document) or markdown (for a pull request)")
	paths, code := parseArgs(fs, args)
	if code >= 0 {
		return code
	}
	if len(paths) != 1 {
		fmt.Fprintf(stderr, "portwarden show: want one saved plan file, got %d arguments\n", len(paths))
		return 1
	}
	p, err := loadPlan(paths[0])
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
	switch *format {
	case "json":
		return writeJSON(stdout, stderr, p)
	case "text", "markdown":
	default:
		fmt.Fprintf(stderr, "portwarden show: --format must be text, json or markdown, not %q\n", *format)
		return 1
	}
	plans, err := plansFromJSON(p)
	if err != nil {
		fmt.Fprintf(stderr, "Error: reading the saved plan %s: %s\n", paths[0], err)
		return 1
	}
	if *format == "markdown" {
		writePlanMarkdown(stdout, plans)
	} else {
		writePlanText(stdout, plans)
	}
	return 0
}

// writePlanMarkdown is the plan view for a pull request or a ticket: the
// summary, then each host's changes in a diff block (+ green, - red).
func writePlanMarkdown(w io.Writer, plans []*orchestrator.HostPlan) {
	var sum bytes.Buffer
	writeSummary(&sum, plans)
	fmt.Fprintf(w, "## portwarden plan\n\n%s", sum.String())
	for _, p := range plans {
		var b bytes.Buffer
		writeHostPlan(&b, p)
		if b.Len() == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s (%s)\n\n```diff\n", p.Host.Name, p.Host.Address)
		for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			// A diff block colours a line by its first character.
			if t := strings.TrimLeft(l, " "); len(t) > 1 && strings.ContainsRune("+-~!", rune(t[0])) && t[1] == ' ' {
				l = t
			}
			fmt.Fprintln(w, l)
		}
		fmt.Fprintf(w, "```\n")
	}
}

// plansFromJSON turns a saved plan document back into host plans for the
// plan view. It is pure; it is the inverse of planJSON for what the view
// shows.
func plansFromJSON(doc *jsonPlan) ([]*orchestrator.HostPlan, error) {
	var out []*orchestrator.HostPlan
	for _, jh := range doc.Hosts {
		h := &inventory.Host{Name: jh.Name, Address: jh.Address, OS: jh.OS}
		p := &orchestrator.HostPlan{Host: h, Backend: jh.Backend, Rules: &orchestrator.HostRules{Host: h, Notes: jh.Notes},
			Desired: firewall.Desired{Mode: rule.Mode(jh.Mode)}, Current: firewall.State{Warnings: jh.Warnings}}
		if jh.Error != "" {
			p.Err = errors.New(jh.Error)
		}
		for _, jc := range jh.Changes {
			c, err := changeFromJSON(jc)
			if err != nil {
				return nil, fmt.Errorf("host %s: %w", jh.Name, err)
			}
			p.Changes = append(p.Changes, c)
		}
		out = append(out, p)
	}
	return out, nil
}

func changeFromJSON(jc jsonChange) (orchestrator.Change, error) {
	c := orchestrator.Change{Kind: orchestrator.ChangeKind(jc.Kind), Detail: jc.Detail, Reasons: jc.Reasons}
	actions := map[string]orchestrator.Action{}
	for _, a := range []orchestrator.Action{orchestrator.Create, orchestrator.Delete, orchestrator.Update} {
		actions[a.Wire()] = a
	}
	a, ok := actions[jc.Action]
	if !ok {
		return c, fmt.Errorf("unknown action %q", jc.Action)
	}
	c.Action = a
	if jc.Kind == "mode" || jc.Kind == "drift" {
		return c, nil
	}
	r := rule.Rule{Protocol: jc.Protocol}
	for _, s := range jc.Ports {
		pr, err := rule.ParsePortRange(s)
		if err != nil {
			return c, err
		}
		r.Ports = append(r.Ports, pr)
	}
	var err error
	if r.Sources, err = parsePrefixes(jc.Sources); err != nil {
		return c, err
	}
	switch a {
	case orchestrator.Create:
		c.After = &r
	case orchestrator.Delete:
		c.Before = &r
	case orchestrator.Update:
		before := r
		if before.Sources, err = parsePrefixes(jc.BeforeSources); err != nil {
			return c, err
		}
		c.Before, c.After = &before, &r
	}
	return c, nil
}

// parsePrefixes reads prefixStrings' output: CIDRs and bare addresses.
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("source %q: %w", s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}
