package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeT records failures instead of failing the real test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic(f) }
func (f *fakeT) Fatal(...any)          { f.failed = true; panic(f) }

func check(path, got string) (failed bool) {
	f := &fakeT{}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		failed = f.failed
	}()
	Check(f, path, got)
	return f.failed
}

func TestCheck(t *testing.T) {
	if Update() {
		t.Skip("checks comparison, not -update")
	}
	path := filepath.Join(t.TempDir(), "g.txt")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if check(path, "same\n") {
		t.Error("equal output failed the check")
	}
	if !check(path, "other\n") {
		t.Error("different output passed the check")
	}
	if !check(filepath.Join(t.TempDir(), "missing.txt"), "x") {
		t.Error("a missing golden file passed the check")
	}
}
