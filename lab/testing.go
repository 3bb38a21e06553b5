package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// UpForTest builds a lab for a test and takes it down in the test's
// cleanup, also when the test fails. It skips the test when a lab cannot
// be built here (not root, no sshd...). An empty o.Dir means a fresh
// t.TempDir(). With Windows hosts and no LabBinary (nor
// $PORTWARDEN_LAB_BIN), it builds cmd/portwarden-lab first.
func UpForTest(t testing.TB, o Options) *Lab {
	t.Helper()
	SkipShort(t, "a lab (network namespaces, sshd, simulated Windows hosts)")
	if err := Available(); err != nil {
		t.Skipf("no lab: %v", err)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Windows > 0 && o.LabBinary == "" && os.Getenv("PORTWARDEN_LAB_BIN") == "" {
		o.LabBinary = BuildLabBinary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// BuildLabBinary builds cmd/portwarden-lab into a temporary directory of
// the test and returns its path. It needs the go command and the module's
// source, as "go test" has.
func BuildLabBinary(t testing.TB) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		t.Fatalf("building portwarden-lab: cannot find the module: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "portwarden-lab")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/portwarden-lab")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building portwarden-lab: %v\n%s", err, out)
	}
	return bin
}
