package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/portwarden/portwarden/bench"
)

// BenchmarkRulesCommand runs `rules --format json` in process on the
// 2,000-repository inventories of bench.RepoFleet: loading, computing and
// rendering, with allocations (bench.BenchmarkRulesCLI runs the binary
// and reports its peak RSS).
func BenchmarkRulesCommand(b *testing.B) {
	for _, scattered := range []bool{false, true} {
		inv := filepath.Join(b.TempDir(), "fleet.hcl")
		if err := os.WriteFile(inv, []byte(bench.RepoFleet(2000, scattered)), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("repos=2000/scattered=%v", scattered), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := runRules(context.Background(), []string{"--inventory", inv, "--format", "json"}, io.Discard, io.Discard); code != 0 {
					b.Fatalf("rules exited %d", code)
				}
			}
		})
	}
}
