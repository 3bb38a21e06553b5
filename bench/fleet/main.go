// Command fleet is the fleet benchmark behind "make bench": for each size
// it builds a lab of that many Linux hosts (real OpenSSH servers in
// network namespaces), and measures, in the same run and at the same
// parallelism,
//
//   - the floor: one SSH connection (golang.org/x/crypto/ssh) and "true"
//     per host, measured before the converge and after the no-op (the
//     lower of the two is the floor);
//   - converge: "portwarden apply --auto-approve" on hosts that have no
//     rules yet (the real binary, default settings: commit-confirmed);
//   - no-op: "portwarden plan --detailed-exitcode" on the converged hosts,
//     which must report no changes;
//   - the controller's peak RSS (wait4's ru_maxrss of those two runs);
//
// then takes the lab down. It prints one line per size as it goes and a
// Markdown table at the end (docs/benchmarks.md holds one).
//
//	go run ./bench/fleet --portwarden bin/portwarden --sizes "50 200 1000"
//
// It needs root, and runs in a mount namespace of its own
// (benchlab.PrivateMountNamespace).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portwarden/portwarden/bench/benchlab"
	"github.com/portwarden/portwarden/lab"
)

// Result is one size's measurements.
type Result struct {
	Hosts    int           `json:"hosts"`
	Parallel int           `json:"parallel"`
	LabUp    time.Duration `json:"lab_up_ns"`
	LabDown  time.Duration `json:"lab_down_ns"`
	// Floors are the two floor runs; Floor is the lower.
	Floors   [2]time.Duration `json:"floors_ns"`
	Floor    time.Duration    `json:"floor_ns"`
	Converge time.Duration    `json:"converge_ns"`
	NoOp     time.Duration    `json:"noop_ns"`
	// WatchRounds are the durations of watch's rounds on the converged
	// hosts, as watch logs them: the first dials every host, the others
	// reuse its pooled connections; WatchWarm is the fastest of those.
	WatchRounds []time.Duration `json:"watch_rounds_ns"`
	WatchWarm   time.Duration   `json:"watch_warm_ns"`
	// ConvergeRSS and NoOpRSS are the controller's peak RSS in bytes.
	ConvergeRSS int64  `json:"converge_rss_bytes"`
	NoOpRSS     int64  `json:"noop_rss_bytes"`
	Load        string `json:"load_average_after"`
	// Err says what went wrong: a failed host, a plan with changes.
	Err string `json:"error,omitempty"`
}

func main() { benchlab.Main("fleet", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("fleet", flag.ContinueOnError)
	bin := fl.String("portwarden", "bin/portwarden", "the portwarden binary to measure")
	sizes := fl.String("sizes", "50 200 1000", "lab sizes (Linux hosts), separated by spaces or commas")
	parallel := fl.Int("parallel", 0, "hosts at once, passed as --parallel (0: portwarden's default, read from its --help)")
	jsonOut := fl.String("json", "", "also write the results as JSON to `file`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	ns, err := parseSizes(*sizes)
	if err != nil {
		return err
	}
	exe, p, err := benchlab.Prepare(ctx, *bin, *parallel)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "machine: %s\n", benchlab.Machine())
	fmt.Fprintf(stdout, "portwarden: %s, --parallel %d (floor at the same parallelism)\n\n", exe, p)
	var results []Result
	var errs []error
	for _, n := range ns {
		r := measure(ctx, exe, n, p, *parallel != 0, stdout)
		results = append(results, r)
		if r.Err != "" {
			errs = append(errs, fmt.Errorf("%d hosts: %s", n, r.Err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, results)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func parseSizes(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > lab.MaxHosts {
			return nil, fmt.Errorf("bad size %q: want 1-%d Linux hosts", f, lab.MaxHosts)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, errors.New("no sizes")
	}
	return ns, nil
}

// measure runs one size. A failure is recorded in Result.Err; the lab is
// always taken down.
func measure(ctx context.Context, exe string, n, parallel int, passParallel bool, stdout io.Writer) (r Result) {
	r = Result{Hosts: n, Parallel: parallel}
	dir, err := os.MkdirTemp("", fmt.Sprintf("portwarden-bench-%d-", n))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer os.RemoveAll(dir)
	upCtx, cancel := context.WithTimeout(ctx, 10*time.Minute+time.Duration(n)*time.Second)
	defer cancel()
	l, up, err := benchlab.Up(upCtx, filepath.Join(dir, "lab"), n)
	r.LabUp = up
	if err != nil {
		r.Err = fmt.Sprintf("lab up: %v", err)
		fmt.Fprintf(stdout, "%5d hosts: %s\n", n, r.Err)
		return r
	}
	defer func() {
		down, err := benchlab.Down(l)
		r.LabDown = down
		if err != nil && r.Err == "" {
			r.Err = fmt.Sprintf("lab down: %v", err)
		}
		fmt.Fprintf(stdout, "%5d hosts: lab up %s, down %s\n", n, benchlab.Seconds(r.LabUp), benchlab.Seconds(r.LabDown))
	}()

	floor := func(i int) bool {
		d, failed, err := benchlab.Floor(ctx, l, parallel)
		r.Floors[i] = d
		if err != nil {
			r.Err = fmt.Sprintf("floor: %d of %d hosts failed: %v", failed, n, err)
			return false
		}
		return true
	}
	pwArgv := func(args ...string) []string {
		argv := append([]string{exe}, args...)
		argv = append(argv, "--inventory", l.InventoryPath())
		if passParallel {
			argv = append(argv, "--parallel", strconv.Itoa(parallel))
		}
		return argv
	}
	pw := func(args ...string) benchlab.Run {
		argv := append(pwArgv(args...), "--progress", "none")
		res, err := benchlab.Exec(ctx, nil, argv...)
		if err != nil && r.Err == "" {
			r.Err = err.Error()
		}
		return res
	}
	if !floor(0) {
		return r
	}
	conv := pw("apply", "--auto-approve")
	r.Converge, r.ConvergeRSS = conv.Wall, conv.MaxRSS
	if conv.ExitCode != 0 {
		r.Err = fmt.Sprintf("apply exited %d: %s", conv.ExitCode, benchlab.Tail(conv.Stderr, 600))
		return r
	}
	noop := pw("plan", "--detailed-exitcode")
	r.NoOp, r.NoOpRSS = noop.Wall, noop.MaxRSS
	if noop.ExitCode != 0 {
		r.Err = fmt.Sprintf("plan on the converged hosts exited %d (0 is no changes): %s", noop.ExitCode, benchlab.Tail(append(noop.Stdout, noop.Stderr...), 600))
		return r
	}
	rounds, err := measureWatch(ctx, pwArgv("watch"), filepath.Join(dir, "watch-state"))
	r.WatchRounds, r.WatchWarm = rounds, warmRound(rounds)
	if err != nil {
		r.Err = fmt.Sprintf("watch: %v", err)
		return r
	}
	if !floor(1) {
		return r
	}
	r.Floor = min(r.Floors[0], r.Floors[1])
	r.Load = benchlab.LoadAverage()
	fmt.Fprintf(stdout, "%5d hosts: floor %s (%s, %s), converge %s (%s), no-op %s (%s), watch round cold %s, warm %s (%s), peak RSS %s / %s, load %s\n",
		n, benchlab.Seconds(r.Floor), benchlab.Seconds(r.Floors[0]), benchlab.Seconds(r.Floors[1]),
		benchlab.Seconds(r.Converge), benchlab.Ratio(r.Converge, r.Floor),
		benchlab.Seconds(r.NoOp), benchlab.Ratio(r.NoOp, r.Floor),
		benchlab.Seconds(r.WatchRounds[0]), benchlab.Seconds(r.WatchWarm), benchlab.Ratio(r.WatchWarm, r.Floor),
		benchlab.MB(r.ConvergeRSS), benchlab.MB(r.NoOpRSS), r.Load)
	return r
}

func writeTable(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| hosts | --parallel | floor | converge | no-op | watch round, warm | controller peak RSS (apply / plan) | lab up / down |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		if r.Err != "" {
			msg := strings.Join(strings.Fields(strings.ReplaceAll(r.Err, "|", "/")), " ")
			if len(msg) > 300 {
				msg = msg[:300] + "..."
			}
			fmt.Fprintf(w, "| %d | %d | failed: %s | | | | | %s / %s |\n", r.Hosts, r.Parallel, msg, benchlab.Seconds(r.LabUp), benchlab.Seconds(r.LabDown))
			continue
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s (%s) | %s (%s) | %s (%s) | %s / %s | %s / %s |\n", r.Hosts, r.Parallel,
			benchlab.Seconds(r.Floor), benchlab.Seconds(r.Converge), benchlab.Ratio(r.Converge, r.Floor),
			benchlab.Seconds(r.NoOp), benchlab.Ratio(r.NoOp, r.Floor),
			benchlab.Seconds(r.WatchWarm), benchlab.Ratio(r.WatchWarm, r.Floor),
			benchlab.MB(r.ConvergeRSS), benchlab.MB(r.NoOpRSS), benchlab.Seconds(r.LabUp), benchlab.Seconds(r.LabDown))
	}
}
