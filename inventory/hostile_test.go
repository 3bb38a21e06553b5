package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A value that env() or file() supplies is never shown in a diagnostic,
// whatever attribute it lands in; a literal value is.
func TestComputedValuesStayOutOfDiagnostics(t *testing.T) {
	pol := builtin(t)
	const secret = "Hunter2 Marker!"
	t.Setenv("PW_TEST_VALUE", secret)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "v.txt"), []byte(secret+"\n"), 0o600)
	for _, expr := range []string{`env("PW_TEST_VALUE")`, `file("v.txt")`, `"${env("PW_TEST_VALUE")}"`, `lower(env("PW_TEST_VALUE"))`} {
		for _, tmpl := range []string{
			"host \"a\" {\n  address = %s\n  os = \"linux\"\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = %s\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  mode = %s\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  firewall = %s\n}\n",
			"network \"n\" {\n  cidrs = [%s]\n  roles = [\"console\"]\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  ssh {\n    proxy_jump = %s\n  }\n}\n",
			"host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n    auth = %s\n  }\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  groups = [%s]\n}\n",
			"host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [%s]\n}\n",
			"group \"g\" {\n  roles = [%s]\n}\nhost \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  groups = [\"g\"]\n}\n",
			"network \"n\" {\n  cidrs = [\"10.1.0.0/16\"]\n  roles = [%s]\n}\n",
		} {
			src := strings.Replace(tmpl, "%s", expr, 1)
			_, diags := Parse([]byte(src), filepath.Join(dir, "inv.hcl"), pol)
			if !diags.HasErrors() {
				t.Errorf("%s: accepted", src)
				continue
			}
			for _, d := range diags {
				if strings.Contains(strings.ToLower(d.Summary+d.Detail), strings.ToLower(secret)) {
					t.Errorf("%s: diagnostic shows the value: %s: %s", src, d.Summary, d.Detail)
				}
				if d.Subject == nil {
					t.Errorf("%s: diagnostic without a range: %s", src, d.Summary)
				}
			}
		}
	}
	// A computed address that is a valid name, used twice.
	t.Setenv("PW_TEST_NAME", "hunter2-marker.example")
	src := "host \"a\" {\n  address = env(\"PW_TEST_NAME\")\n  os = \"linux\"\n}\nhost \"b\" {\n  address = env(\"PW_TEST_NAME\")\n  os = \"linux\"\n}\n"
	if _, diags := Parse([]byte(src), filepath.Join(dir, "inv.hcl"), pol); !diags.HasErrors() || strings.Contains(diags.Error(), "hunter2-marker") {
		t.Errorf("duplicate computed address: %v", diags)
	}
	// Warnings about the host's connection settings name it without a
	// computed address.
	src = "host \"w\" {\n  address = env(\"PW_TEST_NAME\")\n  os = \"windows\"\n  winrm {\n    insecure = true\n  }\n}\n"
	if _, diags := Parse([]byte(src), filepath.Join(dir, "inv.hcl"), pol); len(diags) == 0 || diags[0].Summary != "Unverified WinRM certificate" ||
		strings.Contains(diags.Error(), "hunter2-marker") || !strings.Contains(diags[0].Detail, "this host") {
		t.Errorf("warning with a computed address: %v", diags)
	}
	// A literal value is still quoted, to help.
	_, diags := Parse([]byte("host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"solaris\"\n}\n"), "inv.hcl", pol)
	if !strings.Contains(diags.Error(), "solaris") {
		t.Errorf("literal value not shown: %s", diags.Error())
	}
}

// file() reads regular files under a cap, without blocking, and a FIFO
// among an inventory's files cannot hang loading.
func TestFileFuncAndLoadRefuseSpecialFiles(t *testing.T) {
	pol := builtin(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, MaxFileFunc+1), 0o600)
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "a device"},
		{fifo, "a FIFO"},
		{dir, "a directory"},
		{filepath.Join(dir, "big"), "more than the 1 MiB"},
	} {
		src := "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  ssh {\n    password = file(\"" + tc.path + "\")\n  }\n}\n"
		done := make(chan string, 1)
		go func() {
			_, diags := Parse([]byte(src), filepath.Join(dir, "inv.hcl"), pol)
			done <- diags.Error()
		}()
		select {
		case msg := <-done:
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "inv.hcl:5") {
				t.Errorf("file(%s): %s, want %q at line 5", tc.path, msg, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("file(%s) blocked", tc.path)
		}
	}

	invDir := filepath.Join(dir, "inv")
	os.Mkdir(invDir, 0o755)
	os.WriteFile(filepath.Join(invDir, "a.hcl"), []byte("host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\n"), 0o600)
	syscall.Mkfifo(filepath.Join(invDir, "b.hcl"), 0o600)
	for _, p := range []string{invDir, filepath.Join(invDir, "b.hcl")} {
		done := make(chan string, 1)
		go func() { _, diags := Load(p, pol); done <- diags.Error() }()
		select {
		case msg := <-done:
			if !strings.Contains(msg, "a FIFO") {
				t.Errorf("Load(%s): %s, want a FIFO refused", p, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) blocked", p)
		}
	}
}
