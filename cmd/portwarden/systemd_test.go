package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSystemdExamples: the example units pass systemd-analyze verify with
// the binary where ExecStart names it, score well in systemd-analyze
// security, and their portwarden command lines are ones portwarden
// accepts.
func TestSystemdExamples(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildPortwarden(t)
	src := filepath.Join("..", "..", "examples", "systemd")
	dir := t.TempDir()
	units := []string{"portwarden-drift.service", "portwarden-drift.timer", "portwarden-watch.service"}
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join(src, u))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasSuffix(u, ".service") {
			for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "User=portwarden", "StateDirectory=portwarden", "CapabilityBoundingSet=\n"} {
				if !strings.Contains(text, want) {
					t.Errorf("%s lacks %q", u, want)
				}
			}
			checkExecStart(t, u, text, bin)
		}
		// Install as the README says, with the binary where this test built it.
		text = strings.ReplaceAll(text, "/usr/local/bin/portwarden", bin)
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	exposure := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, p := range paths {
		if !strings.HasSuffix(p, ".service") {
			continue
		}
		out, _ := exec.Command(analyze, "security", "--offline=true", p).CombinedOutput()
		m := exposure.FindSubmatch(out)
		if m == nil {
			t.Errorf("systemd-analyze security %s: no exposure level in:\n%s", filepath.Base(p), out)
			continue
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 2.5 {
			t.Errorf("%s: exposure level %.1f, want at most 2.5 (hardening lost?)", filepath.Base(p), v)
		}
	}
}

// checkExecStart runs the unit's portwarden command line with an inventory
// that does not exist: portwarden must get as far as reading it, so every
// flag of the line is one it knows.
func checkExecStart(t *testing.T, unit, text, bin string) {
	t.Helper()
	i := strings.Index(text, "ExecStart=/usr/local/bin/portwarden ")
	if i < 0 {
		t.Errorf("%s: no ExecStart running /usr/local/bin/portwarden", unit)
		return
	}
	line := text[i+len("ExecStart=/usr/local/bin/portwarden "):]
	line = strings.ReplaceAll(line, "\\\n", " ")
	line, _, _ = strings.Cut(line, "\n")
	args := strings.Fields(line)
	missing := filepath.Join(t.TempDir(), "missing.hcl")
	for j := range args {
		if j > 0 && args[j-1] == "--inventory" {
			args[j] = missing
		}
		if strings.HasPrefix(args[j], "/var/lib/portwarden") {
			args[j] = filepath.Join(t.TempDir(), filepath.Base(args[j]))
		}
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing.hcl") || strings.Contains(string(out), "flag provided but not defined") {
		t.Errorf("%s: portwarden %s: %v\n%s", unit, strings.Join(args, " "), err, out)
	}
}
