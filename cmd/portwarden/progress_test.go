package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgressKeepsErrors: every mode says which host failed and why.
func TestProgressKeepsErrors(t *testing.T) {
	for _, mode := range []string{"lines", "none", "bar"} {
		var buf bytes.Buffer
		p := newProgress(&buf, mode, "text")
		p.start("Planning", 2)
		p.HostStart("repo01", "plan")
		p.HostDone("repo01", "plan", errors.New("connecting to root@192.0.2.30:22: connection refused"))
		p.HostDone("repo02", "plan", nil)
		p.finish()
		if !strings.Contains(buf.String(), "repo01: plan failed: connecting to root@192.0.2.30:22: connection refused") {
			t.Errorf("%s: %q lacks the host and its error", mode, buf.String())
		}
	}
}

// TestPerHostErrorsOnStderr: a host that cannot be reached is named with
// its error on stderr; stdout keeps the plan view.
func TestPerHostErrorsOnStderr(t *testing.T) {
	dir := writeFiles(t, map[string]string{"id": "not a key", "known_hosts": "", "inv.hcl": `
host "lnx01" {
  address = "127.0.0.1"
  os      = "linux"
  roles   = ["backup_repository"]
  ssh {
    port        = 1
    private_key = "id"
    known_hosts = "known_hosts"
  }
}
`})
	for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"verify"}} {
		for _, progress := range []string{"none", "lines"} {
			out, errOut, code := runCLI(t, append(cmd, "--inventory", filepath.Join(dir, "inv.hcl"), "--progress", progress)...)
			if code != 1 || !strings.Contains(errOut, "lnx01: plan failed: ") || !strings.Contains(errOut, "private key") {
				t.Errorf("%s --progress %s: code %d, stderr %q", cmd[0], progress, code, errOut)
			}
			if !strings.Contains(out, "✗ lnx01") {
				t.Errorf("%s --progress %s: stdout lacks the failed host: %q", cmd[0], progress, out)
			}
		}
	}
}

// A bar over hosts (apply --auto-approve) counts each host once, when the
// engine is done with it, not once per phase; text written above the bar
// comes out whole.
func TestProgressBarOverHosts(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "bar", "text")
	p.startHosts("Applying", 2)
	p.HostDone("repo01", "plan", nil)
	p.HostDone("repo01", "apply", nil)
	p.HostDone("repo01", "confirm", nil)
	if got := p.bar.State().CurrentNum; got != 0 {
		t.Errorf("phases moved the bar over hosts to %d", got)
	}
	p.HostEnd("repo01", nil)
	if got := p.bar.State().CurrentNum; got != 1 {
		t.Errorf("bar at %d after one host ended, want 1", got)
	}
	var out bytes.Buffer
	p.above(func() { out.WriteString("  # repo01\n") })
	p.finish()
	if out.String() != "  # repo01\n" {
		t.Errorf("text above the bar: %q", out.String())
	}

	// A bar over phases (plan, then apply after approval) is as before.
	p.start("Planning", 2)
	p.HostEnd("repo01", nil)
	p.HostDone("repo01", "plan", nil)
	if got := p.bar.State().CurrentNum; got != 1 {
		t.Errorf("bar over phases at %d, want 1", got)
	}
	p.finish()
}
