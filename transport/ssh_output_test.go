package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// A host that prints without end (on both streams) fails with a clear
// error naming it and the cap; the controller keeps at most the cap, the
// script is killed on the host, and the connection serves the next script.
func TestSSHOutputCap(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	cfg := labSSH(l, "lnx01")
	c := dialSSHTest(t, cfg)

	start := time.Now()
	res, err := c.Run(context.Background(), Script{Body: "yes portwarden-flood-err >&2 &\nexec yes portwarden-flood-out"})
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("err = %v, want ErrOutputTooLarge", err)
	}
	if !strings.Contains(err.Error(), cfg.Address+":22 sent more than 16 MiB") {
		t.Errorf("err = %q, want it to name the host and the cap", err)
	}
	if n := len(res.Stdout) + len(res.Stderr); n > MaxSSHOutput {
		t.Errorf("kept %d bytes, more than the cap %d", n, MaxSSHOutput)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stopping took %s", d)
	}

	runSSHTest(t, c, "true", nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := runSSHTest(t, c, "for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null; echo; done | grep -c '^yes portwarden-flood' || true", nil)
		if strings.TrimSpace(string(out.Stdout)) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the flooding script still runs: %s", out.Stdout)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
