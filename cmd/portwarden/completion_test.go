package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCLIDocsUpToDate: docs/cli.md is what the flag definitions generate.
func TestCLIDocsUpToDate(t *testing.T) {
	out, errOut, code := runCLI(t, "docs")
	if code != 0 {
		t.Fatal(errOut)
	}
	want, err := os.ReadFile("../../docs/cli.md")
	if err != nil || string(want) != out {
		t.Fatalf("docs/cli.md is stale (%v): run go generate ./cmd/portwarden", err)
	}
	for _, s := range specs() {
		if !strings.Contains(out, "## portwarden "+s.name) {
			t.Errorf("docs/cli.md lacks %s", s.name)
		}
		for _, f := range s.flags {
			if !strings.Contains(out, "`--"+f.name) {
				t.Errorf("docs/cli.md lacks %s --%s", s.name, f.name)
			}
		}
	}
}

// TestBashCompletion sources the script in a real bash and completes.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, _, code := runCLI(t, "completion", "bash")
	if code != 0 {
		t.Fatal("completion bash failed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "pw.bash")
	os.WriteFile(path, []byte(script), 0o644)
	os.WriteFile(filepath.Join(dir, "inv-site.hcl"), nil, 0o644)
	complete := func(words ...string) string {
		t.Helper()
		line := "source " + path + "; COMP_WORDS=(portwarden"
		for _, w := range words {
			line += " '" + w + "'"
		}
		line += "); COMP_CWORD=" + itoa(len(words)) + "; _portwarden; echo \"${COMPREPLY[*]}\""
		cmd := exec.Command(bash, "--norc", "-c", line)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"va"}, "validate"},
		{[]string{"ver"}, "verify version"},
		{[]string{"rules", "--inv"}, "--inventory"},
		{[]string{"rules", "--format", ""}, "text json"},
		{[]string{"show", "-format", "m"}, "markdown"},
		{[]string{"plan", "--inventory", "inv-"}, "inv-site.hcl"},
		{[]string{"plan", "--detailed"}, "--detailed-exitcode"},
		{[]string{"completion", "--"}, ""},
	} {
		if got := complete(tc.words...); got != tc.want {
			t.Errorf("complete %q = %q, want %q", tc.words, got, tc.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestZshCompletionSyntax: the zsh script parses, and offers every
// command.
func TestZshCompletionSyntax(t *testing.T) {
	script, _, code := runCLI(t, "completion", "zsh")
	if code != 0 {
		t.Fatal("completion failed")
	}
	for _, s := range specs() {
		if !strings.Contains(script, "'"+s.name+":") {
			t.Errorf("zsh completion lacks %s", s.name)
		}
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh here to parse the script")
	}
	path := filepath.Join(t.TempDir(), "_portwarden")
	os.WriteFile(path, []byte(script), 0o644)
	if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
		t.Errorf("zsh rejects the script: %v\n%s", err, out)
	}
	if _, errOut, code := runCLI(t, "completion", "powershell"); code != 1 || !strings.Contains(errOut, "bash, zsh or fish") {
		t.Errorf("unknown shell: %d %s", code, errOut)
	}
}

// TestFishCompletion loads the script in a real fish and completes.
func TestFishCompletion(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("no fish")
	}
	script, _, _ := runCLI(t, "completion", "fish")
	dir := t.TempDir()
	path := filepath.Join(dir, "pw.fish")
	os.WriteFile(path, []byte(script), 0o644)
	for _, tc := range []struct{ line, want string }{
		{"portwarden vali", "validate"},
		{"portwarden rules --form", "--format"},
		{"portwarden show --format ", "json markdown text"},
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source "+path+"; complete -C '"+tc.line+"'")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("complete %q = %q, want %q", tc.line, got, tc.want)
		}
	}
}
