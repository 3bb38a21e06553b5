package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/portwarden/portwarden/orchestrator"
)

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var auto, probe *bool
	var planFile *string
	s, r, code := prepare(ctx, "apply", "apply --inventory FILE [--host NAME ...] [--auto-approve | --plan FILE] [--parallel N] [--probe]", args, stderr,
		func(fs *flag.FlagSet) {
			auto = fs.Bool("auto-approve", false, "apply without asking for confirmation")
			probe = fs.Bool("probe", false, "after applying, probe over real TCP from managed Linux peers that the ports pass")
			planFile = fs.String("plan", "", "apply only if every host still needs exactly the changes that plan --out saved to `file` (the reviewed plan is the approval)")
		})
	if code >= 0 {
		return code
	}
	defer s.engine.Close()
	var saved *jsonPlan
	if *planFile != "" {
		p, err := loadPlan(*planFile)
		if err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return 1
		}
		saved = p
	}
	if r.format == "json" && !*auto && saved == nil {
		fmt.Fprintln(stderr, "portwarden apply: --format json needs --auto-approve (there is no one to ask)")
		return 1
	}

	s.prog.start("Planning", len(s.managed()))
	plans := append(s.engine.Plan(ctx, s.rules), s.skipped...)
	s.prog.finish()
	sum := orchestrator.Summarize(plans)
	if r.format == "text" {
		writePlanText(stdout, plans)
	}
	if saved != nil {
		if diffs := comparePlans(*saved, planJSON(plans)); len(diffs) > 0 {
			fmt.Fprintf(stderr, "Error: the hosts no longer match the saved plan %s, so nothing was applied:\n", *planFile)
			for _, d := range diffs {
				fmt.Fprintf(stderr, "  - %s\n", d)
			}
			fmt.Fprintln(stderr, "Run plan --out again and review the new plan.")
			return 1
		}
	}
	if sum.Hosts > 0 {
		if !*auto && saved == nil && !confirm(stdin, stdout, sum.Hosts) {
			fmt.Fprintln(stdout, "\nApply cancelled. Nothing was changed.")
			return 1
		}
		s.prog.start("Applying", sum.Hosts)
		s.engine.Apply(ctx, plans)
		s.prog.finish()
	}
	var probes []*orchestrator.Probe
	if *probe {
		probes = s.probe(ctx, plans)
	}
	if r.format == "json" {
		return writeResultJSON(stdout, stderr, plans, probes, true)
	}
	return writeApplyText(stdout, plans, probes, sum.Hosts > 0)
}

func writeApplyText(w io.Writer, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, changed bool) int {
	var applied, failed []string
	for _, p := range plans {
		switch {
		case p.Err != nil:
			failed = append(failed, p.Host.Name)
		case p.ApplyErr != nil:
			failed = append(failed, p.Host.Name)
			fmt.Fprintf(w, "  ✗ %s: %s\n", p.Host.Name, indentRest(p.ApplyErr.Error(), "      "))
			for _, c := range p.Remaining {
				writeChange(w, c)
			}
		case p.Applied:
			applied = append(applied, p.Host.Name)
		}
	}
	code := 0
	if changed {
		fmt.Fprintf(w, "\nApply complete: %s changed and verified by read-back, %d unchanged, %d failed.\n",
			countHosts(len(applied)), len(plans)-len(applied)-len(failed), len(failed))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "Failed: %s. Each failed host was left as it was; the others are done.\n", strings.Join(failed, ", "))
		code = 1
	}
	if probes != nil {
		if writeProbesText(w, probes) > 0 {
			code = 1
		}
	}
	return code
}

// writeResultJSON writes the plan document with apply results (withApply)
// or verification results, and probes; it returns the exit code.
func writeResultJSON(stdout, stderr io.Writer, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, withApply bool) int {
	out := planJSON(plans)
	code := 0
	for i, p := range plans {
		if withApply {
			applied := p.Applied && p.ApplyErr == nil
			out.Hosts[i].Applied = &applied
			if p.ApplyErr != nil {
				out.Hosts[i].Error = p.ApplyErr.Error()
			}
		}
		out.Hosts[i].Remaining = toJSONChanges(p.Remaining)
		if p.Failed() {
			code = 1
		}
	}
	if probesFailed(probes) > 0 {
		code = 1
	}
	v := struct {
		jsonPlan
		Probes []jsonProbe `json:"probes,omitempty"`
	}{out, probesJSON(probes)}
	if c := writeJSON(stdout, stderr, v); c != 0 {
		return c
	}
	return code
}

// probesFailed counts the TCP probes that did not pass.
func probesFailed(probes []*orchestrator.Probe) int {
	n := 0
	for _, pr := range probes {
		if !pr.OK() && pr.Outcome != orchestrator.NotProbed {
			n++
		}
	}
	return n
}
