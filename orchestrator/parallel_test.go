package orchestrator

import "testing"

func TestDefaultParallel(t *testing.T) {
	for _, tt := range []struct{ cpus, want int }{
		{0, 32}, {1, 64}, {2, 128}, {4, 256}, {64, 256},
	} {
		if got := DefaultParallel(tt.cpus); got != tt.want {
			t.Errorf("DefaultParallel(%d) = %d, want %d", tt.cpus, got, tt.want)
		}
	}
}
