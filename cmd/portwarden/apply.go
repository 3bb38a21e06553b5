package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/orchestrator"
)

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var auto, probe, detailed, noConfirm *bool
	var planFile, auditPath, confirmBy *string
	var confirmTimeout, lockWait *time.Duration
	var one oneShot
	s, r, code := prepare(ctx, "apply", "apply --inventory FILE [--host NAME ...] [--auto-approve | --plan FILE] [--parallel N] [--probe] [--confirm-timeout D | --no-confirm] [--confirm-by greeting|login] [--detailed-exitcode] [--max-failed N|P%] [--audit-log FILE] [--metrics-file FILE]", args, stderr,
		func(fs *flag.FlagSet) {
			detailed = fs.Bool("detailed-exitcode", false, "exit 2 when changes were made (see the exit codes in docs/drift.md: 0 nothing to do, 1 invalid input or no host done, 3 some hosts failed)")
			auditPath = fs.String("audit-log", "", "append one JSON line per host change to `file` (created 0600; never rewritten)")
			addOneShotFlags(fs, &one)
			confirmTimeout = fs.Duration("confirm-timeout", firewall.DefaultConfirmTimeout, "each host restores its previous rules by itself this long after the apply unless the controller confirms that a new connection gets in (Linux: a detached process; Windows: a scheduled task; whole seconds)")
			confirmBy = fs.String("confirm-by", string(orchestrator.ConfirmByGreeting), "the `method` by which the controller proves that a new connection gets in before it confirms: greeting (a new TCP connection to the management port, answered by sshd's identification line or the WinRM listener; the confirm goes over the connection held from the apply) or login (a whole new login, and the confirm over it)")
			noConfirm = fs.Bool("no-confirm", false, "apply without commit-confirmed: no revert is armed on the hosts")
			lockWait = fs.Duration("lock-wait", firewall.DefaultLockWait, "how long to wait for another portwarden run's lock on a host before failing that host")
			auto = fs.Bool("auto-approve", false, "apply without asking for confirmation: each host is planned and applied in its own --parallel slot and its connection closed, so hosts converge while others are still planned (with --plan, or when asked, every host is planned first)")
			probe = fs.Bool("probe", false, "after applying, probe over real TCP from managed Linux peers that the ports pass")
			planFile = fs.String("plan", "", "apply only if every host still needs exactly the changes that plan --out saved to `file` (the reviewed plan is the approval)")
		})
	if code >= 0 {
		return code
	}
	defer s.engine.Close()
	if !*noConfirm && *confirmTimeout < 5*time.Second {
		fmt.Fprintln(stderr, "portwarden apply: --confirm-timeout must be at least 5s (or use --no-confirm)")
		return 1
	}
	by, err := orchestrator.ParseConfirmBy(*confirmBy)
	if err != nil {
		fmt.Fprintf(stderr, "portwarden apply: --confirm-by: %s\n", err)
		return 1
	}
	if *lockWait < time.Second {
		fmt.Fprintln(stderr, "portwarden apply: --lock-wait must be at least 1s")
		return 1
	}
	s.engine.Guard = firewall.Guard{ConfirmTimeout: *confirmTimeout, LockWait: *lockWait}
	s.engine.ConfirmBy = by
	if *noConfirm {
		s.engine.Guard.ConfirmTimeout = 0
	}
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

	// With nobody to ask (--auto-approve without --plan), each host is
	// planned and applied in its own slot; approval and a saved plan need
	// every host planned before any is touched.
	var plans []*orchestrator.HostPlan
	var jw *hostsWriter
	var approved bool
	if *auto && saved == nil {
		plans, jw = s.converge(ctx, r.format, stdout)
		approved = true
	} else {
		s.prog.start("Planning", len(s.managed()))
		plans = append(s.engine.Plan(ctx, s.rules), s.skipped...)
		s.prog.finish()
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
		if n := orchestrator.Summarize(plans).Hosts; n > 0 {
			if saved == nil && !confirm(stdin, stdout, n) {
				fmt.Fprintln(stdout, "\nApply cancelled. Nothing was changed.")
				return 1
			}
			s.prog.start("Applying", n)
			s.engine.Apply(ctx, plans)
			s.prog.finish()
			approved = true
		}
	}
	changed := orchestrator.Summarize(plans).Hosts > 0
	auditCode := -1
	if approved && changed {
		// Written once the run is over, in one append; a failure is
		// reported after the results, which say what each host has.
		if err := (auditLog{*auditPath}).append(auditEntries("apply", plans, inventoryDigest(s.inv), time.Now())); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			auditCode = exitInvalid
		}
	}
	var probes []*orchestrator.Probe
	if *probe {
		probes = s.probe(ctx, plans)
	}
	switch {
	case jw != nil:
		if c := jw.close(stderr, resultTail(plans, probes)); c != 0 {
			return c
		}
	case r.format == "json":
		if c := writeResultDoc(stdout, stderr, plans, probes, true); c != 0 {
			return c
		}
	default:
		writeApplyText(stdout, plans, probes, changed)
	}
	if auditCode >= 0 {
		return auditCode
	}
	if code := one.writeMetrics(plans, began, stderr); code >= 0 {
		return code
	}
	return outcomeCode(plans, probesFailed(probes), applied(plans), *detailed)
}

// converge plans and applies every host in its slot (Engine.Converge),
// writing each host as its pipeline ends, in inventory order: the plan
// view in text, a host of the result document in JSON (whose end, jw,
// the caller writes once probes ran). Hosts left out before any
// connection come last, as in Plan.
func (s *session) converge(ctx context.Context, format string, stdout io.Writer) (plans []*orchestrator.HostPlan, jw *hostsWriter) {
	pt := &planText{w: stdout}
	show := func(p *orchestrator.HostPlan) { s.prog.above(func() { pt.add(p) }) }
	if format == "json" {
		jw = newHostsWriter(stdout)
		show = func(p *orchestrator.HostPlan) { s.prog.above(func() { jw.add(hostResultJSON(p, true)) }) }
	}
	s.prog.startHosts("Applying", len(s.managed()))
	plans = s.engine.Converge(ctx, s.rules, show)
	s.prog.finish()
	for _, p := range s.skipped {
		show(p)
	}
	plans = append(plans, s.skipped...)
	if jw == nil {
		pt.close(plans)
	}
	return plans, jw
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
		fmt.Fprintf(w, "Failed: %s.\n", strings.Join(failed, ", "))
		for _, l := range leftLines(plans) {
			fmt.Fprintln(w, l)
		}
	}
	if probes != nil {
		writeProbesText(w, probes)
	}
}

// leftLines say, for the failed hosts, what each is left with: as it was
// (nothing changed, or changed and rolled back), rolling back by itself,
// or unknown.
func leftLines(plans []*orchestrator.HostPlan) []string {
	var asWas, rolled, reverting, unknown []string
	for _, p := range plans {
		if !p.Failed() {
			continue
		}
		switch {
		case p.Err != nil || p.Left.AsItWas() || p.Left == "" && p.ApplyErr != nil:
			asWas = append(asWas, p.Host.Name)
			if p.Left == orchestrator.LeftRolledBack {
				rolled = append(rolled, p.Host.Name)
			}
		case p.Left == orchestrator.LeftReverting:
			reverting = append(reverting, p.Host.Name)
		default:
			unknown = append(unknown, p.Host.Name)
		}
	}
	var out []string
	if len(asWas) > 0 {
		l := "Left as they were: " + strings.Join(asWas, ", ")
		if len(rolled) > 0 {
			l += " (rolled back: " + strings.Join(rolled, ", ") + ")"
		}
		out = append(out, l+".")
	}
	if len(reverting) > 0 {
		out = append(out, "Rolling back by themselves when the confirm timeout ends: "+strings.Join(reverting, ", ")+".")
	}
	if len(unknown) > 0 {
		out = append(out, "State not known (run plan to see it): "+strings.Join(unknown, ", ")+".")
	}
	return append(out, "The other hosts are done.")
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
	if c := writeResultDoc(stdout, stderr, plans, probes, withApply); c != 0 {
		return c
	}
	return code
}

// hostResultJSON is a host of the plan document with apply results
// (withApply) or verification results.
func hostResultJSON(p *orchestrator.HostPlan, withApply bool) jsonHostPlan {
	h := hostPlanJSON(p)
	if withApply {
		applied := p.Applied && p.ApplyErr == nil
		h.Applied = &applied
		if p.ApplyErr != nil {
			h.Error = p.ApplyErr.Error()
		}
		h.Left = string(p.Left)
	}
	h.Remaining = toJSONChanges(p.Remaining)
	return h
}

// writeResultDoc writes the result document (resultDoc in the tests) host
// by host.
func writeResultDoc(stdout, stderr io.Writer, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, withApply bool) int {
	return writeHostsJSON(stdout, stderr, len(plans), func(i int) any { return hostResultJSON(plans[i], withApply) }, resultTail(plans, probes))
}

// resultTail is what the result document holds after its hosts.
func resultTail(plans []*orchestrator.HostPlan, probes []*orchestrator.Probe) []jsonField {
	tail := []jsonField{{"summary", planSummary(plans)}}
	if ps := probesJSON(probes); len(ps) > 0 {
		tail = append(tail, jsonField{"probes", ps})
	}
	return tail
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
