package main

import (
	"math"
	"testing"
)

func TestBusyTicks(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 5 40 9000 30 2 3 1 50 7\ncpu0 50 2 20 4500 15 1 1 0 25 3\n"
	got, err := busyTicks(stat)
	if want := int64(100 + 5 + 40 + 2 + 3 + 1); err != nil || got != want {
		t.Errorf("busyTicks = %d, %v; want %d (idle, iowait and guest left out)", got, err, want)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n"} {
		if _, err := busyTicks(bad); err == nil {
			t.Errorf("busyTicks(%q): no error", bad)
		}
	}
}

func TestBounds(t *testing.T) {
	b := bounds(20, 2, 1, 2.5, 3, 6)
	if b.noop != 22.5 {
		t.Errorf("no-op bound %v, want the floor and the nft read, 22.5", b.noop)
	}
	if want := 22.5 + 3 + 6 + 2 + 1; math.Abs(b.converge-want) > 1e-9 {
		t.Errorf("converge bound %v, want %v", b.converge, want)
	}
}

func TestCostPerHost(t *testing.T) {
	c := cost{machine: 3e9, controller: 3e8, rounds: 3} // 3 s and 0.3 s over 3 rounds
	m, ctl := c.perHost(100)
	if math.Abs(m-10) > 1e-9 || math.Abs(ctl-1) > 1e-9 {
		t.Errorf("perHost = %v ms, %v ms; want 10 and 1", m, ctl)
	}
}
