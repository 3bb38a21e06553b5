package main

import (
	"slices"
	"strings"
	"testing"
	"time"
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

func TestReadRounds(t *testing.T) {
	log := `{"level":"INFO","msg":"watching","every":"2s"}
not json
{"level":"INFO","msg":"round done","hosts":3,"in_sync":3,"duration":"1.5s"}
{"level":"INFO","msg":"round done","hosts":3,"in_sync":3,"duration":"400ms"}
{"level":"INFO","msg":"round done","hosts":3,"in_sync":3,"duration":"500ms"}
{"level":"INFO","msg":"round done","hosts":3,"in_sync":3,"duration":"9s"}
`
	got, err := readRounds(strings.NewReader(log), 3)
	want := []time.Duration{1500 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("readRounds = %v, %v; want %v", got, err, want)
	}
	if w := warmRound(got); w != 400*time.Millisecond {
		t.Errorf("warmRound = %v, want the fastest after the first, 400ms", w)
	}
	drift := `{"msg":"round done","hosts":3,"in_sync":2,"duration":"1s"}` + "\n"
	if _, err := readRounds(strings.NewReader(drift), 3); err == nil || !strings.Contains(err.Error(), "2 of 3 hosts in sync") {
		t.Errorf("a round with drift: %v", err)
	}
	if _, err := readRounds(strings.NewReader(log), 5); err == nil || !strings.Contains(err.Error(), "after 4 of 5 rounds") {
		t.Errorf("watch ending early: %v", err)
	}
}
