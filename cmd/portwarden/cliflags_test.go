package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"rules", "--help"}, {"rules", "-help"}, {"plan", "-h"},
		{"rules", "--inventory", "x.hcl", "--help"},
		{"rules", "--format=json", "--help"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage: portwarden") {
			t.Errorf("%q: code %d, stderr %q, stdout %q; want usage on stdout, exit 0", args, code, errOut, out)
		}
	}
	// "--help" as the value of --host is a value, not a request for help.
	if fs := flagsOf(commands[0]); helpRequested(fs, []string{"--host", "--help"}) {
		t.Error("--host --help: the value was taken for a help request")
	}
	if fs := flagsOf(commands[0]); helpRequested(fs, []string{"extra", "--help"}) {
		t.Error("help after the first non-flag argument was taken for a help request")
	}
}

func TestBothFlagSpellings(t *testing.T) {
	t.Setenv("PW_SUDO_PASSWORD", "x")
	t.Setenv("PW_WINRM_PASSWORD", "x")
	for _, f := range []string{"--inventory", "-inventory"} {
		out, errOut, code := runCLI(t, "rules", f, "../../examples/site.hcl", "--host", "vbr01")
		if code != 0 || !strings.Contains(out, "vbr01") {
			t.Errorf("%s: code %d, stderr %s", f, code, errOut)
		}
	}
}

func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rules", "--inventroy", "x"}, `Did you mean "--inventory"?`},
		{[]string{"plan", "-paralel", "3"}, `Did you mean "--parallel"?`},
		{[]string{"rulez"}, `Did you mean "rules"?`},
		{[]string{"verison"}, `Did you mean "version"?`},
	} {
		out, errOut, code := runCLI(t, tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want exit 1 and %s on stderr", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}}
	got := fillFromBuildInfo(buildInfo{Version: "dev"}, bi)
	if got.Version != "v1.4.0" || got.Commit != "0123abcd-dirty" {
		t.Errorf("from build info: %+v", got)
	}
	got = fillFromBuildInfo(buildInfo{Version: "v2.0.0", Commit: "feed"}, bi)
	if got.Version != "v2.0.0" || got.Commit != "feed" {
		t.Errorf("-ldflags values must win: %+v", got)
	}
	if got := fillFromBuildInfo(buildInfo{Version: "dev"}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); got.Version != "dev" || got.Commit != "unknown" {
		t.Errorf("nothing known: %+v", got)
	}
}

// TestVersionLdflags builds the binary as make build does and runs it.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "portwarden")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=v9.8.7 -X main.commit=c0ffee", ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, arg := range []string{"--version", "-version", "version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		s := string(out)
		if !strings.Contains(s, "portwarden v9.8.7") || !strings.Contains(s, "commit c0ffee") || !strings.Contains(s, "built with go1.") {
			t.Errorf("%s printed %q", arg, s)
		}
	}
}
