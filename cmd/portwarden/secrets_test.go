package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// secretForms are the strings no output may hold for these secrets: each
// raw, and base64-encoded (standard, unpadded and URL alphabets) alone and
// as the user:password of a Basic header for the users the suite uses.
func secretForms(secrets ...string) []string {
	var forms []string
	for _, m := range secrets {
		forms = append(forms, m)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(m)), enc.EncodeToString([]byte("Administrator:"+m)), enc.EncodeToString([]byte("root:"+m)))
		}
	}
	return forms
}

// leaks returns the forms that out contains.
func leaks(forms []string, out string) []string {
	var found []string
	for _, f := range forms {
		if strings.Contains(out, f) {
			found = append(found, f)
		}
	}
	return found
}

// TestSecretDetectorCatchesTaint: the suite's grep finds a marker in a
// tainted sample of each form it looks for (so a passing suite means the
// outputs had none, not that the check was blind), and passes a clean one.
func TestSecretDetectorCatchesTaint(t *testing.T) {
	m := "pwMarkerWinRM7Q4"
	forms := secretForms(m)
	for _, tc := range []struct{ name, sample string }{
		{"raw in a log line", `time=2026-01-01T00:00:00Z level=ERROR msg="host failed" error="password ` + m + ` refused"`},
		{"in JSON", `{"error":"auth as Administrator:` + m + `"}`},
		{"Basic header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("Administrator:"+m))},
		{"unpadded base64", "x" + base64.RawStdEncoding.EncodeToString([]byte(m)) + "x"},
		{"URL base64 of root:", base64.URLEncoding.EncodeToString([]byte("root:" + m))},
		{"metric label", `portwarden_host_up{host="` + m + `"} 1`},
	} {
		if got := leaks(forms, tc.sample); len(got) == 0 {
			t.Errorf("%s: the check finds no secret in %q", tc.name, tc.sample)
		}
	}
	if got := leaks(forms, "portwarden_host_up{host=\"lnx01\"} 1\nAuthorization: Basic "+base64.StdEncoding.EncodeToString([]byte("Administrator:other"))); len(got) > 0 {
		t.Errorf("clean sample flagged: %q", got)
	}
}

// The secrets suite: every kind of secret the inventory carries (SSH
// password, key passphrase, sudo password, WinRM password, and the private
// key's own text) set to a marker, then rules, plan, apply and verify in
// every output form (text, JSON, --progress lines and json, --out plan
// file, --audit-log, --metrics-file, report in HTML, Markdown and JSON),
// and watch (its text and JSON logs on stderr, stdout, /metrics, /status,
// /healthz, its audit log, and the diagnostics of a SIGHUP reload of an
// inventory that uses the secrets in attributes where they are invalid).
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
		forbidden = append(forbidden, secretForms(m)...)
	}
	// The private keys' own text: each base64 line of their bodies but the
	// first (the format's header, the same in every unencrypted key).
	for _, p := range []string{key, l.KeyPath()} {
		b, _ := os.ReadFile(p)
		lines := strings.Split(string(b), "\n")
		for i, line := range lines {
			if i >= 2 && len(line) >= 40 && !strings.HasPrefix(line, "-----") {
				forbidden = append(forbidden, line)
			}
		}
	}
	check := func(what, out string) {
		t.Helper()
		for _, f := range leaks(forbidden, out) {
			t.Errorf("%s contains a secret (%q)", what, f)
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
	watchOutputs := secretsWatch(t, invPath, filepath.Join(dir, "passphrase"), check)
	for _, f := range append(append([]string{planFile, audit, metrics}, reports...), watchOutputs...) {
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
// WinRM password file and the lab's private key themselves.
func checkLabFiles(t *testing.T, l *lab.Lab, check func(what, content string)) {
	t.Helper()
	err := filepath.Walk(l.Dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 8<<20 || p == l.WinRMPasswordPath() || p == l.KeyPath() {
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

// secretsWatch runs watch, as a service would, on the suite's inventory:
// once with JSON logs, --remediate and --listen (then a SIGHUP with an
// inventory that puts the secrets where they are invalid, so that their
// diagnostics are logged, and a SIGHUP back), once with text logs. It
// checks stdout, stderr, /metrics, /status and /healthz, each also for
// what it must hold (so an empty or unread output cannot pass), and
// returns the audit log for the caller to grep.
func secretsWatch(t *testing.T, inv, passphraseFile string, check func(what, out string)) []string {
	t.Helper()
	bin := buildPortwarden(t)
	good, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	p := startWatch(t, bin, "--inventory", inv, "--every", "2s", "--remediate", "--listen", "127.0.0.1:0",
		"--log-format", "json", "--state-dir", state)
	base := "http://" + p.waitLine(t, "listening", func(m map[string]any) bool { return m["addr"] != nil })["addr"].(string)
	p.waitLine(t, "round done", nil)
	for _, ep := range []struct{ path, must string }{
		{"/metrics", `portwarden_host_up{host="lnx01"} 1`},
		{"/metrics", `portwarden_errors_total{host="lnx03",kind="auth"}`},
		{"/status", `"host": "lnx03"`},
		{"/status", `"error_kind": "auth"`},
		{"/healthz", "ok"},
	} {
		_, body := httpGet(t, base+ep.path)
		check("watch "+ep.path, body)
		if !strings.Contains(body, ep.must) {
			t.Errorf("watch %s does not hold %q:\n%s", ep.path, ep.must, body)
		}
	}
	// Reload an inventory that uses each secret where it is not valid: the
	// diagnostics are logged, the values must not be.
	leak := fmt.Sprintf("host \"leak\" {\n  address = \"192.0.2.99\"\n  os = env(\"PW_TEST_SUDO\")\n  roles = [file(%q)]\n  ssh {\n    port = env(\"PW_TEST_SUDO\")\n  }\n}\n", passphraseFile)
	if err := os.WriteFile(inv, append(append([]byte{}, good...), leak...), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLine(t, "inventory diagnostic", func(m map[string]any) bool { return m["severity"] == "error" })
	if err := os.WriteFile(inv, good, 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitCount(t, "inventory loaded", 2)
	_, body := httpGet(t, base+"/status")
	check("watch /status after the reloads", body)
	p.stop(t)
	check("watch --log-format json stderr", p.logs.String())
	check("watch --log-format json stdout", p.stdout.String())
	if p.logs.find("host failed", func(m map[string]any) bool { return m["host"] == "lnx03" }) == nil {
		t.Errorf("watch logged no failure for lnx03, whose authentication fails:\n%s", p.logs)
	}

	// Text logs quote differently: a second watch, one round.
	p = startWatch(t, bin, "--inventory", inv, "--every", "2s", "--state-dir", t.TempDir())
	p.waitRaw(t, `msg="round done"`)
	p.stop(t)
	check("watch --log-format text stderr", p.logs.String())
	check("watch --log-format text stdout", p.stdout.String())
	if !strings.Contains(p.logs.String(), `msg="host failed" host=lnx03`) {
		t.Errorf("watch's text log has no failure for lnx03:\n%s", p.logs)
	}
	return []string{filepath.Join(state, "audit.log")}
}

// watchProc is a watch process whose stderr log lines are collected.
type watchProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	logs   *logLines
	exited chan error
}

func startWatch(t *testing.T, bin string, args ...string) *watchProc {
	t.Helper()
	p := &watchProc{cmd: exec.Command(bin, append([]string{"watch"}, args...)...), logs: &logLines{}, exited: make(chan error, 1)}
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.logs.read(stderr)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitLine waits for a JSON log line with msg for which ok holds.
func (p *watchProc) waitLine(t *testing.T, msg string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := p.logs.find(msg, ok); m != nil {
			return m
		}
	}
	t.Fatalf("watch logged no %q in 90s:\n%s", msg, p.logs)
	return nil
}

// waitRaw waits for a log line containing s.
func (p *watchProc) waitRaw(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(p.logs.String(), s) {
			return
		}
	}
	t.Fatalf("watch logged no %q in 90s:\n%s", s, p.logs)
}

// waitCount waits until watch has logged msg n times.
func (p *watchProc) waitCount(t *testing.T, msg string, n int) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		p.logs.mu.Lock()
		c := 0
		for _, m := range p.logs.lines {
			if m != nil && m["msg"] == msg {
				c++
			}
		}
		p.logs.mu.Unlock()
		if c >= n {
			return
		}
	}
	t.Fatalf("watch logged %q fewer than %d times in 90s:\n%s", msg, n, p.logs)
}

// stop sends SIGTERM and waits for watch to end (the round in flight
// finishes first).
func (p *watchProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("watch after SIGTERM: %v\n%s", err, p.logs)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("watch did not end within 2 minutes of SIGTERM:\n%s", p.logs)
	}
}
