// Command portwarden computes, plans, applies and verifies the inbound
// firewall rules a Veeam Backup & Replication fleet needs.
package main

import (
	"context"
	"errors"
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
	"github.com/portwarden/portwarden/policies"
)

const formatVersion = "1"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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
	{"version", "Print the version", func(context.Context, []string, io.Writer, io.Writer) int {
		fmt.Println("portwarden", version)
		return 0
	}},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: portwarden <command> [options]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"portwarden <command> --help\" for a command's options.\n")
}

// stopRequested is closed on the first interrupt: hosts in flight finish,
// no new host starts. A second interrupt cancels the hosts in flight.
var stopRequested = make(chan struct{})

// hostsTouched is set once a command may contact hosts; before that an
// interrupt (SIGINT, SIGTERM) exits at once, during loading included.
var hostsTouched atomic.Bool

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		if !hostsTouched.Load() {
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
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "portwarden: unknown command %q\n\n", args[0])
	usage(stderr)
	return 1
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
}

func newFlagSet(name, synopsis string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.inventory, "inventory", "", "the inventory: an HCL `file`, or a directory of *.hcl files")
	fs.Var(&c.policy, "policy", "a `dir`ectory of extra policy files, loaded on top of the built-in Veeam policy (repeatable)")
	fs.Var(&c.hosts, "host", "only this host `name` (repeatable)")
	fs.Var(&c.groups, "group", "only the hosts of this inventory group `name` (repeatable; with --host, either selects)")
	fs.StringVar(&c.format, "format", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: portwarden %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns a non-negative exit code when the
// command must stop (help asked: 0; bad flags: 1).
func parseFlags(fs *flag.FlagSet, args []string, c *common) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
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

// load reads the policy and the inventory. On any error it renders the
// diagnostics and returns nil: nothing else may run.
func load(c *common, stderr io.Writer) (*policies.Policy, *inventory.Inventory) {
	pack, files, diags := inventory.ReadPack(c.inventory)
	if diags.HasErrors() {
		writeDiags(stderr, c.format, files, diags)
		return nil, nil
	}
	pol, diags := policies.LoadPack(pack.Version, c.policy)
	maps.Copy(files, pol.Files)
	if diags.HasErrors() {
		writeDiags(stderr, c.format, files, diags)
		return nil, nil
	}
	inv, idiags := inventory.Load(c.inventory, pol)
	if inv != nil {
		maps.Copy(files, inv.Files)
	}
	diags = append(diags, idiags...)
	if !diags.HasErrors() {
		diags = append(diags, checkHostFilter(inv, c.hosts)...)
		diags = append(diags, checkGroupFilter(inv, c.groups)...)
	}
	if diags.HasErrors() {
		writeDiags(stderr, c.format, files, diags)
		return nil, nil
	}
	writeDiags(stderr, c.format, files, diags) // warnings
	return pol, inv
}

func checkHostFilter(inv *inventory.Inventory, hosts []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var names []string
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	for _, n := range hosts {
		if inv.Host(n) == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown host",
				Detail:   fmt.Sprintf("--host %q names no host of the inventory.%s", n, policies.Suggest(n, names)),
			})
		}
	}
	return diags
}

func checkGroupFilter(inv *inventory.Inventory, groups []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, g := range groups {
		if !slices.Contains(inv.GroupNames(), g) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown group",
				Detail:   fmt.Sprintf("--group %q names no group of the inventory.%s", g, policies.Suggest(g, inv.GroupNames())),
			})
		}
	}
	return diags
}

// selected reports whether the --host and --group filters pick h; no
// filter picks every host.
func (c *common) selected(h *inventory.Host) bool {
	if len(c.hosts) == 0 && len(c.groups) == 0 {
		return true
	}
	if slices.Contains(c.hosts, h.Name) {
		return true
	}
	for _, g := range h.Groups {
		if slices.Contains(c.groups, g) {
			return true
		}
	}
	return false
}
