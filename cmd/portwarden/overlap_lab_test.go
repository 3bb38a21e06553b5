package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestFaultTwoAppliesOverlap: two applies whose changes of one host
// overlap for certain, not by chance. Run A (from the controller) applies
// lnx01 and arms its revert, which holds lnx01's lock until A confirms;
// A's confirm cannot connect (new SSH connections from the controller are
// dropped on lnx01), so A holds the lock for its whole connect timeout.
// Meanwhile run B, started from another address (inside lnx03's
// namespaces), removes A's rules from lnx01 and applies lnx02, with --lock-wait 1s: lnx01 must be
// refused with the lock message and left unchanged by B, lnx02 applied.
// A then rolls lnx01 back; a rerun converges.
func TestFaultTwoAppliesOverlap(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bin := buildPortwarden(t)
	inv := writeInventory(t, l, faultSpecs, "")
	src, _ := os.ReadFile(inv)
	// A's confirm dials twice with this timeout: the window B runs in.
	invA := strings.TrimSuffix(inv, ".hcl") + "-a.hcl"
	os.WriteFile(invA, []byte(strings.Replace(string(src), `connect_timeout = "3s"`, `connect_timeout = "10s"`, 1)), 0o600)

	a := startCLI(t, bin, "apply", "--inventory", invA, "--host", "lnx01", "--auto-approve", "--format", "json", "--progress", "json", "--confirm-timeout", "60s")
	a.waitEvent(t, "lnx01 planned by A", func(e progressEvent) bool { return e.Phase == "plan" && e.Event == "done" })
	remove := fault(t, l, "lnx01", fmt.Sprintf("ip saddr %s tcp dport 22 ct state new drop", l.Controller))
	a.waitEvent(t, "A's confirm", func(e progressEvent) bool { return e.Phase == "confirm" && e.Event == "start" })
	if !waitArmed(l, "lnx01") {
		t.Fatal("A armed no revert on lnx01")
	}

	start := time.Now()
	// B wants lnx01 without A's rules (a run that sees A's pending
	// change as it is would plan nothing there and need no lock).
	invB := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{}},
		"lnx02": {roles: []string{"backup_repository"}},
	}, "")
	b := inHost(l, "lnx03", bin, "apply", "--inventory", invB, "--auto-approve", "--format", "json", "--lock-wait", "1s", "--confirm-timeout", "60s")
	var bOut, bErr bytes.Buffer
	b.Stdout, b.Stderr = &bOut, &bErr
	b.Run()
	took := time.Since(start)
	var bDoc applyDoc
	if err := json.Unmarshal(bOut.Bytes(), &bDoc); err != nil {
		t.Fatalf("B's output is not JSON: %v\n%s\n%s", err, bOut.String(), bErr.String())
	}
	if h := hostOf(bDoc.jsonPlan, "lnx01"); h.Error != "another portwarden run holds the lock on lnx01" || h.Left != "unchanged" {
		t.Errorf("B on lnx01: error %q, left %q; want refused for the lock, unchanged", h.Error, h.Left)
	}
	if h := hostOf(bDoc.jsonPlan, "lnx02"); h.Error != "" || h.Left != "applied" {
		t.Errorf("B on lnx02: error %q, left %q; want applied", h.Error, h.Left)
	}
	if code := b.ProcessState.ExitCode(); code != exitPartial {
		t.Errorf("B: exit %d, want %d (one host refused, one applied)", code, exitPartial)
	}
	t.Logf("run B, while A held lnx01's lock: done in %s", took.Round(100*time.Millisecond))

	code := a.wait(t)
	var aDoc applyDoc
	if err := json.Unmarshal(a.stdout.Bytes(), &aDoc); err != nil {
		t.Fatalf("A's output is not JSON: %v\n%s", err, a.stdout.String())
	}
	if h := hostOf(aDoc.jsonPlan, "lnx01"); code != exitInvalid || h.Left != "rolled back" || !strings.Contains(h.Error, "could not reconnect") {
		t.Errorf("A: exit %d, lnx01 error %q, left %q; want rolled back", code, h.Error, h.Left)
	}
	if got := owned(l, "lnx01"); got != "" {
		t.Errorf("lnx01 is neither in its old state after A's rollback nor changed by B:\n%s", got)
	}
	remove()
	converge(t, l, inv, "lnx01", "lnx02")
}
