package orchestrator

// Hosts worked on at once by default: most of a host's time is waiting
// for the host, so a core carries many; the cap keeps memory, file
// descriptors and the controller's share of handshakes bounded on a big
// machine, the floor keeps a small one from crawling through a fleet.
const (
	ParallelPerCPU = 64
	ParallelMin    = 32
	ParallelMax    = 256
)

// DefaultParallel is the number of hosts to work on at once on a machine
// with cpus cores: ParallelPerCPU per core, between ParallelMin and
// ParallelMax.
func DefaultParallel(cpus int) int {
	return min(max(cpus*ParallelPerCPU, ParallelMin), ParallelMax)
}
