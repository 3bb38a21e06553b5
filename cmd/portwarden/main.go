// Command portwarden computes, plans, applies and verifies the inbound
// firewall rules a Veeam Backup & Replication fleet needs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
)

const formatVersion = "1"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"rules", "Show the inbound rules each host needs, and why", runRules},
	{"plan", "Show what apply would change on each host", runPlan},
	{"apply", "Apply the required rules to every host", runApply},
	{"verify", "Read rules back from hosts and probe that ports pass", runVerify},
	{"validate", "Check the inventory and policy offline: no secret, no DNS, no connection", runValidate},
	{"fmt", "Rewrite inventory and policy files in the canonical HCL style", runFmt},
	{"show", "Render a plan saved with plan --out", runShow},
	{"report", "Write a report for people: rules, state, probes, a flow diagram", runReport},
	{"watch", "Plan (and repair) the fleet every interval; metrics, status, audit log", runWatch},
	{"completion", "Print a shell completion script: bash, zsh or fish", runCompletion},
	{"version", "Print the version, the commit and the Go version", runVersion},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: portwarden <command> [options]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal options:\n  --help     Show this help\n  --version  Print the version, the commit and the Go version\n")
	fmt.Fprintf(w, "\nRun \"portwarden <command> --help\" for a command's options.\n")
}

// stopRequested is closed on the first interrupt: hosts in flight finish,
// no new host starts. A second interrupt cancels the hosts in flight.
var stopRequested = make(chan struct{})

// loading is set while a command loads the inventory and policy and
// resolves names (computeRules): no host is contacted yet, so an interrupt
// (SIGINT, SIGTERM) exits at once.
var loading, watching atomic.Bool

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		if loading.Load() && !watching.Load() {
			// Still loading or resolving: nothing is in flight on any host.
			fmt.Fprintln(os.Stderr, "\nInterrupted before any host was contacted.")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "\nInterrupt: finishing the hosts in flight, starting no new one. Interrupt again to cancel them.")
		close(stopRequested)
		<-sig
		fmt.Fprintln(os.Stderr, "\nCanceling the hosts in flight.")
		cancel()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout, stderr = newSafeWriter(stdout), newSafeWriter(stderr)
	defer flushSafe(stdout)
	defer flushSafe(stderr)
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version":
		fmt.Fprint(stdout, currentBuild())
		return 0
	}
	for _, c := range append(slices.Clone(commands), hiddenCommands...) {
		if c.name == args[0] {
			// Asked for, help is the output: stdout, exit 0.
			if fs := flagsOf(c); fs != nil && helpRequested(fs, args[1:]) {
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
			return finishProfiles(stderr, c.run(ctx, args[1:], stdout, stderr))
		}
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "portwarden: unknown option %q; options go after the command.\n\n", args[0])
	} else {
		fmt.Fprintf(stderr, "portwarden: unknown command %q.%s\n\n", args[0], policies.Suggest(args[0], names))
	}
	usage(stderr)
	return 1
}

// hiddenCommands run but are not listed: tools for the project itself.
var hiddenCommands = []command{
	{"docs", "Write docs/cli.md from the flag definitions", runDocs},
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// common holds the flags every command that reads an inventory shares.
type common struct {
	inventory string
	policy    stringList
	hosts     stringList
	groups    stringList
	format    string
	// offline reads the inventory without its secrets (env() and file()
	// values may be missing), for the commands that connect to no host.
	offline bool
	// skipped are the selected hosts that cannot be worked on (a DNS name
	// that did not resolve) while the others go on: failed plans.
	skipped []*orchestrator.HostPlan
	// selection is the host names --host and --group pick; nil: all.
	selection map[string]bool
}

func newFlagSet(name, synopsis string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := newPlainFlagSet(name, synopsis, stderr)
	fs.StringVar(&c.inventory, "inventory", "", "the inventory: an HCL `file`, or a directory of *.hcl files")
	fs.Var(&c.policy, "policy", "a `dir`ectory of extra policy files, loaded on top of the built-in Veeam policy (repeatable)")
	fs.Var(&c.hosts, "host", "only the hosts whose name matches this `pattern` (a glob: web*, repo0?; !pattern excludes; repeatable)")
	fs.Var(&c.groups, "group", "only the hosts of the groups matching this `pattern` (a glob; !pattern excludes their hosts; repeatable; with --host, either selects)")
	fs.Var(newChoice(&c.format, "text", "text", "json"), "format", "output format: text or json")
	return fs
}

// parseFlags parses args; it returns a non-negative exit code when the
// command must stop (help asked: 0; bad flags: 1).
func parseFlags(fs *flag.FlagSet, args []string, c *common) int {
	if code := parsePlain(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "portwarden %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 1
	}
	if c.format != "text" && c.format != "json" {
		fmt.Fprintf(fs.Output(), "portwarden %s: --format must be text or json, not %q\n", fs.Name(), c.format)
		return 1
	}
	if c.inventory == "" {
		fmt.Fprintf(fs.Output(), "portwarden %s: --inventory is required\n", fs.Name())
		return 1
	}
	return -1
}

// parseOffline makes and parses the common flags of a command that
// connects to no host, so it needs no connection secret; code is as
// parseFlags returns it.
func parseOffline(name, synopsis string, args []string, stderr io.Writer) (c common, code int) {
	fs := newFlagSet(name, synopsis, stderr, &c)
	if code := parseFlags(fs, args, &c); code >= 0 {
		return c, code
	}
	c.offline = true
	return c, -1
}

// load reads the policy and the inventory. On any error it renders the
// diagnostics and returns nil: nothing else may run.
func load(c *common, stderr io.Writer) (*policies.Policy, *inventory.Inventory) {
	pol, inv, files, diags := loadDiags(c)
	writeDiags(stderr, c.format, files, diags) // errors, or warnings
	if diags.HasErrors() {
		return nil, nil
	}
	return pol, inv
}

// loadDiags reads the policy and the inventory and checks the --host and
// --group filters; files are the sources, for rendering diagnostics.
func loadDiags(c *common) (*policies.Policy, *inventory.Inventory, map[string]*hcl.File, hcl.Diagnostics) {
	pack, files, diags := inventory.ReadPack(c.inventory)
	if diags.HasErrors() {
		return nil, nil, files, diags
	}
	pol, diags := policies.LoadPack(pack.Version, c.policy)
	maps.Copy(files, pol.Files)
	if diags.HasErrors() {
		return nil, nil, files, diags
	}
	inv, idiags := inventory.LoadWith(c.inventory, pol, inventory.Options{UnknownSecrets: c.offline})
	if inv != nil {
		maps.Copy(files, inv.Files)
	}
	diags = append(diags, idiags...)
	if !diags.HasErrors() {
		var ds hcl.Diagnostics
		c.selection, ds = selectHosts(inv, c.hosts, c.groups)
		diags = append(diags, ds...)
	}
	return pol, inv, files, diags
}
