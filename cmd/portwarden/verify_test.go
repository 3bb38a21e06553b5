package main

import (
	"strings"
	"testing"

	"github.com/portwarden/portwarden/orchestrator"
)

// TestWriteProbesText: each probe names what it tried as a rule spec,
// "tcp/445" for a TCP probe and the rule's own spec for a UDP rule that
// is not probed, never "udp/udp/53".
func TestWriteProbesText(t *testing.T) {
	probes := []*orchestrator.Probe{
		{From: "vbr", To: "repo1", Proto: "tcp", Port: 445, RuleKey: "tcp/445,2500-3300", Outcome: orchestrator.Open},
		{From: "vbr", To: "repo1", Proto: "udp", RuleKey: "udp/53", Outcome: orchestrator.NotProbed, Detail: "UDP is not probed"},
	}
	var b strings.Builder
	if failed := writeProbesText(&b, probes); failed != 0 {
		t.Errorf("failed = %d, want 0", failed)
	}
	out := b.String()
	for _, want := range []string{"vbr → repo1  tcp/445 ", "vbr → repo1  udp/53 "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "udp/udp") {
		t.Errorf("doubled protocol:\n%s", out)
	}
}
