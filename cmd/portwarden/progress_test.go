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
