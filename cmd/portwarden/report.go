package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// runReport reads every managed host's state (as plan does), optionally
// probes, and writes a report for people: HTML with a flow diagram,
// Markdown for change tickets, or JSON.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var r runFlags
	fs := newFlagSet("report", "report --inventory FILE --format html|markdown|json --out FILE [--probe] [--host NAME ...]", stderr, &r.common)
	addRunFlags(fs, &r)
	out := fs.String("out", "", "write the report to `file` (default: standard output)")
	probe := fs.Bool("probe", false, "also probe the rules over real TCP from managed Linux peers")
	r.format = "html"
	fs.Lookup("format").DefValue = "html"
	fs.Lookup("format").Usage = "report format: html, markdown or json"
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitInvalid
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "portwarden report: unexpected argument %q\n", fs.Arg(0))
		return exitInvalid
	case !slices.Contains([]string{"html", "markdown", "json"}, r.format):
		fmt.Fprintf(stderr, "portwarden report: --format must be html, markdown or json, not %q\n", r.format)
		return exitInvalid
	case r.inventory == "":
		fmt.Fprintln(stderr, "portwarden report: --inventory is required")
		return exitInvalid
	}
	if code := checkRunFlags(fs, &r); code >= 0 {
		return code
	}
	if r.destroy {
		fmt.Fprintln(stderr, "portwarden report: --destroy does not apply to a report")
		return exitInvalid
	}
	format := r.format
	r.format = "text" // diagnostics and progress for people
	s, ok := newSession(ctx, &r, stderr)
	if !ok {
		return exitInvalid
	}
	defer s.engine.Close()
	s.prog.start("Reading rules back", len(s.managed()))
	s.engine.PlanOnly = true // a report applies nothing
	plans := s.engine.Plan(ctx, s.rules)
	s.prog.finish()
	var probes []*orchestrator.Probe
	if *probe {
		probes = s.probe(ctx, plans)
	}
	rep := buildReport(s, plans, probes, *probe, time.Now())
	var body []byte
	var err error
	switch format {
	case "html":
		body, err = renderHTML(rep)
	case "markdown":
		body = renderMarkdown(rep)
	case "json":
		body, err = renderReportJSON(rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitInvalid
	}
	if *out == "" {
		_, err = stdout.Write(body)
	} else {
		err = writeFileAtomic(*out, body)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: writing the report: %s\n", err)
		return exitInvalid
	}
	// The report is written whatever the hosts gave; the exit code says,
	// as plan's does, whether every host could be read (and probed).
	return outcomeCode(plans, probesFailed(probes), false, false)
}

// writeFileAtomic writes a temporary file next to path and renames it.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// report is what every format shows; a pure function of the run.
type report struct {
	FormatVersion string         `json:"format_version"`
	Generated     string         `json:"generated"`
	Inventory     string         `json:"inventory"`
	Digest        string         `json:"inventory_digest"`
	Probed        bool           `json:"probed"`
	Counts        map[string]int `json:"counts"`
	Hosts         []reportHost   `json:"hosts"`
	Flows         []reportFlow   `json:"flows"`
	Nodes         []reportNode   `json:"nodes"`
}

// Report host states.
const (
	reportInSync      = "in sync"
	reportDrift       = "drift"
	reportUnreachable = "unreachable"
	reportUnmanaged   = "not managed"
)

type reportHost struct {
	Name     string       `json:"name"`
	Address  string       `json:"address"`
	OS       string       `json:"os"`
	Roles    []string     `json:"roles"`
	Managed  bool         `json:"managed"`
	Backend  string       `json:"backend,omitempty"`
	Mode     string       `json:"mode,omitempty"`
	State    string       `json:"state"`
	Error    string       `json:"error,omitempty"`
	Rules    []jsonRule   `json:"rules"`
	Changes  []jsonChange `json:"changes"`
	Warnings []string     `json:"warnings"`
	Notes    []string     `json:"notes"`
	Probes   []jsonProbe  `json:"probes,omitempty"`
}

// reportNode is a box of the diagram: a host, a network or a bare prefix.
type reportNode struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Group string `json:"group"` // the role it is drawn with
	Kind  string `json:"kind"`  // "host", "network" or "address"
	State string `json:"state,omitempty"`
}

// reportFlow is an edge: the ports From may open on To.
type reportFlow struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Ports []string `json:"ports"` // "tcp/22"
}

func buildReport(s *session, plans []*orchestrator.HostPlan, probes []*orchestrator.Probe, probed bool, now time.Time) *report {
	rep := &report{FormatVersion: formatVersion, Generated: now.UTC().Format(time.RFC3339), Inventory: "", Probed: probed,
		Digest: inventoryDigest(s.inv), Counts: map[string]int{}}
	if len(s.rules) > 0 {
		rep.Inventory = s.rules[0].Host.DeclRange.Filename
	}
	byName := map[string]*orchestrator.HostPlan{}
	for _, p := range plans {
		byName[p.Host.Name] = p
	}
	for _, hr := range s.rules {
		h := hr.Host
		rh := reportHost{Name: h.Name, Address: h.Address, OS: h.OS, Roles: hr.Roles, Managed: h.Managed,
			State: reportUnmanaged, Rules: []jsonRule{}, Changes: []jsonChange{}, Warnings: []string{}, Notes: hr.Notes}
		if rh.Notes == nil {
			rh.Notes = []string{}
		}
		for _, r := range hr.Rules {
			rh.Rules = append(rh.Rules, toJSONRule(r))
		}
		if p := byName[h.Name]; p != nil {
			rh.Backend, rh.Mode = p.Backend, string(p.Desired.Mode)
			switch {
			case p.Err != nil:
				rh.State, rh.Error = reportUnreachable, p.Err.Error()
			case len(p.Changes) > 0:
				rh.State = reportDrift
			default:
				rh.State = reportInSync
			}
			rh.Changes = toJSONChanges(p.Changes)
			if p.Current.Warnings != nil {
				rh.Warnings = p.Current.Warnings
			}
		}
		for _, pr := range probesJSON(probes) {
			if pr.To == h.Name {
				rh.Probes = append(rh.Probes, pr)
			}
		}
		rep.Counts[rh.State]++
		rep.Hosts = append(rep.Hosts, rh)
	}
	rep.Nodes, rep.Flows = flowGraph(s.inv, s.rules, s.addrs, rep.Hosts)
	return rep
}

// flowGraph turns the rules into the diagram's nodes and edges: each
// rule source becomes the hosts whose addresses it covers, else the
// networks it names, else the prefix itself.
func flowGraph(inv *inventory.Inventory, rules []*orchestrator.HostRules, addrs orchestrator.Addresses, hosts []reportHost) ([]reportNode, []reportFlow) {
	state := map[string]string{}
	for _, h := range hosts {
		state[h.Name] = h.State
	}
	nodes := map[string]reportNode{}
	addHost := func(h *inventory.Host, roles []string) string {
		id := "host:" + h.Name
		if _, ok := nodes[id]; !ok {
			group := "(no role)"
			if len(roles) > 0 {
				group = roles[0]
			}
			nodes[id] = reportNode{ID: id, Label: h.Name + "\n" + h.Address, Group: group, Kind: "host", State: state[h.Name]}
		}
		return id
	}
	roles := map[string][]string{}
	for _, hr := range rules {
		roles[hr.Host.Name] = hr.Roles
		addHost(hr.Host, hr.Roles)
	}
	hostAddrs := func(h *inventory.Host) []netip.Addr {
		if h.Addr.IsValid() {
			return []netip.Addr{h.Addr}
		}
		return addrs[h.Name]
	}
	ports := map[[2]string][]string{}
	for _, hr := range rules {
		to := "host:" + hr.Host.Name
		for _, r := range hr.Rules {
			spec := r.Spec()
			for _, src := range r.Sources {
				for _, from := range sourceNodes(inv, src, hostAddrs, roles, addHost, nodes) {
					k := [2]string{from, to}
					if !slices.Contains(ports[k], spec) {
						ports[k] = append(ports[k], spec)
					}
				}
			}
		}
	}
	var flows []reportFlow
	for k, ps := range ports {
		flows = append(flows, reportFlow{From: k[0], To: k[1], Ports: ps})
	}
	slices.SortFunc(flows, func(a, b reportFlow) int { return strings.Compare(a.From+" "+a.To, b.From+" "+b.To) })
	out := make([]reportNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b reportNode) int { return strings.Compare(a.ID, b.ID) })
	return out, flows
}

func sourceNodes(inv *inventory.Inventory, src netip.Prefix, hostAddrs func(*inventory.Host) []netip.Addr,
	roles map[string][]string, addHost func(*inventory.Host, []string) string, nodes map[string]reportNode) []string {
	var ids []string
	for _, h := range inv.Hosts {
		for _, a := range hostAddrs(h) {
			if src.Contains(a) && src.Bits() == a.BitLen() {
				r := roles[h.Name]
				if r == nil {
					r = h.Roles
				}
				ids = append(ids, addHost(h, r))
			}
		}
	}
	if len(ids) > 0 {
		return ids
	}
	for _, n := range inv.Networks {
		if slices.Contains(n.CIDRs, src) {
			id := "net:" + n.Name
			if _, ok := nodes[id]; !ok {
				group := "(network)"
				if len(n.Roles) > 0 {
					group = n.Roles[0]
				}
				nodes[id] = reportNode{ID: id, Label: n.Name + "\n" + rule.JoinPrefixes(n.CIDRs), Group: group, Kind: "network"}
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		return ids
	}
	id := "addr:" + rule.PrefixString(src)
	if _, ok := nodes[id]; !ok {
		nodes[id] = reportNode{ID: id, Label: rule.PrefixString(src), Group: "(other sources)", Kind: "address"}
	}
	return []string{id}
}
