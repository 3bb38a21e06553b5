package benchlab

import "testing"

// The default of --parallel is read from the flag package's help: a
// fixed default, or one chosen from the CPU count between a floor and a cap.
func TestDefaultParallel(t *testing.T) {
	auto := "  --parallel int\n      hosts to work on at once; 0 (the default) chooses from the machine: 64 per CPU, at least 32, at most 256\n  --policy dir\n"
	for _, tc := range []struct {
		help string
		cpus int
		want int
	}{
		{"  --parallel int\n      hosts to work on at once (default 32)\n  --progress string\n", 2, 32},
		{auto, 1, 64},
		{auto, 2, 128},
		{auto, 16, 256},
	} {
		got, err := ParseDefaultParallel(tc.help, tc.cpus)
		if err != nil || got != tc.want {
			t.Errorf("ParseDefaultParallel(%d CPUs) = %d, %v; want %d", tc.cpus, got, err, tc.want)
		}
	}
	if _, err := ParseDefaultParallel("  --parallel int\n      hosts (default 0)\n", 2); err == nil {
		t.Error("a default of 0 was accepted")
	}
	if _, err := ParseDefaultParallel("no such flag", 2); err == nil {
		t.Error("help without --parallel was accepted")
	}
}
