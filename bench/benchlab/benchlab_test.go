package benchlab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Exec reports a program's exit code, output and peak memory; only a
// program that cannot start is an error.
func TestExec(t *testing.T) {
	r, err := Exec(context.Background(), []string{"PW_BENCH_X=42"}, "/bin/sh", "-c", `echo "$PW_BENCH_X"; echo oops >&2; sleep 0.2; exit 3`)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 3 || string(r.Stdout) != "42\n" || string(r.Stderr) != "oops\n" {
		t.Errorf("got exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	if r.MaxRSS <= 0 || r.Wall <= 0 {
		t.Errorf("MaxRSS %d, Wall %v: want both measured", r.MaxRSS, r.Wall)
	}
	if _, err := Exec(context.Background(), nil, "/nonexistent/portwarden"); err == nil {
		t.Error("a missing program is no error")
	}
}

func TestFormat(t *testing.T) {
	for got, want := range map[string]string{
		Ratio(3*time.Second, 2*time.Second): "1.5×",
		Ratio(time.Second, 0):               "-",
		Seconds(1234 * time.Millisecond):    "1.2 s",
		MB(299_600_000):                     "300 MB",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestBinary(t *testing.T) {
	dir := t.TempDir()
	if _, err := Binary(filepath.Join(dir, "portwarden")); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing binary: %v", err)
	}
	exe := filepath.Join(dir, "portwarden")
	if err := os.WriteFile(exe, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if got, err := Binary("portwarden"); err != nil || got != exe {
		t.Errorf("Binary(portwarden) = %q, %v; want %q", got, err, exe)
	}
}
