package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestHostFloodFailsOnlyThatHost: a host that answers every command with
// endless output (its sshd forces `yes` on every session) fails clearly,
// named with the cap, on stderr and in the plan view, and the other host
// is planned as usual; the controller keeps at most the cap.
func TestHostFloodFailsOnlyThatHost(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	h1, _ := l.Host("lnx01")
	cfg := h1.Dir + "/sshd_config"
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, "ForceCommand exec yes portwarden-flood\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Reboot(context.Background(), "lnx01"); err != nil { // restarts its sshd with the new config
		t.Fatal(err)
	}
	inv := writeInventory(t, l, faultSpecs, "")
	start := time.Now()
	out, errOut, code := runCLI(t, "plan", "--inventory", inv, "--progress", "lines")
	took := time.Since(start)
	want := h1.Address.String() + ":22 sent more than 16 MiB of output"
	if code != exitPartial {
		t.Errorf("exit %d, want %d (one host failed, the other planned)", code, exitPartial)
	}
	if !strings.Contains(errOut, "lnx01: plan failed: ") || !strings.Contains(errOut, want) {
		t.Errorf("stderr does not name lnx01 and the cap (%q):\n%s", want, errOut)
	}
	if !strings.Contains(out, "✗ lnx01") || !strings.Contains(out, "# lnx02") {
		t.Errorf("the plan view lacks the failed lnx01 or the planned lnx02:\n%s", out)
	}
	if strings.Count(out+errOut, "portwarden-flood") > 0 {
		t.Errorf("the flood reached the output")
	}
	t.Logf("flooding host failed in %s", took.Round(time.Millisecond))
	doc, _ := planDoc(t, inv)
	if hp := hostOf(doc, "lnx01"); !strings.Contains(hp.Error, want) {
		t.Errorf("JSON: lnx01 error %q, want %q", hp.Error, want)
	}
	if hp := hostOf(doc, "lnx02"); hp.Error != "" || len(hp.Changes) == 0 {
		t.Errorf("JSON: lnx02 %+v, want planned with changes", hp)
	}
}
