package benchlab

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
)

var (
	defaultRE = regexp.MustCompile(`-parallel int\s*\n?[^\n]*\(default (\d+)\)`)
	// autoRE reads a default chosen from the machine: "64 per CPU, at
	// least 32, at most 256".
	autoRE = regexp.MustCompile(`-parallel int\s*\n?[^\n]*?(\d+) per CPU, at least (\d+), at most (\d+)`)
)

// ParseDefaultParallel finds the default of --parallel in portwarden's
// help for a machine with cpus CPUs: a fixed "(default N)", or N per CPU
// between a floor and a cap, as the CLI computes it.
func ParseDefaultParallel(help string, cpus int) (int, error) {
	if m := defaultRE.FindStringSubmatch(help); m != nil {
		p, err := strconv.Atoi(m[1])
		if err != nil || p < 1 {
			return 0, fmt.Errorf("portwarden's default --parallel is %q; pass --parallel N to measure at N", m[1])
		}
		return p, nil
	}
	if m := autoRE.FindStringSubmatch(help); m != nil {
		per, _ := strconv.Atoi(m[1])
		lo, _ := strconv.Atoi(m[2])
		hi, _ := strconv.Atoi(m[3])
		if per < 1 || lo < 1 || hi < lo {
			return 0, fmt.Errorf("cannot use the default of --parallel %q; pass --parallel", m[0])
		}
		return min(max(per*cpus, lo), hi), nil
	}
	return 0, errors.New("cannot read the default of --parallel from portwarden plan --help; pass --parallel")
}

// DefaultParallel reads the default of --parallel from "portwarden plan
// --help", so the floor runs at the parallelism the CLI really uses.
func DefaultParallel(ctx context.Context, exe string) (int, error) {
	r, err := Exec(ctx, nil, exe, "plan", "--help")
	if err != nil {
		return 0, err
	}
	return ParseDefaultParallel(string(append(r.Stdout, r.Stderr...)), runtime.NumCPU())
}
