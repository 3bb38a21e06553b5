package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/portwarden/portwarden/bench/benchlab"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
)

// BenchmarkComputeRepositories computes the rules of a 2,000-repository
// inventory in process (allocations of Compute alone).
func BenchmarkComputeRepositories(b *testing.B) {
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	for _, scattered := range []bool{false, true} {
		inv, diags := inventory.Parse([]byte(RepoFleet(2000, scattered)), "fleet.hcl", pol)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		b.Run(fmt.Sprintf("repos=2000/scattered=%v", scattered), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := orchestrator.Compute(inv, pol, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRulesCLI runs `portwarden rules --format json` on a
// 2,000-repository inventory, as a user does: load, compute, render. It
// reports the wall time per run, its CPU time (s-cpu/op: user and system,
// which other load on the machine does not inflate), the process's peak
// RSS (MB-peak-rss) and the size of the JSON (MB-json). Targets (issue 11): ≤ 1.5 s, ≤ 200 MB.
func BenchmarkRulesCLI(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "portwarden")
	build := exec.Command("go", "build", "-o", bin, "github.com/portwarden/portwarden/cmd/portwarden")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building portwarden: %v\n%s", err, out)
	}
	for _, scattered := range []bool{false, true} {
		inv := filepath.Join(dir, fmt.Sprintf("fleet-%v.hcl", scattered))
		if err := os.WriteFile(inv, []byte(RepoFleet(2000, scattered)), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("repos=2000/scattered=%v", scattered), func(b *testing.B) {
			var rss, size int64
			var cpu time.Duration // user + system: what the run costs, whatever else the machine does
			runs := 0
			for b.Loop() {
				var out, errb bytes.Buffer
				cmd := exec.Command(bin, "rules", "--inventory", inv, "--format", "json")
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				peak := benchlab.WatchPeakRSS(cmd.Process.Pid)
				err := cmd.Wait()
				rss = max(rss, <-peak)
				if err != nil {
					b.Fatalf("portwarden rules: %v\n%s", err, errb.String())
				}
				size = int64(out.Len())
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				runs++
			}
			b.ReportMetric(cpu.Seconds()/float64(runs), "s-cpu/op")
			b.ReportMetric(float64(rss)/1024, "MB-peak-rss")
			b.ReportMetric(float64(size)/(1<<20), "MB-json")
		})
	}
}
