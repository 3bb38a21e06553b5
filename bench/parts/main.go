// Command parts measures what the fleet benchmark's floor and portwarden's
// runs cost the machine, part by part, in CPU per host: the floor's login
// and "true", one more session on a held connection, the greeting of a new
// TCP connection (commit-confirmed's default proof), one nft read and one
// nft transaction on the host, one more process, portwarden's no-op plan
// and its converge. From the parts it prints the least a converge with
// commit-confirmed and a no-op plan can cost against the floor.
//
// On the lab every host's sshd, shell and nft run on the controller's
// cores, so the machine's busy time (/proc/stat) is the fleet's CPU; the
// controller's own share is this process's rusage (in-process parts) or
// the portwarden child's (its runs). An idle rate measured first is
// subtracted from every part.
//
//	go run ./bench/parts --portwarden bin/portwarden --hosts 100 --rounds 5
//
// It needs root (the lab) and runs in a mount namespace of its own, as
// bench/fleet does (docs/benchmarks.md).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portwarden/portwarden/bench/benchlab"
	"github.com/portwarden/portwarden/lab"
)

func main() { benchlab.Main("parts", run) }

// userHZ is the unit of /proc/stat's times on Linux (USER_HZ, fixed at
// 100 whatever the kernel's own tick).
const userHZ = 100

// settle is how long each measurement waits after its last host: sshd's
// children end after the client has gone.
const settle = 300 * time.Millisecond

// unit is how many times an extra part runs on one connection.
const unit = 5

// busyTicks parses the first ("cpu") line of /proc/stat and returns the
// machine's busy time in USER_HZ ticks: everything but idle and iowait
// (guest time is already part of user).
func busyTicks(stat string) (int64, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, s := range f[1:] {
		if i >= 8 { // guest, guest_nice: counted in user already
			break
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: field %d: %w", i+1, err)
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += v
	}
	return busy, nil
}

func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	t, err := busyTicks(string(b))
	return time.Duration(t) * time.Second / userHZ, err
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cost is one measured part: the machine's busy time and the controller's
// share, summed over the rounds.
type cost struct {
	machine, controller time.Duration
	rounds              int
}

func (c cost) perHost(n int) (machine, controller float64) {
	d := float64(n*c.rounds) / 1000 // → ms per host
	return c.machine.Seconds() / d, c.controller.Seconds() / d
}

// meter measures parts against an idle rate.
type meter struct {
	idle float64 // busy seconds per second with nothing running
}

// measure runs f once and returns the machine's busy time (less the idle
// rate) and the controller's CPU: this process's, plus what f reports for
// a child.
func (m meter) measure(f func() (child time.Duration, err error)) (cost, error) {
	b0, err := machineBusy()
	if err != nil {
		return cost{}, err
	}
	s0, t0 := selfCPU(), time.Now()
	child, err := f()
	if err != nil {
		return cost{}, err
	}
	time.Sleep(settle)
	b1, err := machineBusy()
	if err != nil {
		return cost{}, err
	}
	wall := time.Since(t0)
	machine := b1 - b0 - time.Duration(m.idle*float64(wall))
	return cost{machine: machine, controller: selfCPU() - s0 + child, rounds: 1}, nil
}

func (c *cost) add(d cost) {
	c.machine += d.machine
	c.controller += d.controller
	c.rounds += d.rounds
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("parts", flag.ContinueOnError)
	bin := fl.String("portwarden", "bin/portwarden", "the portwarden binary to measure")
	hosts := fl.Int("hosts", 100, "Linux hosts in the lab")
	rounds := fl.Int("rounds", 5, "rounds of each part (averaged)")
	parallel := fl.Int("parallel", 0, "hosts at once (0: portwarden's default, read from its --help)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *hosts < 1 || *hosts > lab.MaxHosts || *rounds < 1 {
		return fmt.Errorf("want 1-%d hosts and at least one round", lab.MaxHosts)
	}
	exe, p, err := benchlab.Prepare(ctx, *bin, *parallel)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "portwarden-parts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, _, err := benchlab.Up(ctx, filepath.Join(dir, "lab"), *hosts)
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer benchlab.Down(l)
	cfg, err := benchlab.SSHConfig(l)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "machine: %s\n", benchlab.Machine())
	fmt.Fprintf(stdout, "%d hosts, --parallel %d, %d rounds, load average before: %s\n\n", *hosts, p, *rounds, benchlab.LoadAverage())

	var m meter
	b0, err := machineBusy()
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	b1, err := machineBusy()
	if err != nil {
		return err
	}
	m.idle = (b1 - b0).Seconds() / 2

	each := func(fn func(ctx context.Context, addr string) error) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			_, failed, err := benchlab.EachHost(ctx, l, p, fn)
			if err != nil {
				return 0, fmt.Errorf("%d of %d hosts failed: %w", failed, *hosts, err)
			}
			return 0, nil
		}
	}
	sessions := func(cmds ...string) func() (time.Duration, error) {
		return each(func(ctx context.Context, addr string) error { return benchlab.RunOver(ctx, cfg, addr, cmds...) })
	}
	pw := func(args ...string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			argv := append([]string{exe}, args...)
			argv = append(argv, "--inventory", l.InventoryPath(), "--progress", "none")
			if *parallel != 0 {
				argv = append(argv, "--parallel", strconv.Itoa(p))
			}
			r, err := benchlab.Exec(ctx, nil, argv...)
			if err != nil {
				return 0, err
			}
			if r.ExitCode != 0 {
				return 0, fmt.Errorf("portwarden %s exited %d: %s", args[0], r.ExitCode, benchlab.Tail(r.Stderr, 600))
			}
			return r.CPU, nil
		}
	}
	// Each extra part runs unit times on one connection, so that its cost
	// stands out of the floor's noise. The nft transaction changes only a
	// table of the bench's own, inside each lab host's network namespace.
	const nftWrite = "nft 'add table inet portwarden_bench; delete table inet portwarden_bench'"
	times := func(cmd string) string { return strings.Repeat(cmd+"; ", unit) + "true" }
	parts := []struct {
		name, what string
		run        func() (time.Duration, error)
		setup      func() (time.Duration, error) // before each round, not counted
	}{
		{name: "floor", what: "new connection, login, `true`", run: sessions("true")},
		{name: "sessions", what: fmt.Sprintf("the floor and %d more sessions (`true`) on the held connection", unit),
			run: sessions(slices.Repeat([]string{"true"}, unit+1)...)},
		{name: "processes", what: fmt.Sprintf("the floor's session runs `sleep 0` %d times", unit), run: sessions(times("sleep 0"))},
		{name: "nft reads", what: fmt.Sprintf("the floor's session runs `nft -j list ruleset` %d times", unit), run: sessions(times("nft -j list ruleset >/dev/null"))},
		{name: "nft writes", what: fmt.Sprintf("the floor's session makes %d nft transactions", unit), run: sessions(times(nftWrite))},
		{name: "greeting", what: "new TCP connection, sshd's identification line, close", run: each(greet)},
		{name: "plan (no-op)", what: "`portwarden plan` on converged hosts", run: pw("plan"),
			setup: pw("apply", "--auto-approve")},
		{name: "apply (converge)", what: "`portwarden apply --auto-approve` on hosts without its rules", run: pw("apply", "--auto-approve"),
			setup: pw("apply", "--auto-approve", "--destroy")},
	}
	costs := map[string]cost{}
	for _, part := range parts {
		var c cost
		for range *rounds {
			if part.setup != nil {
				if _, err := part.setup(); err != nil {
					return fmt.Errorf("%s: setting up: %w", part.name, err)
				}
			}
			d, err := m.measure(part.run)
			if err != nil {
				return fmt.Errorf("%s: %w", part.name, err)
			}
			c.add(d)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		costs[part.name] = c
	}

	floor, _ := costs["floor"].perHost(*hosts)
	// each is one unit of an extra part, beyond the floor.
	each1 := func(name string) float64 {
		v, _ := costs[name].perHost(*hosts)
		return (v - floor) / unit
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "part\tmachine CPU per host\tof it the controller's\t× floor\twhat runs")
	for _, part := range parts {
		mc, cc := costs[part.name].perHost(*hosts)
		fmt.Fprintf(tw, "%s\t%.1f ms\t%.2f ms\t%.2f×\t%s\n", part.name, mc, cc, mc/floor, part.what)
	}
	tw.Flush()

	greeting, _ := costs["greeting"].perHost(*hosts)
	b := bounds(floor, each1("sessions"), each1("processes"), each1("nft reads"), each1("nft writes"), greeting)
	fmt.Fprintf(stdout, "\none more session %.1f ms, one more process %.1f ms, nft read %.1f ms, nft transaction %.1f ms\n",
		each1("sessions"), each1("processes"), each1("nft reads"), each1("nft writes"))
	fmt.Fprintf(stdout, "least a no-op plan can cost: the floor and one nft read = %.1f ms, %.2f× the floor\n", b.noop, b.noop/floor)
	fmt.Fprintf(stdout, "least a converge with commit-confirmed can cost: the floor, one nft read, one nft transaction,\n"+
		"  the greeting of a new connection, one more session (the confirm) and one more process (the armed\n"+
		"  revert's sleep) = %.1f ms, %.2f× the floor\n", b.converge, b.converge/floor)
	return nil
}

// lowerBounds are the least a no-op plan and a commit-confirmed converge
// can cost per host, in ms of machine CPU, from the measured parts.
type lowerBounds struct{ noop, converge float64 }

// bounds adds up the parts that each run cannot do without: a plan must
// log in and read the ruleset; a converge with commit-confirmed must also
// change it, prove that a new connection gets in (the greeting), confirm
// over the held connection (a session) and have armed a revert that
// waits on its own (a process). The lock, the saved state, the persisted
// file and the read-back come on top.
func bounds(floor, session, process, nftRead, nftWrite, greeting float64) lowerBounds {
	noop := floor + nftRead
	return lowerBounds{noop: noop, converge: noop + nftWrite + greeting + session + process}
}

// greet opens a TCP connection to addr, reads the SSH identification line
// and closes: what commit-confirmed's default proof (--confirm-by
// greeting) costs the host.
func greet(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Minute}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return errors.New("the greeting is not an SSH identification line")
	}
	return nil
}
