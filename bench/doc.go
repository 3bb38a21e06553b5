// Package bench holds portwarden's speed and memory benchmarks. Targets
// live here, never in timed tests:
//
//   - BenchmarkCompute: rule computation for a fleet of hundreds of hosts
//     must stay in milliseconds, allocation-light.
//   - BenchmarkConvergeLab: a fleet of real OpenSSH hosts in network
//     namespaces converges from scratch in little more than one SSH
//     connection per host (needs root; skipped otherwise). The brief's
//     target is 20× faster than Ansible's ~90 s for 50 hosts: under 4.5 s.
//
// Run: make bench (or go test -run '^$' -bench . -benchmem ./bench/).
package bench
