package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// watchRounds is how many rounds the watch measurement waits for: the
// first dials every host (cold), the others reuse the pooled connections.
const watchRounds = 3

// measureWatch runs `portwarden watch` (no --remediate) on the converged
// hosts until it has logged watchRounds "round done" lines, then stops it
// with SIGTERM, and returns the rounds' durations as watch itself logs
// them. Every round must find every host in sync.
func measureWatch(ctx context.Context, argv []string, stateDir string) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	args := append(argv[1:len(argv):len(argv)], "--every", "2s", "--log-format", "json", "--state-dir", stateDir)
	cmd := exec.CommandContext(ctx, argv[0], args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running watch: %w", err)
	}
	rounds, rerr := readRounds(out, watchRounds)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if rerr != nil {
		return rounds, errors.Join(rerr, werr)
	}
	return rounds, nil
}

// readRounds reads watch's JSON log until n rounds are done and returns
// their durations; a round with a host not in sync is an error.
func readRounds(r io.Reader, n int) ([]time.Duration, error) {
	var rounds []time.Duration
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Hosts    int    `json:"hosts"`
			InSync   int    `json:"in_sync"`
			Duration string `json:"duration"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "round done" {
			continue
		}
		if line.InSync != line.Hosts {
			return rounds, fmt.Errorf("watch round %d: %d of %d hosts in sync", len(rounds)+1, line.InSync, line.Hosts)
		}
		d, err := time.ParseDuration(line.Duration)
		if err != nil {
			return rounds, fmt.Errorf("watch round %d: duration %q: %w", len(rounds)+1, line.Duration, err)
		}
		if rounds = append(rounds, d); len(rounds) == n {
			return rounds, nil
		}
	}
	if err := sc.Err(); err != nil {
		return rounds, err
	}
	return rounds, fmt.Errorf("watch ended after %d of %d rounds", len(rounds), n)
}

// warmRound is the fastest of the rounds after the first.
func warmRound(rounds []time.Duration) time.Duration {
	var best time.Duration
	for i, d := range rounds {
		if i > 0 && (best == 0 || d < best) {
			best = d
		}
	}
	return best
}
