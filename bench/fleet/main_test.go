package main

import (
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	for in, want := range map[string][]int{"50 200 1000": {50, 200, 1000}, "50,200": {50, 200}, " 7 ": {7}} {
		got, err := parseSizes(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "x", "2001", "50;rm"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q): no error", bad)
		}
	}
}
