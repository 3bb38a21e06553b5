package transporttest

import (
	"context"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/transport"
)

func TestHostRunsScripts(t *testing.T) {
	h := &Host{}
	ctx := context.Background()
	c := h.Conn()
	res, err := c.Run(ctx, transport.Script{Shell: "sh", Body: "print state\n"})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "### portwarden:state\n" {
		t.Fatalf("empty host: %q exit %d err %v", res.Stdout, res.ExitCode, err)
	}
	res, err = c.Run(ctx, transport.Script{Shell: "sh", Body: "put state\nprint state\n", Stdin: []byte("on")})
	if err != nil || string(res.Stdout) != "### portwarden:state\non\n" {
		t.Fatalf("put: %q err %v", res.Stdout, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx, transport.Script{Shell: "sh", Body: "print state"}); err == nil {
		t.Error("a closed connection ran a script")
	}
	// The host outlives the connection.
	if got := h.Section("state"); got != "on" {
		t.Errorf("section after close = %q", got)
	}
	c2 := h.Conn()
	res, _ = c2.Run(ctx, transport.Script{Shell: "sh", Body: "print state\nfail 3\nput state"})
	if res.ExitCode != 3 || string(res.Stdout) != "### portwarden:state\non\n" {
		t.Errorf("fail: exit %d out %q", res.ExitCode, res.Stdout)
	}
	res, _ = c2.Run(ctx, transport.Script{Shell: "sh", Body: "rm -rf /"})
	if res.ExitCode != 127 || !strings.Contains(string(res.Stderr), "rm: command not found") {
		t.Errorf("unknown command: exit %d stderr %q", res.ExitCode, res.Stderr)
	}
	if _, err := c2.Run(ctx, transport.Script{Shell: "powershell", Body: "print state"}); err == nil {
		t.Error("powershell script ran")
	}
	if n := len(h.Scripts()); n != 5 {
		t.Errorf("host recorded %d scripts, want 5 (the closed connection ran none)", n)
	}
	if c2.LocalAddr().String() != "192.0.2.1" {
		t.Errorf("LocalAddr = %v", c2.LocalAddr())
	}
}
