package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portwarden/portwarden/orchestrator"
)

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var auto, probe, detailed *bool
	var planFile, auditPath *string
	var one oneShot
	s, r, code := prepare(ctx, "apply", "apply --inventory FILE [--host NAME ...] [--auto-approve | --plan FILE] [--parallel N] [--probe] [--detailed-exitcode] [--max-failed N|P%] [--audit-log FILE] [--metrics-file FILE]", args, stderr,
		func(fs *flag.FlagSet) {
			detailed = fs.Bool("detailed-exitcode", false, "exit 2 when changes were made (see the exit codes in docs/drift.md: 0 nothing to do, 1 invalid input or no host done, 3 some hosts failed)")
			auditPath = fs.String("audit-log", "", "append one JSON line per host change to `file` (created 0600; never rewritten)")
			addOneShotFlags(fs, &one)
			auto = fs.Bool("auto-approve", false, "apply without asking for confirmation")
			probe = fs.Bool("probe", false, "after applying, probe over real TCP from managed Linux peers that the ports pass")
			planFile = fs.String("plan", "", "apply only if every host still needs exactly the changes that plan --out saved to `file` (the reviewed plan is the approval)")
		})
	if code >= 0 {
		return code
	}
	defer s.engine.Close()
	s.gate(one.maxFailed, stderr)
	began := time.Now()
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
	plans := s.engine.Plan(ctx, s.rules)
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
		if err := (auditLog{*auditPath}).append(auditEntries("apply", plans, inventoryDigest(s.inv), time.Now())); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitInvalid
		}
	}
	var probes []*orchestrator.Probe
	if *probe {
		probes = s.probe(ctx, plans)
	}
	if r.format == "json" {
		if c := writeJSON(stdout, stderr, resultDoc(plans, probes, true)); c != 0 {
			return c
		}
	} else {
		writeApplyText(stdout, plans, probes, sum.Hosts > 0)
	}
	if code := one.writeMetrics(plans, began, stderr); code >= 0 {
		return code
	}
	return outcomeCode(plans, probesFailed(probes), applied(plans), *detailed)
}

func writeApplyText(w io.Writer, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, changed bool) {
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
	if changed {
		fmt.Fprintf(w, "\nApply complete: %s changed and verified by read-back, %d unchanged, %d failed.\n",
			countHosts(len(applied)), len(plans)-len(applied)-len(failed), len(failed))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "Failed: %s. Each failed host was left as it was; the others are done.\n", strings.Join(failed, ", "))
	}
	if probes != nil {
		writeProbesText(w, probes)
	}
}

// writeResultJSON writes the plan document with apply results (withApply)
// or verification results, and probes; it returns the exit code.
func writeResultJSON(stdout, stderr io.Writer, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, withApply bool) int {
	code := 0
	for _, p := range plans {
		if p.Failed() {
			code = 1
		}
	}
	if probesFailed(probes) > 0 {
		code = 1
	}
	if c := writeJSON(stdout, stderr, resultDoc(plans, probes, withApply)); c != 0 {
		return c
	}
	return code
}

// resultDoc is the plan document with apply results (withApply) or
// verification results, and probes.
func resultDoc(plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, withApply bool) any {
	out := planJSON(plans)
	for i, p := range plans {
		if withApply {
			applied := p.Applied && p.ApplyErr == nil
			out.Hosts[i].Applied = &applied
			if p.ApplyErr != nil {
				out.Hosts[i].Error = p.ApplyErr.Error()
			}
		}
		out.Hosts[i].Remaining = toJSONChanges(p.Remaining)
	}
	return struct {
		jsonPlan
		Probes []jsonProbe `json:"probes,omitempty"`
	}{out, probesJSON(probes)}
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
