package orchestrator

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
)

type zoneResolver struct{}

func (zoneResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("fe80::1%eth0;touch")}, nil
}

// A DNS answer with an IPv6 zone fails the host clearly: a zone is free
// text, and an address must be usable in a rule and a probe.
func TestResolveRefusesZones(t *testing.T) {
	inv := &inventory.Inventory{Hosts: []*inventory.Host{{Name: "repo", Address: "repo.example"}}}
	_, err := ResolveAddresses(context.Background(), inv, zoneResolver{})
	if err == nil || !strings.Contains(err.Error(), "IPv6 zone") || !strings.Contains(err.Error(), "repo") {
		t.Fatalf("err = %v, want a zone refusal naming the host", err)
	}
}

// Every value in the probe script is quoted: even an address carrying
// shell text (which parsing never lets through) stays one word.
func TestProbeScriptQuotes(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	canary := filepath.Join(dir, "CANARY")
	hostile := netip.MustParseAddr("fe80::1%$(touch " + canary + ")`touch " + canary + "`;touch " + canary)
	ps := []*Probe{{Addr: netip.MustParseAddr("198.18.0.5"), Port: 22}, {Addr: hostile, Port: 443}}
	body := probeScript(ps).Body
	// Run the probe lines with p stubbed to print its arguments: the real
	// p would open connections.
	lines := body[strings.Index(body, "echo \"### portwarden:probes\"\n"):]
	stub := "p() { printf '%s|%s|%s\\n' \"$1\" \"$2\" \"$3\"; }\n" + lines
	out, err := exec.Command(sh, "-c", stub).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatalf("the probe script ran text from an address:\n%s", body)
	}
	for _, want := range []string{"1|198.18.0.5|22", "2|" + hostile.String() + "|443"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
