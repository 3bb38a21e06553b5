package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// The secrets suite: every kind of secret the inventory carries (SSH
// password, key passphrase, sudo password, WinRM password) set to a marker,
// then rules, plan, apply and verify in every output form (text, JSON,
// --progress lines and json, --out plan file, --audit-log, --metrics-file,
// report in HTML, Markdown and JSON).
// No output may contain a marker, raw or base64-encoded (alone, or as the
// user:password of a Basic header).
func TestSecretsSuite(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3, Windows: 1, PasswordAuth: true})
	dir := t.TempDir()
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("needs ssh-keygen")
	}
	markers := map[string]string{
		"passphrase": "pwMarkerPassphrase7Q1",
		"sudo":       "pwMarkerSudo7Q2",
		"ssh":        "pwMarkerSSHPassword7Q3",
	}
	// The passphrase protects a copy of the lab's key that lnx01 uses.
	key := filepath.Join(dir, "id_ed25519")
	b, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(key, b, 0o600)
	if out, err := exec.Command(keygen, "-q", "-p", "-N", markers["passphrase"], "-P", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v: %s", err, out)
	}
	// The WinRM marker is the simulated host's real password: it is used.
	wpw, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil {
		t.Fatal(err)
	}
	markers["winrm"] = strings.TrimSpace(string(wpw))
	t.Setenv("PW_TEST_SUDO", markers["sudo"])
	os.WriteFile(filepath.Join(dir, "passphrase"), []byte(markers["passphrase"]+"\n"), 0o600)

	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults {\n  ssh {\n    known_hosts = %q\n    connect_timeout = \"3s\"\n  }\n", l.KnownHostsPath())
	fmt.Fprintf(&inv, "  winrm {\n    user = \"Administrator\"\n    password = file(%q)\n    ca_cert = %q\n    connect_timeout = \"3s\"\n  }\n}\n", l.WinRMPasswordPath(), l.CACertPath())
	for _, h := range l.Hosts {
		roles := make([]string, len(h.Roles))
		for i, r := range h.Roles {
			roles[i] = fmt.Sprintf("%q", r)
		}
		fmt.Fprintf(&inv, "host %q {\n  address = %q\n  os = %q\n  roles = [%s]\n", h.Name, h.Address, h.OS, strings.Join(roles, ", "))
		switch h.Name {
		case "lnx01": // encrypted key, passphrase from a file; sudo password from env()
			fmt.Fprintf(&inv, "  persist_root = %q\n  ssh {\n    private_key = %q\n    passphrase = file(%q)\n    sudo = true\n    sudo_password = env(\"PW_TEST_SUDO\")\n  }\n",
				h.PersistRoot, key, filepath.Join(dir, "passphrase"))
		case "lnx02": // key and a literal password
			fmt.Fprintf(&inv, "  persist_root = %q\n  ssh {\n    private_key = %q\n    password = %q\n  }\n", h.PersistRoot, l.KeyPath(), markers["ssh"])
		case "lnx03": // only the password: root may not log in with one, so this host fails
			fmt.Fprintf(&inv, "  persist_root = %q\n  ssh {\n    password = %q\n  }\n", h.PersistRoot, markers["ssh"])
		}
		inv.WriteString("}\n")
	}
	fmt.Fprintf(&inv, "host \"vbr\" {\n  address = %q\n  os = \"windows\"\n  roles = [\"backup_server\"]\n  managed = false\n}\n", l.Controller)
	invPath := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(invPath, []byte(inv.String()), 0o600)

	var forbidden []string
	for _, m := range markers {
		forbidden = append(forbidden, m)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding} {
			forbidden = append(forbidden, enc.EncodeToString([]byte(m)), enc.EncodeToString([]byte("Administrator:"+m)), enc.EncodeToString([]byte("root:"+m)))
		}
	}
	check := func(what, out string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s contains a secret (%q)", what, f)
			}
		}
	}

	base := []string{"--inventory", invPath}
	planFile := filepath.Join(dir, "plan.json")
	audit, metrics := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "metrics.prom")
	reports := []string{filepath.Join(dir, "report.html"), filepath.Join(dir, "report.md"), filepath.Join(dir, "report.json")}
	runs := [][]string{
		{"rules"}, {"rules", "--format", "json"},
		{"plan", "--progress", "lines"}, {"plan", "--format", "json", "--progress", "json", "--out", planFile},
		{"apply", "--auto-approve", "--format", "json", "--progress", "json", "--audit-log", audit, "--metrics-file", metrics},
		{"apply", "--auto-approve", "--progress", "lines", "--audit-log", audit, "--metrics-file", metrics},
		{"plan", "--format", "json", "--out", planFile},
		{"apply", "--auto-approve", "--plan", planFile, "--audit-log", audit, "--metrics-file", metrics},
		{"verify", "--progress", "lines"}, {"verify", "--format", "json", "--progress", "json"},
		{"report", "--format", "html", "--probe", "--out", reports[0]},
		{"report", "--format", "markdown", "--out", reports[1]},
		{"report", "--format", "json", "--probe", "--out", reports[2]},
		{"apply", "--auto-approve", "--destroy", "--format", "json", "--audit-log", audit},
	}
	for i, r := range runs {
		out, errOut, code := runCLI(t, append(r, base...)...)
		what := strings.Join(r, " ")
		check(what+" stdout", out)
		check(what+" stderr", errOut)
		t.Logf("%s: exit %d", what, code)
		if i != 4 {
			continue
		}
		// The first apply used every secret: lnx01 (passphrase, sudo),
		// lnx02 and win01 are applied; lnx03 fails to authenticate.
		var doc applyDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("apply output is not JSON: %v\n%s\n%s", err, out, errOut)
		}
		for _, h := range []string{"lnx01", "lnx02", "win01"} {
			if hp := hostOf(doc.jsonPlan, h); hp.Applied == nil || !*hp.Applied {
				t.Errorf("%s was not applied: %+v", h, hp)
			}
		}
		if hp := hostOf(doc.jsonPlan, "lnx03"); !strings.Contains(hp.Error, "auth") {
			t.Errorf("lnx03: error %q, want an authentication failure", hp.Error)
		}
	}
	for _, f := range append([]string{planFile, audit, metrics}, reports...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		check(filepath.Base(f), string(b))
	}
	// The lab hosts' logs (sshd, the simulated WinRM server) and the files
	// portwarden persisted on them must not hold a secret either.
	checkLabFiles(t, l, check)
}

// checkLabFiles calls check on every file of the lab (up to 8 MiB) but the
// WinRM password file itself.
func checkLabFiles(t *testing.T, l *lab.Lab, check func(what, content string)) {
	t.Helper()
	err := filepath.Walk(l.Dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 8<<20 || p == l.WinRMPasswordPath() {
			return nil
		}
		b, _ := os.ReadFile(p)
		check("lab file "+p, string(b))
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
