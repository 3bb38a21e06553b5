package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var probe *bool
	s, r, code := prepare(ctx, "verify", "verify --inventory FILE [--host NAME ...] [--probe] [--format text|json]", args, stderr,
		func(fs *flag.FlagSet) {
			probe = fs.Bool("probe", false, "also connect from each managed Linux source peer to each destination port over real TCP")
		})
	if code >= 0 {
		return code
	}
	defer s.engine.Close()
	s.prog.start("Reading rules back", len(s.managed()))
	plans := append(s.engine.Verify(ctx, s.rules), s.skipped...)
	s.prog.finish()
	var probes []*orchestrator.Probe
	if *probe {
		probes = s.probe(ctx, plans)
	}
	if r.format == "json" {
		return writeResultJSON(stdout, stderr, plans, probes, false)
	}
	code = 0
	for _, p := range plans {
		if p.Failed() {
			code = 1
		}
	}
	for _, p := range plans {
		switch {
		case p.Err != nil:
			fmt.Fprintf(stdout, "  ✗ %s: %s\n", p.Host.Name, indentRest(p.Err.Error(), "      "))
		case len(p.Remaining) > 0:
			fmt.Fprintf(stdout, "  ✗ %s: %d difference(s) from the policy:\n", p.Host.Name, len(p.Remaining))
			for _, c := range p.Remaining {
				writeChange(stdout, c)
			}
		default:
			fmt.Fprintf(stdout, "  ✓ %s: %d rule(s) in place (%s, %s)\n", p.Host.Name, len(p.Desired.Rules), p.Backend, p.Desired.Mode)
		}
		for _, wn := range p.Current.Warnings {
			fmt.Fprintf(stdout, "    ! warning: %s\n", wn)
		}
	}
	if probes != nil && writeProbesText(stdout, probes) > 0 {
		code = 1
	}
	if code == 0 {
		fmt.Fprintln(stdout, "\nVerified: every host matches the policy.")
	} else {
		fmt.Fprintln(stdout, "\nVerification failed.")
	}
	return code
}

func countSources(ps []*orchestrator.Probe) int {
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Outcome == "" {
			seen[p.From] = true
		}
	}
	return len(seen)
}

// writeProbesText prints probes rule by rule and returns how many failed.
func writeProbesText(w io.Writer, probes []*orchestrator.Probe) int {
	fmt.Fprintf(w, "\nProbes (real TCP from managed Linux peers and the controller; open or refused = the firewall passed it):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed, passed, skipped := 0, 0, 0
	for _, p := range probes {
		mark := "✓"
		switch {
		case p.Outcome == orchestrator.NotProbed:
			mark = "-"
			skipped++
		case p.OK():
			passed++
		default:
			mark = "✗"
			failed++
		}
		// A UDP probe is not run and has no port: it stands for its rule.
		what := rule.Spec([]string{p.Proto}, []rule.PortRange{{Lo: p.Port, Hi: p.Port}})
		if p.Proto == "udp" {
			what = p.RuleKey
		}
		want := "must pass"
		if p.Blocked {
			want = "must be dropped: no rule names this peer"
		}
		from := p.From
		if from == "" {
			from = "(controller)"
		}
		fmt.Fprintf(tw, "  %s\t%s → %s\t%s\t%s\t%s\t%s\n", mark, from, p.To, what, p.Outcome, want, oneLine(p.Detail))
	}
	tw.Flush()
	fmt.Fprintf(w, "Probes: %d as expected, %d failed, %d not probed.\n", passed, failed, skipped)
	return failed
}

type jsonProbe struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Address string `json:"address"`
	Proto   string `json:"protocol"`
	Port    uint16 `json:"port,omitempty"`
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Passed  bool   `json:"passed"` // the firewall let the SYN through
	Expect  string `json:"expect"` // "pass" or "blocked"
	OK      bool   `json:"ok"`     // the outcome is what the policy wants
	Detail  string `json:"detail,omitempty"`
}

func probesJSON(ps []*orchestrator.Probe) []jsonProbe {
	var out []jsonProbe
	for _, p := range ps {
		from := p.From
		if from == "" {
			from = "(controller)"
		}
		out = append(out, jsonProbe{From: from, To: p.To, Address: p.Addr.String(), Proto: p.Proto, Port: p.Port,
			Rule: p.RuleKey, Outcome: string(p.Outcome), Passed: p.Outcome.Passed(), Expect: expect(p), OK: p.OK(), Detail: p.Detail})
	}
	return out
}

func expect(p *orchestrator.Probe) string {
	if p.Blocked {
		return "blocked"
	}
	return "pass"
}
