package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/portwarden/portwarden/lab"
)

// labSSH is the SSHConfig that reaches a lab host as root with the lab's key.
func labSSH(l *lab.Lab, host string) SSHConfig {
	h, _ := l.Host(host)
	return SSHConfig{
		Address:        h.Address.String(),
		PrivateKeyPath: l.KeyPath(),
		KnownHostsPath: l.KnownHostsPath(),
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 20 * time.Second,
	}
}

func dialSSHTest(t *testing.T, cfg SSHConfig) Conn {
	t.Helper()
	c, err := DialSSH(context.Background(), cfg)
	if err != nil {
		t.Fatalf("DialSSH: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runSSHTest(t *testing.T, c Conn, body string, stdin []byte) Result {
	t.Helper()
	res, err := c.Run(context.Background(), Script{Shell: "sh", Body: body, Stdin: stdin})
	if err != nil {
		t.Fatalf("Run %q: %v", body, err)
	}
	return res
}

func TestSSHRun(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	c := dialSSHTest(t, labSSH(l, "lnx01"))

	res := runSSHTest(t, c, "cat; echo out; echo err >&2; id -u", []byte("ruleset line 1\nline 2\n"))
	if got, want := string(res.Stdout), "ruleset line 1\nline 2\nout\n0\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := string(res.Stderr); got != "err\n" {
		t.Errorf("stderr %q, want %q", got, "err\n")
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code %d", res.ExitCode)
	}

	// A non-zero exit is a result, not an error.
	if res := runSSHTest(t, c, "echo failing >&2; exit 7", nil); res.ExitCode != 7 || string(res.Stderr) != "failing\n" {
		t.Errorf("got exit %d stderr %q, want 7 and %q", res.ExitCode, res.Stderr, "failing\n")
	}

	// Quotes, newlines and shell syntax in the body survive.
	body := "x='it'\"'\"'s'; printf '%s|%s\\n' \"$x\" \"$(echo a   b)\"\nprintf '%s\\n' \"${HOME:+set}\" '$HOME'"
	if got, want := string(runSSHTest(t, c, body, nil).Stdout), "it's|a b\nset\n$HOME\n"; got != want {
		t.Errorf("quoting: stdout %q, want %q", got, want)
	}

	// Binary stdin larger than a command line reaches the script intact.
	big := make([]byte, 1<<20)
	rand.Read(big)
	sum := sha256.Sum256(big)
	if got := strings.Fields(string(runSSHTest(t, c, "sha256sum", big).Stdout)); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("stdin checksum %v, want %x", got, sum)
	}

	if got := c.LocalAddr(); got != l.Controller {
		t.Errorf("LocalAddr %v, want the controller %v", got, l.Controller)
	}

	if _, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "Get-Date"}); err == nil {
		t.Error("a powershell script ran over ssh")
	}
	if _, err := c.Run(context.Background(), Script{Body: strings.Repeat("x", MaxSSHCommand+1)}); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("an oversized body: got %v, want an error pointing to stdin", err)
	}
}

// One connection carries every Run, also concurrent ones.
func TestSSHReusesConnection(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	c := dialSSHTest(t, labSSH(l, "lnx01"))
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(context.Background(), Script{Body: fmt.Sprintf("echo \"$SSH_CONNECTION\"; exit %d", i%3)})
			if err != nil {
				t.Errorf("Run %d: %v", i, err)
				return
			}
			if res.ExitCode != i%3 {
				t.Errorf("Run %d: exit %d, want %d", i, res.ExitCode, i%3)
			}
			mu.Lock()
			seen[strings.TrimSpace(string(res.Stdout))]++
			mu.Unlock()
		}()
		if i%8 == 7 {
			wg.Wait() // sshd allows 10 sessions per connection at once
		}
	}
	wg.Wait()
	if len(seen) != 1 {
		t.Errorf("runs came over %d connections, want 1: %v", len(seen), seen)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Run(context.Background(), Script{Body: "true"}); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func TestSSHUnknownHost(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	dir := t.TempDir()
	for name, path := range map[string]string{
		"missing file": filepath.Join(dir, "none", "known_hosts"),
		"empty file":   filepath.Join(dir, "empty"),
	} {
		if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := labSSH(l, "lnx01")
		cfg.KnownHostsPath = path
		_, err := DialSSH(context.Background(), cfg)
		var hke *HostKeyError
		if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
			t.Fatalf("%s: got %v, want an unknown host key error", name, err)
		}
		for _, want := range []string{"ssh-keyscan -p 22 -t ed25519 " + cfg.Address + " >> " + path, "--accept-new-host-keys", "SHA256:"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "none")); !os.IsNotExist(err) {
			t.Errorf("%s: refusing a host created %s", name, filepath.Join(dir, "none"))
		}
	}
}

func TestSSHAcceptNewHostKeys(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")

	// Every host twice at once, all into one file.
	var wg sync.WaitGroup
	for _, h := range l.Hosts {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := labSSH(l, h.Name)
				cfg.KnownHostsPath = kh
				cfg.AcceptNewHostKeys = true
				c, err := DialSSH(context.Background(), cfg)
				if err != nil {
					t.Errorf("accept-new %s: %v", h.Name, err)
					return
				}
				c.Close()
			}()
		}
	}
	wg.Wait()
	got, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 3 {
		t.Errorf("known_hosts has %d lines, want 3:\n%s", len(lines), got)
	}
	for _, h := range l.Hosts {
		if !strings.Contains(string(got), h.Address.String()+" "+h.HostKey+"\n") {
			t.Errorf("known_hosts lacks %s:\n%s", h.Name, got)
		}
	}
	// Recorded keys are trusted without accept-new.
	cfg := labSSH(l, "lnx02")
	cfg.KnownHostsPath = kh
	c := dialSSHTest(t, cfg)
	runSSHTest(t, c, "true", nil)
}

func TestSSHChangedHostKey(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	h := l.Hosts[0]
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	old := "# a comment\n" + knownhosts.Line([]string{h.Address.String()}, other) + "\n"
	if err := os.WriteFile(kh, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, acceptNew := range []bool{false, true} {
		cfg := labSSH(l, h.Name)
		cfg.KnownHostsPath = kh
		cfg.AcceptNewHostKeys = acceptNew
		_, err := DialSSH(context.Background(), cfg)
		var hke *HostKeyError
		if !errors.As(err, &hke) || hke.Kind != HostKeyChanged {
			t.Fatalf("accept-new=%v: got %v, want a changed host key error", acceptNew, err)
		}
		for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED", kh + ":2", ssh.FingerprintSHA256(other), "man-in-the-middle", "ssh-keygen -R"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	if got, _ := os.ReadFile(kh); string(got) != old {
		t.Errorf("known_hosts changed after a refused key:\n%s", got)
	}
}

func TestSSHKeyAuth(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	dir := t.TempDir()
	const passphrase = "correct horse battery"
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "encrypted", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	encKey := filepath.Join(dir, "id_encrypted")
	if err := os.WriteFile(encKey, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	f, err := os.OpenFile(l.AuthorizedKeysPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	f.Close()

	cfg := labSSH(l, "lnx01")
	cfg.PrivateKeyPath = encKey
	cfg.Passphrase = passphrase
	runSSHTest(t, dialSSHTest(t, cfg), "true", nil)

	cfg.Passphrase = ""
	if _, err := DialSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted key without passphrase: got %v", err)
	}
	cfg.Passphrase = "wrong-s3cret"
	_, err = DialSSH(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("wrong passphrase: got %v", err)
	}

	// A key the host does not accept.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	block, _ = ssh.MarshalPrivateKey(stranger, "stranger")
	strangerKey := filepath.Join(dir, "id_stranger")
	os.WriteFile(strangerKey, pem.EncodeToMemory(block), 0o600)
	cfg = labSSH(l, "lnx01")
	cfg.PrivateKeyPath = strangerKey
	_, err = DialSSH(context.Background(), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.User != "root" || len(ae.Methods) != 1 || ae.Methods[0] != "publickey" {
		t.Errorf("unaccepted key: got %v, want an *AuthError for root with publickey", err)
	}

	cfg.PrivateKeyPath = ""
	if _, err := DialSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no authentication method") {
		t.Errorf("no auth: got %v", err)
	}
}

// The agent is not parallel: it sets SSH_AUTH_SOCK.
func TestSSHAgentAuth(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	b, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	serveTestAgent(t, agent.AddedKey{PrivateKey: key})
	cfg := labSSH(l, "lnx01")
	cfg.PrivateKeyPath = ""
	cfg.Agent = true
	runSSHTest(t, dialSSHTest(t, cfg), "true", nil)

	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := DialSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("agent without SSH_AUTH_SOCK: got %v", err)
	}
}

// serveTestAgent serves an agent holding keys on a socket that
// SSH_AUTH_SOCK names for the rest of the test.
func serveTestAgent(t *testing.T, keys ...agent.AddedKey) {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(c net.Conn) { agent.ServeAgent(keyring, c) })
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// TestSSHAgentThenIdentityFiles: without a configured key, the agent's
// keys are offered, then the identity files (a missing one skipped), as
// ssh does; when all are refused, the error names each by fingerprint.
// Not parallel: it sets SSH_AUTH_SOCK.
func TestSSHAgentThenIdentityFiles(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	serveTestAgent(t, agent.AddedKey{PrivateKey: stranger, Comment: "stranger@agent"})
	strangerPub, _ := ssh.NewPublicKey(stranger.Public())
	dir := t.TempDir()
	cfg := labSSH(l, "lnx01")
	good := cfg.PrivateKeyPath
	cfg.PrivateKeyPath, cfg.AgentIfAvailable = "", true
	cfg.IdentityFiles = []string{filepath.Join(dir, "id_ed25519"), good}
	runSSHTest(t, dialSSHTest(t, cfg), "true", nil)

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(other, "")
	otherPath := filepath.Join(dir, "id_rsa")
	os.WriteFile(otherPath, pem.EncodeToMemory(block), 0o600)
	otherPub, _ := ssh.NewPublicKey(other.Public())
	cfg.IdentityFiles = []string{otherPath}
	_, err := DialSSH(context.Background(), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an AuthError", err)
	}
	want := []string{"agent key stranger@agent ssh-ed25519 " + ssh.FingerprintSHA256(strangerPub),
		"key file " + otherPath + " ssh-ed25519 " + ssh.FingerprintSHA256(otherPub)}
	if strings.Join(ae.Offered, "|") != strings.Join(want, "|") || !strings.Contains(err.Error(), want[0]) {
		t.Errorf("offered %q, want %q (error: %v)", ae.Offered, want, err)
	}
}

// sshTestUser creates a user with a password in group sudo on a lab host:
// in the host's own /etc (the upper layer of its overlay, docs/lab.md),
// never this machine's, so nothing needs removing but the lab. It skips
// without useradd, chpasswd or sudo.
func sshTestUser(t *testing.T, l *lab.Lab, host string) (user, password string) {
	t.Helper()
	for _, tool := range []string{"useradd", "chpasswd", "sudo", "getent"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install sudo): %v", tool, err)
		}
	}
	ctx := context.Background()
	if _, err := l.Exec(ctx, host, nil, "getent", "group", "sudo"); err != nil {
		t.Skip("needs the group sudo (apt-get install sudo)")
	}
	b := make([]byte, 4)
	rand.Read(b)
	user = "pwt" + hex.EncodeToString(b)
	b = make([]byte, 12)
	rand.Read(b)
	password = "P'w \"" + hex.EncodeToString(b) + "\\$x"
	if out, err := l.Exec(ctx, host, nil, "useradd", "-M", "-N", "-d", "/", "-s", "/bin/sh", "-G", "sudo", user); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	if out, err := l.Exec(ctx, host, []byte(user+":"+password+"\n"), "chpasswd"); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	// The user is the host's alone: this machine does not know it.
	if err := exec.Command("getent", "passwd", user).Run(); err == nil {
		t.Fatalf("user %s reached this machine's /etc/passwd", user)
	}
	return user, password
}

func TestSSHPasswordAndSudo(t *testing.T) {
	t.Parallel()
	if err := lab.Available(); err != nil {
		t.Skipf("no lab: %v", err)
	}
	l := lab.UpForTest(t, lab.Options{Linux: 1, PasswordAuth: true})
	user, password := sshTestUser(t, l, "lnx01")
	base := labSSH(l, "lnx01")
	base.User = user
	base.PrivateKeyPath = ""
	base.Password = password

	t.Run("password", func(t *testing.T) {
		res := runSSHTest(t, dialSSHTest(t, base), "id -un", nil)
		if got := strings.TrimSpace(string(res.Stdout)); got != user {
			t.Errorf("ran as %q, want %q", got, user)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := base
		cfg.Password = "not-the-s3cret"
		_, err := DialSSH(context.Background(), cfg)
		var ae *AuthError
		if !errors.As(err, &ae) || ae.User != user {
			t.Errorf("got %v, want an *AuthError", err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("sudo with password", func(t *testing.T) {
		cfg := base
		cfg.Sudo = true
		cfg.SudoPassword = password
		c := dialSSHTest(t, cfg)
		stdin := "table inet portwarden {\n}\nline 'two' \\ \"3\"\n"
		res := runSSHTest(t, c, "id -u; cat; echo done >&2; exit 3", []byte(stdin))
		if got, want := string(res.Stdout), "0\n"+stdin; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		if got := string(res.Stderr); got != "done\n" {
			t.Errorf("stderr %q, want %q", got, "done\n")
		}
		if res.ExitCode != 3 {
			t.Errorf("exit %d, want 3", res.ExitCode)
		}
		// The host's view of the session survives sudo's env_reset: the
		// facts script reads the management source from it.
		res = runSSHTest(t, c, `echo "$SSH_CONNECTION"`, nil)
		if f := strings.Fields(string(res.Stdout)); len(f) != 4 || f[0] != l.Controller.String() {
			t.Errorf("SSH_CONNECTION under sudo = %q, want it to start with the controller %s", res.Stdout, l.Controller)
		}
		// Empty stdin, and no temporary file left behind.
		res = runSSHTest(t, c, "cat; echo empty", nil)
		if string(res.Stdout) != "empty\n" {
			t.Errorf("stdout %q, want %q", res.Stdout, "empty\n")
		}
		left, err := l.Exec(context.Background(), "lnx01", nil, "find", "/tmp", "-maxdepth", "1", "-user", user)
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(left)) > 0 {
			t.Errorf("temporary files left: %s", left)
		}
	})
	t.Run("sudo cancel kills the root script", func(t *testing.T) {
		cfg := base
		cfg.Sudo = true
		cfg.SudoPassword = password
		c := dialSSHTest(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Run(ctx, Script{Body: "id -u; exec sleep 33"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the ctx's deadline", err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			out, err := l.Exec(context.Background(), "lnx01", nil, "sh", "-c", "grep -l 'sleep.3[3]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(out)) == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the root script still runs after cancel")
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("sudo wrong password", func(t *testing.T) {
		cfg := base
		cfg.Sudo = true
		cfg.SudoPassword = "wrong-sudo-s3cret"
		res, err := dialSSHTest(t, cfg).Run(context.Background(), Script{Body: "cat", Stdin: []byte("not a password\n")})
		var se *SudoError
		if !errors.As(err, &se) || se.User != user {
			t.Fatalf("got %v, want a *SudoError", err)
		}
		if strings.Contains(err.Error(), "s3cret") || bytes.Contains(res.Stdout, []byte("s3cret")) {
			t.Errorf("the password shows: %v %q", err, res.Stdout)
		}
		if !strings.Contains(err.Error(), "incorrect password") {
			t.Errorf("error %q does not say sudo refused the password", err)
		}
	})
	t.Run("sudo without password", func(t *testing.T) {
		cfg := base
		cfg.Sudo = true
		_, err := dialSSHTest(t, cfg).Run(context.Background(), Script{Body: "id -u"})
		var se *SudoError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "password") {
			t.Errorf("got %v, want a *SudoError saying a password is required", err)
		}
		// A kept connection's resident shell cannot start either (sudo -n
		// refuses): each read-only script still reports sudo's refusal.
		c := dialSSHTest(t, cfg)
		c.(keepShell).KeepShell()
		for i := 0; i < 2; i++ {
			_, err := c.Run(context.Background(), Script{Body: "id -u", ReadOnly: true})
			if !errors.As(err, &se) || !strings.Contains(se.Msg, "password") {
				t.Errorf("read-only script %d after KeepShell: got %v, want a *SudoError", i+1, err)
			}
		}
	})
	// Last: the user may now sudo without a password (the host's own
	// sudoers.d). A kept connection's read-only scripts then run as root
	// in one resident "sudo -n sh -s", each with the session's
	// $SSH_CONNECTION.
	t.Run("sudo -n resident shell", func(t *testing.T) {
		if out, err := l.Exec(context.Background(), "lnx01", []byte(user+" ALL=(ALL:ALL) NOPASSWD: ALL\n"), "sh", "-c", "umask 337; cat >/etc/sudoers.d/"+user); err != nil {
			t.Fatalf("sudoers.d: %v: %s", err, out)
		}
		cfg := base
		cfg.Sudo = true
		c := dialSSHTest(t, cfg)
		c.(keepShell).KeepShell()
		var first string
		for i := 0; i < 3; i++ {
			got, _ := runRO(t, c, "echo \"$(id -u) $$ ${SSH_CONNECTION%% *}\"")
			f := strings.Fields(got)
			if len(f) != 3 || f[0] != "0" || f[2] != l.Controller.String() {
				t.Fatalf("round %d printed %q, want uid 0, a pid and the controller %s", i+1, got, l.Controller)
			}
			if i == 0 {
				first = f[1]
			} else if f[1] != first {
				t.Errorf("round %d ran in shell %s, the first in %s", i+1, f[1], first)
			}
		}
	})
}

// Keyboard-interactive is tested against an in-process server on loopback:
// the lab's sshd runs without PAM, which is what offers it.
func TestSSHKeyboardInteractive(t *testing.T) {
	lab.SkipShort(t, "an SSH server on loopback")
	t.Parallel()
	const password = "kbd-s3cret"
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, _ := ssh.NewSignerFromKey(hostPriv)
	scfg := &ssh.ServerConfig{
		KeyboardInteractiveCallback: func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := client("", "", []string{"Password: "}, []bool{false})
			if err != nil || len(ans) != 1 || ans[0] != password {
				return nil, errors.New("wrong password")
			}
			return nil, nil
		},
	}
	ln, port, kh := loopbackServer(t, scfg, hostSigner)
	go serveKbdExec(ln, scfg)
	cfg := SSHConfig{Address: "127.0.0.1", Port: port, User: "admin", Password: password, KnownHostsPath: kh, ConnectTimeout: 5 * time.Second}
	res := runSSHTest(t, dialSSHTest(t, cfg), "anything", nil)
	if string(res.Stdout) != "kbd-ok\n" {
		t.Errorf("stdout %q", res.Stdout)
	}
	cfg.Password = "wrong"
	var ae *AuthError
	if _, err := DialSSH(context.Background(), cfg); !errors.As(err, &ae) {
		t.Errorf("wrong password: got %v, want an *AuthError", err)
	}
}

// loopbackServer listens on 127.0.0.1 for a test SSH server with host key
// signer and writes a known_hosts that trusts it.
func loopbackServer(t *testing.T, scfg *ssh.ServerConfig, signer ssh.Signer) (ln net.Listener, port int, knownHosts string) {
	t.Helper()
	scfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port = ln.Addr().(*net.TCPAddr).Port
	knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{fmt.Sprintf("[127.0.0.1]:%d", port)}, signer.PublicKey())
	if err := os.WriteFile(knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ln, port, knownHosts
}

// serveExec answers every exec request with "kbd-ok" and exit status 0.
func serveKbdExec(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
			if err != nil {
				return
			}
			go ssh.DiscardRequests(reqs)
			for nch := range chans {
				ch, creqs, err := nch.Accept()
				if err != nil {
					continue
				}
				go func() {
					for req := range creqs {
						if req.Type != "exec" {
							req.Reply(false, nil)
							continue
						}
						req.Reply(true, nil)
						ch.Write([]byte("kbd-ok\n"))
						ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
						ch.Close()
					}
				}()
			}
		}()
	}
}

func TestSSHProxyJump(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bastion, target := l.Hosts[0], l.Hosts[1]
	// The target refuses SSH from the controller: only the bastion gets in.
	rules := fmt.Sprintf("table inet t {\n chain in {\n  type filter hook input priority 0; policy accept;\n  ip saddr %s tcp dport 22 drop\n }\n}\n", l.Controller)
	if _, err := l.Exec(context.Background(), target.Name, []byte(rules), "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	direct := labSSH(l, target.Name)
	direct.ConnectTimeout = 500 * time.Millisecond
	start := time.Now()
	if _, err := DialSSH(context.Background(), direct); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("direct dial through the drop: got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("connect timeout took %s", d)
	}

	jump := labSSH(l, bastion.Name)
	cfg := labSSH(l, target.Name)
	cfg.ProxyJump = &jump
	c := dialSSHTest(t, cfg)
	res := runSSHTest(t, c, "echo \"$SSH_CONNECTION\"", nil)
	if !strings.HasPrefix(string(res.Stdout), bastion.Address.String()+" ") {
		t.Errorf("target saw %q, want the bastion %s", res.Stdout, bastion.Address)
	}
	if got := c.LocalAddr(); got.IsValid() {
		t.Errorf("LocalAddr %v through a bastion, want none (no round trip is spent asking the host)", got)
	}

	// A bastion that refuses us is named in the error.
	bad := jump
	bad.KnownHostsPath = filepath.Join(t.TempDir(), "known_hosts")
	cfg.ProxyJump = &bad
	_, err := DialSSH(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !strings.Contains(err.Error(), "proxy jump") || hke.Host != bastion.Address.String() {
		t.Errorf("bad bastion: got %v", err)
	}
}

func TestSSHTimeouts(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	cfg := labSSH(l, "lnx01")
	cfg.CommandTimeout = time.Second
	c := dialSSHTest(t, cfg)

	start := time.Now()
	res, err := c.Run(context.Background(), Script{Body: "echo started; exec sleep 30.25"})
	if !errors.Is(err, ErrCommandTimeout) {
		t.Fatalf("got %v, want ErrCommandTimeout", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("timeout took %s", d)
	}
	if string(res.Stdout) != "started\n" {
		t.Errorf("partial stdout %q, want %q", res.Stdout, "started\n")
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = c.Run(ctx, Script{Body: "exec sleep 31.25"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
	if _, err := c.Run(ctx, Script{Body: "true"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a canceled ctx: got %v", err)
	}

	// The connection still works, and the killed scripts are gone (checked
	// over a second connection: the check takes longer than 500ms under
	// load).
	runSSHTest(t, c, "true", nil)
	check := dialSSHTest(t, labSSH(l, "lnx01"))
	waitProcessesGone(t, check, `^sleep 3[01]\.25 $`, 3*time.Second, "timed out scripts still run")

	// Dialing is bounded too: nothing answers on this port.
	cfg.Port = 2222
	cfg.ConnectTimeout = 300 * time.Millisecond
	if _, err := l.Exec(context.Background(), "lnx01", []byte("table inet t {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp dport 2222 drop\n }\n}\n"), "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	if _, err := DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("dial to a dropping port: got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("connect timeout took %s", d)
	}
}

// TestSSHReadOnlyScript: a read-only script runs without GNU timeout
// around it (the login shell execs into the body's shell, whose parent is
// sshd), a changing one under timeout; a read-only script is still killed
// when its run is canceled.
func TestSSHReadOnlyScript(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	c := dialSSHTest(t, labSSH(l, "lnx01"))
	parent := "read -r p </proc/$PPID/comm; echo \"$p\""
	for _, tc := range []struct {
		readOnly bool
		want     string
		bounded  bool
	}{{false, "timeout", false}, {true, "sshd", false}, {false, "sshd", true}} {
		res, err := c.Run(context.Background(), Script{Body: parent, ReadOnly: tc.readOnly, Bounded: tc.bounded})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != tc.want {
			t.Errorf("ReadOnly %v, Bounded %v: the script's parent is %q, want %q", tc.readOnly, tc.bounded, got, tc.want)
		}
	}

	// A read-only script without data reaches "sh -s" on standard input:
	// its command line is the short wrapper's, and a body longer than any
	// command line sshd would take still runs whole.
	cmdline := "{ tr '\\0' ' ' </proc/$$/cmdline; echo; }"
	long := cmdline + "\n: '" + strings.Repeat("x", MaxSSHCommand+1) + "'\necho end"
	for _, tc := range []struct {
		script Script
		want   string
	}{
		{Script{Body: cmdline, ReadOnly: true}, "sh -s " + sshScriptTag},
		{Script{Body: long, ReadOnly: true}, "sh -s " + sshScriptTag + " \nend"},
		{Script{Body: cmdline}, "sh -c " + cmdline + " " + sshScriptTag},
	} {
		res, err := c.Run(context.Background(), tc.script)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != tc.want {
			t.Errorf("ReadOnly %v, body of %d bytes: printed %q, want %q", tc.script.ReadOnly, len(tc.script.Body), got, tc.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := c.Run(ctx, Script{Body: "sleep 33.25; :", ReadOnly: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
	waitProcessesGone(t, c, `^sleep 33\.25 $`, 5*time.Second, "the canceled read-only script still runs")
}

// waitProcessesGone waits until no process on the host has a command line
// (arguments joined by spaces, a trailing space) matching the grep
// pattern, or fails the test with what after wait.
func waitProcessesGone(t *testing.T, c Conn, pattern string, wait time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		res := runSSHTest(t, c, "for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null; echo; done | grep -c "+ShellQuote(pattern)+" || true", nil)
		if strings.TrimSpace(string(res.Stdout)) == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %s", what, res.Stdout)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "a b", "it's", "'", "''", `"$HOME"`, "`id`", "$(id)", "a\nb", "*", "-n", "x;y|z&", "\\", "é ü"} {
		q := ShellQuote(s)
		out, err := exec.Command(sh, "-c", "printf '%s' "+q).Output()
		if err != nil {
			t.Errorf("ShellQuote(%q) = %s: %v", s, q, err)
			continue
		}
		if string(out) != s {
			t.Errorf("ShellQuote(%q) = %s, which the shell reads as %q", s, q, out)
		}
	}
	if got := ShellQuote("/usr/sbin/nft"); got != "/usr/sbin/nft" {
		t.Errorf("a safe word got quoted: %s", got)
	}
}

func TestSSHCutMarker(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		pid      int
	}{
		{sshPIDMarker + "42\nerr\n", "err\n", 42},
		{"sudo: warning\n" + sshPIDMarker + "7\n", "sudo: warning\n", 7},
		{"x" + sshPIDMarker + "7\n" + sshPIDMarker + "8\nend", "x" + sshPIDMarker + "7\nend", 8},
		{"x" + sshPIDMarker + "7\n", "x" + sshPIDMarker + "7\n", 0},
		{sshPIDMarker + "nope\n", sshPIDMarker + "nope\n", 0},
		{"sudo: 1 incorrect password attempt\n", "sudo: 1 incorrect password attempt\n", 0},
	} {
		got, pid := sshCutMarker([]byte(tc.in))
		if string(got) != tc.want || pid != tc.pid {
			t.Errorf("sshCutMarker(%q) = %q, %d; want %q, %d", tc.in, got, pid, tc.want, tc.pid)
		}
	}
}

// TestSSHBastionPool: hosts behind one bastion share one connection to it,
// and it closes with the last of them.
func TestSSHBastionPool(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bastion := l.Hosts[0]
	logins := func() int {
		b, _ := os.ReadFile(filepath.Join(bastion.Dir, "sshd.log"))
		return strings.Count(string(b), "Accepted publickey")
	}
	jump := labSSH(l, bastion.Name)
	pool := &BastionPool{}
	var conns []Conn
	for _, h := range l.Hosts[1:] {
		cfg := labSSH(l, h.Name)
		cfg.ProxyJump = &jump
		cfg.Bastions = pool
		conns = append(conns, dialSSHTest(t, cfg))
	}
	if n := logins(); n != 1 {
		t.Errorf("two hosts behind one bastion made %d bastion logins, want 1", n)
	}
	for _, c := range conns {
		if res := runSSHTest(t, c, "echo \"$SSH_CONNECTION\"", nil); !strings.HasPrefix(string(res.Stdout), bastion.Address.String()+" ") {
			t.Errorf("target saw %q, want the bastion", res.Stdout)
		}
	}
	conns[0].Close()
	if res := runSSHTest(t, conns[1], "echo ok", nil); string(res.Stdout) != "ok\n" {
		t.Errorf("closing one host closed the shared bastion: %q", res.Stdout)
	}
	conns[1].Close()
	pool.mu.Lock()
	left := len(pool.m)
	pool.mu.Unlock()
	if left != 0 {
		t.Errorf("the pool keeps %d bastion(s) after the last host closed", left)
	}
	// A new host after that dials the bastion afresh.
	cfg := labSSH(l, l.Hosts[1].Name)
	cfg.ProxyJump = &jump
	cfg.Bastions = pool
	c := dialSSHTest(t, cfg)
	runSSHTest(t, c, "true", nil)
	if n := logins(); n != 2 {
		t.Errorf("bastion logins = %d, want 2", n)
	}
}
