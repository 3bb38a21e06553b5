package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// parallelUsage describes --parallel; the default depends on the machine,
// so it is 0 in the flag (docs/cli.md is the same everywhere) and chosen
// by orchestrator.DefaultParallel.
var parallelUsage = fmt.Sprintf("hosts to work on at once; 0 (the default) chooses from the machine: %d per CPU, at least %d, at most %d",
	orchestrator.ParallelPerCPU, orchestrator.ParallelMin, orchestrator.ParallelMax)

// handshakesUsage describes --max-handshakes (transport.Handshakes).
var handshakesUsage = fmt.Sprintf("SSH handshakes in flight at once, apart from --parallel; each sshd also gets a window "+
	"that ramps from %d to %d and is lowered when it drops connections (MaxStartups)",
	transport.DefaultHandshakesInitial, transport.DefaultHandshakesPerServer)

// connectFlags are how plan, apply, verify, report and watch reach the
// hosts: how many at once, the SSH handshakes in flight, new host keys.
type connectFlags struct {
	parallel          int
	handshakes        int
	acceptNewHostKeys bool
}

func addConnectFlags(fs *flag.FlagSet, c *connectFlags) {
	fs.IntVar(&c.parallel, "parallel", 0, parallelUsage)
	fs.IntVar(&c.handshakes, "max-handshakes", transport.DefaultHandshakesInFlight, handshakesUsage)
	fs.BoolVar(&c.acceptNewHostKeys, "accept-new-host-keys", false, "record the SSH host key of hosts not yet in known_hosts (a changed key is always refused)")
}

// check says what is wrong with the flags, or "".
func (c *connectFlags) check() string {
	switch {
	case c.handshakes < 1:
		return "--max-handshakes must be at least 1"
	case c.parallel < 0:
		return "--parallel must be 0 (from the machine) or more"
	}
	return ""
}

// dialer is the dialer the flags ask for, with a bastion pool and a
// handshake limit of its own: one per run (watch keeps it across rounds).
func (c *connectFlags) dialer() orchestrator.TransportDialer {
	return orchestrator.TransportDialer{AcceptNewHostKeys: c.acceptNewHostKeys, Bastions: &transport.BastionPool{},
		Handshakes: transport.NewHandshakes(transport.HandshakeLimits{InFlight: c.handshakes})}
}

// runFlags are the flags of commands that connect to hosts.
type runFlags struct {
	common
	connectFlags
	progress string
	destroy  bool
	local    bool
	profile  profileFlags
}

func addRunFlags(fs *flag.FlagSet, r *runFlags) {
	addConnectFlags(fs, &r.connectFlags)
	fs.StringVar(&r.progress, "progress", "auto", "progress display: auto (a bar on a terminal), bar, lines, json (one event per line) or none")
	fs.BoolVar(&r.local, "local", false, "run on this machine, the one --host, without SSH (as root; refused when the host's addresses are not this machine's)")
	fs.BoolVar(&r.destroy, "destroy", false, "remove everything portwarden owns from the hosts (rules, chains, jump rules, enforce mode) instead of applying the policy")
	addProfileFlags(fs, &r.profile)
}

func checkRunFlags(fs *flag.FlagSet, r *runFlags) int {
	if msg := r.connectFlags.check(); msg != "" {
		fmt.Fprintf(fs.Output(), "portwarden %s: %s\n", fs.Name(), msg)
		return 1
	}
	if !slices.Contains([]string{"auto", "bar", "lines", "json", "none"}, r.progress) {
		fmt.Fprintf(fs.Output(), "portwarden %s: --progress must be auto, bar, lines, json or none\n", fs.Name())
		return 1
	}
	return -1
}

// session is what plan, apply and verify share: the loaded inventory, the
// computed rules and an engine with its connections.
type session struct {
	inv    *inventory.Inventory
	addrs  orchestrator.Addresses
	rules  []*orchestrator.HostRules
	engine *orchestrator.Engine
	prog   *progress
	// skipped are failed plans for the hosts left out before any
	// connection (see computeRules).
	skipped []*orchestrator.HostPlan
}

func newSession(ctx context.Context, r *runFlags, stderr io.Writer) (*session, bool) {
	if err := startProfiles(r.profile); err != nil {
		fmt.Fprintf(stderr, "Error: %s\nNothing was changed.\n", err)
		return nil, false
	}
	inv, addrs, rules, ok := computeRules(ctx, &r.common, stderr)
	if !ok {
		return nil, false
	}
	if r.destroy {
		rules = orchestrator.Destroy(rules)
	}
	s := &session{inv: inv, addrs: addrs, rules: rules, skipped: r.skipped}
	s.prog = newProgress(stderr, r.progress, r.format)
	s.engine = &orchestrator.Engine{
		Dialer:            r.dialer(),
		Platform:          orchestrator.HostPlatform{},
		Hooks:             s.prog,
		Parallel:          r.parallel,
		ManagementSources: inv.ManagementSources,
		Stop:              stopRequested,
	}
	if r.local {
		if err := s.useLocal(); err != nil {
			fmt.Fprintf(stderr, "Error: %s\nNothing was changed.\n", err)
			return nil, false
		}
	}
	return s, true
}

// prepare parses the flags of a command that connects to hosts (extra adds
// its own) and opens its session. A non-negative code means: stop with it.
func prepare(ctx context.Context, name, synopsis string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*session, *runFlags, int) {
	var r runFlags
	fs := newFlagSet(name, synopsis, stderr, &r.common)
	addRunFlags(fs, &r)
	if extra != nil {
		extra(fs)
	}
	if code := parseFlags(fs, args, &r.common); code >= 0 {
		return nil, nil, code
	}
	if code := checkRunFlags(fs, &r); code >= 0 {
		return nil, nil, code
	}
	s, ok := newSession(ctx, &r, stderr)
	if !ok {
		return nil, nil, 1
	}
	return s, &r, -1
}

// probe tests the plans' rules over real TCP from managed Linux peers.
func (s *session) probe(ctx context.Context, plans []*orchestrator.HostPlan) []*orchestrator.Probe {
	probes := orchestrator.PlanProbes(plans, s.inv.Hosts, s.addrs)
	s.prog.start("Probing", countSources(probes))
	s.engine.RunProbes(ctx, s.inv, probes)
	s.prog.finish()
	return probes
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var detailed *bool
	var out *string
	var one oneShot
	s, r, code := prepare(ctx, "plan", "plan --inventory FILE [--host NAME ...] [--format text|json] [--detailed-exitcode] [--out FILE] [--max-failed N|P%] [--metrics-file FILE]", args, stderr,
		func(fs *flag.FlagSet) {
			detailed = fs.Bool("detailed-exitcode", false, "exit 2 when there are changes (see the exit codes in docs/drift.md: 0 none, 1 invalid input or no host planned, 3 some hosts failed)")
			out = fs.String("out", "", "also save the plan as JSON to `file`, for review and for apply --plan")
			addOneShotFlags(fs, &one)
		})
	if code >= 0 {
		return code
	}
	defer s.engine.Close()
	s.gate(one.maxFailed, stderr)
	began := time.Now()
	s.prog.start("Planning", len(s.managed()))
	s.engine.PlanOnly = true // facts go as each host is planned
	var plans []*orchestrator.HostPlan
	var stream *planStream
	if r.format == "json" {
		// Each host is written as soon as it and the hosts before it
		// are planned.
		stream = newPlanStream(stdout, *out != "")
		plans = s.engine.PlanEach(ctx, s.rules, stream.add)
		for _, p := range s.skipped {
			stream.add(p)
		}
		plans = append(plans, s.skipped...)
		s.prog.finish()
		if code := stream.close(stderr, plans); code != 0 {
			return code
		}
	} else {
		plans = append(s.engine.Plan(ctx, s.rules), s.skipped...)
		s.prog.finish()
		writePlanText(stdout, plans)
	}
	if *out != "" {
		doc := planJSON
		if stream != nil {
			doc = stream.doc // the hosts' JSON as written, not built again
		}
		if err := savePlan(*out, doc(plans)); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return 1
		}
		if r.format == "text" {
			fmt.Fprintf(stdout, "\nSaved the plan to %s. To apply exactly these changes: portwarden apply --plan %s ...\n", *out, *out)
		}
	}
	if code := one.writeMetrics(plans, began, stderr); code >= 0 {
		return code
	}
	return outcomeCode(plans, 0, orchestrator.Summarize(plans).Hosts > 0, *detailed)
}

func (s *session) managed() []*inventory.Host {
	var out []*inventory.Host
	for _, hr := range s.rules {
		if hr.Host.Managed {
			out = append(out, hr.Host)
		}
	}
	return out
}

// ---- human plan view ----

func writePlanText(w io.Writer, plans []*orchestrator.HostPlan) {
	t := &planText{w: w}
	for _, p := range plans {
		t.add(p)
	}
	t.close(plans)
}

// planText writes the human plan view host by host, as hosts are planned
// (apply --auto-approve): the same text as for the whole plan at once.
// The header comes first when any host has changes, so the hosts before
// the first host with changes (failed hosts, warnings) are held until it
// comes, or until close.
type planText struct {
	w      io.Writer
	held   bytes.Buffer
	header bool
}

func (t *planText) add(p *orchestrator.HostPlan) {
	if !t.header && len(p.Changes) > 0 {
		fmt.Fprintf(t.w, "portwarden will change these hosts (+ add, ~ change, - remove):\n\n")
		t.w.Write(t.held.Bytes())
		t.held.Reset()
		t.header = true
	}
	if t.header {
		writeHostPlan(t.w, p)
	} else {
		writeHostPlan(&t.held, p)
	}
}

// close writes what is held and the summary of plans, every host added.
func (t *planText) close(plans []*orchestrator.HostPlan) {
	t.w.Write(t.held.Bytes())
	t.held.Reset()
	writeSummary(t.w, plans)
}

func writeHostPlan(w io.Writer, p *orchestrator.HostPlan) {
	h := p.Host
	if p.Err != nil {
		fmt.Fprintf(w, "  ✗ %s (%s): %s\n\n", h.Name, h.Address, indentRest(p.Err.Error(), "      "))
		return
	}
	if len(p.Changes) == 0 && len(p.Current.Warnings) == 0 {
		return
	}
	fmt.Fprintf(w, "  # %s (%s) — %s, %s\n", h.Name, h.Address, p.Backend, p.Desired.Mode)
	for _, c := range p.Changes {
		writeChange(w, c)
	}
	for _, wn := range p.Current.Warnings {
		fmt.Fprintf(w, "    ! warning: %s\n", oneLine(wn))
	}
	fmt.Fprintln(w)
}

func writeChange(w io.Writer, c orchestrator.Change) {
	switch c.Kind {
	case orchestrator.KindMode, orchestrator.KindDrift:
		fmt.Fprintf(w, "    %c %s\n", c.Action, oneLine(c.Detail))
		return
	}
	r := c.After
	if r == nil {
		r = c.Before
	}
	spec := r.Spec()
	switch c.Action {
	case orchestrator.Update:
		add, rm := orchestrator.SourceDelta(c)
		var parts []string
		if len(add) > 0 {
			parts = append(parts, "+ "+rule.JoinPrefixes(add))
		}
		if len(rm) > 0 {
			parts = append(parts, "- "+rule.JoinPrefixes(rm))
		}
		fmt.Fprintf(w, "    ~ %s sources: %s\n", spec, strings.Join(parts, "; "))
	default:
		fmt.Fprintf(w, "    %c %s from %s\n", c.Action, spec, rule.JoinPrefixes(r.Sources))
	}
	for _, rs := range c.Reasons {
		fmt.Fprintf(w, "        %s\n", reasonText(rs))
	}
}

func writeSummary(w io.Writer, plans []*orchestrator.HostPlan) {
	sum := orchestrator.Summarize(plans)
	failed := 0
	for _, p := range plans {
		if p.Err != nil {
			failed++
		}
	}
	switch {
	case len(plans) > 0 && failed == len(plans):
		fmt.Fprintf(w, "No host could be planned.\n")
	case sum.Hosts == 0:
		n := len(plans) - failed
		verb := "match"
		if n == 1 {
			verb = "matches"
		}
		fmt.Fprintf(w, "No changes. %s %s the policy.\n", countHosts(n), verb)
	default:
		fmt.Fprintf(w, "Plan: %d to add, %d to change, %d to remove on %s.\n", sum.Add, sum.Change, sum.Remove, countHosts(sum.Hosts))
	}
	if failed > 0 {
		var names []string
		for _, p := range plans {
			if p.Err != nil {
				names = append(names, p.Host.Name)
			}
		}
		fmt.Fprintf(w, "Could not plan %s: %s.\n", countHosts(failed), strings.Join(names, ", "))
	}
}

func countHosts(n int) string {
	if n == 1 {
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}

func indentRest(s, indent string) string {
	return strings.ReplaceAll(s, "\n", "\n"+indent)
}

// ---- JSON plan view ----

type jsonPlan struct {
	FormatVersion string         `json:"format_version"`
	Hosts         []jsonHostPlan `json:"hosts"`
	Summary       jsonSummary    `json:"summary"`
}

type jsonSummary struct {
	Add    int `json:"add"`
	Change int `json:"change"`
	Remove int `json:"remove"`
	Hosts  int `json:"hosts_changed"`
	Failed int `json:"hosts_failed"`
}

type jsonHostPlan struct {
	Name     string       `json:"name"`
	Address  string       `json:"address"`
	OS       string       `json:"os"`
	Backend  string       `json:"backend,omitempty"`
	Mode     string       `json:"mode,omitempty"`
	Error    string       `json:"error,omitempty"`
	Changes  []jsonChange `json:"changes"`
	Warnings []string     `json:"warnings"`
	Notes    []string     `json:"notes"`
	// Apply and verify results.
	Applied *bool `json:"applied,omitempty"`
	// Left is what apply left the host with: "unchanged", "applied",
	// "rolled back", "reverting by itself" or "unknown".
	Left      string       `json:"left,omitempty"`
	Remaining []jsonChange `json:"remaining,omitempty"`
}

type jsonChange struct {
	Action        string                `json:"action"`
	Kind          string                `json:"kind"`
	Protocol      string                `json:"protocol,omitempty"`
	Ports         []string              `json:"ports,omitempty"`
	Sources       []string              `json:"sources,omitempty"`
	BeforeSources []string              `json:"before_sources,omitempty"`
	Detail        string                `json:"detail,omitempty"`
	Reasons       []orchestrator.Reason `json:"reasons,omitempty"`
}

func toJSONChanges(cs []orchestrator.Change) []jsonChange {
	out := []jsonChange{}
	for _, c := range cs {
		jc := jsonChange{Action: c.Action.Wire(), Kind: string(c.Kind), Detail: c.Detail, Reasons: c.Reasons}
		r := c.After
		if r == nil {
			r = c.Before
		}
		if r != nil {
			jc.Protocol = r.Protocol
			jc.Ports = rule.PortStrings(r.Ports)
			jc.Sources = rule.PrefixStrings(r.Sources)
		}
		if c.Action == orchestrator.Update && c.Before != nil {
			jc.BeforeSources = rule.PrefixStrings(c.Before.Sources)
		}
		out = append(out, jc)
	}
	return out
}

func hostPlanJSON(p *orchestrator.HostPlan) jsonHostPlan {
	h := jsonHostPlan{Name: p.Host.Name, Address: p.Host.Address, OS: p.Host.OS, Backend: p.Backend,
		Mode: string(p.Desired.Mode), Changes: toJSONChanges(p.Changes), Warnings: p.Current.Warnings}
	if p.Rules != nil { // nil for a host left out before planning (its name did not resolve)
		h.Notes = p.Rules.Notes
	}
	if p.Err != nil {
		h.Error = p.Err.Error()
	}
	if h.Warnings == nil {
		h.Warnings = []string{}
	}
	if h.Notes == nil {
		h.Notes = []string{}
	}
	return h
}

// planStream writes a plan document host by host (newHostsWriter), each
// host's JSON built once; with keep, it also keeps them for the saved
// plan (plan --format json --out).
type planStream struct {
	jw    *hostsWriter
	keep  bool
	hosts []jsonHostPlan
}

func newPlanStream(w io.Writer, keep bool) *planStream {
	return &planStream{jw: newHostsWriter(w), keep: keep, hosts: []jsonHostPlan{}}
}

func (s *planStream) add(p *orchestrator.HostPlan) {
	h := hostPlanJSON(p)
	s.jw.add(h)
	if s.keep {
		s.hosts = append(s.hosts, h)
	}
}

// close ends the document with the summary of plans (the hosts added).
func (s *planStream) close(stderr io.Writer, plans []*orchestrator.HostPlan) int {
	return s.jw.close(stderr, []jsonField{{"summary", planSummary(plans)}})
}

// doc is the document written, as planJSON(plans) makes it; only with
// keep.
func (s *planStream) doc(plans []*orchestrator.HostPlan) jsonPlan {
	return jsonPlan{FormatVersion: formatVersion, Hosts: s.hosts, Summary: planSummary(plans)}
}

func planJSON(plans []*orchestrator.HostPlan) jsonPlan {
	out := jsonPlan{FormatVersion: formatVersion, Hosts: []jsonHostPlan{}, Summary: planSummary(plans)}
	for _, p := range plans {
		out.Hosts = append(out.Hosts, hostPlanJSON(p))
	}
	return out
}

func planSummary(plans []*orchestrator.HostPlan) jsonSummary {
	var out jsonSummary
	for _, p := range plans {
		if p.Err != nil {
			out.Failed++
		}
	}
	sum := orchestrator.Summarize(plans)
	out.Add, out.Change, out.Remove, out.Hosts = sum.Add, sum.Change, sum.Remove, sum.Hosts
	return out
}

// confirm asks for "yes" on the terminal.
func confirm(stdin io.Reader, w io.Writer, n int) bool {
	fmt.Fprintf(w, "\nDo you want to apply these changes to %s?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", countHosts(n))
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

var stdin io.Reader = os.Stdin
