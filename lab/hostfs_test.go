package lab

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCPUsOf: the CPUs of an affinity mask, which need not start at 0 or
// be contiguous (a cgroup's cpuset, taskset).
func TestCPUsOf(t *testing.T) {
	for _, tc := range []struct {
		set  []int
		want []int
	}{{[]int{0}, []int{0}}, {[]int{1, 3}, []int{1, 3}}, {[]int{2, 64, 130}, []int{2, 64, 130}}} {
		var s unix.CPUSet
		for _, c := range tc.set {
			s.Set(c)
		}
		if got := cpusOf(&s); !slices.Equal(got, tc.want) {
			t.Errorf("cpusOf(%v) = %v", tc.set, got)
		}
	}
	if cpus := allowedCPUs(); len(cpus) == 0 {
		t.Error("allowedCPUs: none")
	}
}
