package lab

import (
	"context"
	"testing"
	"time"
)

// UpForTest builds a lab for a test and takes it down in the test's
// cleanup, also when the test fails. It skips the test when a lab cannot
// be built here (not root, no sshd...). An empty o.Dir means a fresh
// t.TempDir().
func UpForTest(t testing.TB, o Options) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no lab: %v", err)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
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
