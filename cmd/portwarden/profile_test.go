package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// profileInventory is one Linux host on a loopback port nobody listens
// on (the host fails at once), with a password set to marker.
func profileInventory(t *testing.T, marker string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	inv := fmt.Sprintf("host \"lnx01\" {\n  address = \"127.0.0.1\"\n  os = \"linux\"\n  roles = [\"backup_repository\"]\n"+
		"  ssh {\n    port = %d\n    password = %q\n    known_hosts = %q\n    connect_timeout = \"2s\"\n  }\n}\n",
		port, marker, filepath.Join(dir, "known_hosts"))
	path := filepath.Join(dir, "inventory.hcl")
	if err := os.WriteFile(path, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readProfile checks that path is a gzipped profile go tool pprof reads,
// of the sample type want, and returns its uncompressed bytes.
func readProfile(t *testing.T, path, want string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: not gzipped: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out, err := exec.Command("go", "tool", "pprof", "-raw", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -raw %s: %v\n%s", path, err, out)
	}
	if !strings.Contains(string(out), want) {
		t.Errorf("%s: go tool pprof finds no %q samples:\n%.600s", path, want, out)
	}
	return raw
}

// TestProfileFlags: plan with --cpuprofile and --memprofile writes a CPU
// and a heap profile go tool pprof reads, also when the host fails, and
// neither holds the inventory's secret.
func TestProfileFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	const marker = "pwMarkerProfile5K8"
	inv := profileInventory(t, marker)
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	// Every allocation sampled: the heap profile surely has portwarden's.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	_, errOut, code := runCLI(t, "plan", "--inventory", inv, "--progress", "none", "--cpuprofile", cpu, "--memprofile", mem)
	if code != exitInvalid || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("plan: exit %d, want %d (the host fails to connect):\n%s", code, exitInvalid, errOut)
	}
	for _, p := range []struct{ path, sample string }{{cpu, "samples/count"}, {mem, "inuse_space/bytes"}} {
		raw := readProfile(t, p.path, p.sample)
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("%s holds the inventory's password", p.path)
		}
		// A short run may take no CPU sample; the heap has allocations
		// of the inventory's loading at least.
		if p.path == mem && !bytes.Contains(raw, []byte("portwarden/inventory.")) {
			t.Errorf("%s has no allocation of portwarden's in it", p.path)
		}
	}
}

// TestProfileFlagsBadPath: a profile that cannot be created stops the
// command before any host is contacted.
func TestProfileFlagsBadPath(t *testing.T) {
	inv := profileInventory(t, "pwMarkerProfile5K9")
	for _, flag := range []string{"--cpuprofile", "--memprofile"} {
		_, errOut, code := runCLI(t, "plan", "--inventory", inv, "--progress", "none", flag, filepath.Join(t.TempDir(), "missing", "p.pprof"))
		if code != 1 || !strings.Contains(errOut, "Nothing was changed") || strings.Contains(errOut, "lnx01") {
			t.Errorf("%s in a missing directory: exit %d, want 1 with no host contacted:\n%s", flag, code, errOut)
		}
	}
}

// TestHeapProfileOnSIGUSR1: with --memprofile, SIGUSR1 writes the heap
// profile while the command runs (watch runs until stopped).
func TestHeapProfileOnSIGUSR1(t *testing.T) {
	mem := filepath.Join(t.TempDir(), "mem.pprof")
	if err := startProfiles(profileFlags{mem: mem}); err != nil {
		t.Fatal(err)
	}
	defer finishProfiles(io.Discard, 0)
	if fi, err := os.Stat(mem); err != nil || fi.Size() != 0 {
		t.Fatalf("before SIGUSR1: %v, %v; want an empty file", fi, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(mem); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 wrote no heap profile")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := startProfiles(profileFlags{mem: mem}); err == nil {
		t.Error("a second profile started while one runs")
	}
}
