package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// TestProxyJumpTwoHops: a host only the second of two bastions reaches,
// the hops named in an OpenSSH client config, each hop with a key of its
// own: apply goes through both, and each sshd logs the login with the key
// meant for it (by fingerprint).
func TestProxyJumpTwoHops(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("needs ssh-keygen")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	outer, _ := l.Host("lnx01")
	inner, _ := l.Host("lnx02")
	target, _ := l.Host("lnx03")
	// lnx02 only from lnx01; lnx03 only from lnx02.
	execOK(t, l, "lnx02", "nft", fmt.Sprintf("add table inet seg; add chain inet seg in { type filter hook input priority -10; policy accept; }; add rule inet seg in ip saddr %s tcp dport 22 drop", l.Controller))
	execOK(t, l, "lnx03", "nft", fmt.Sprintf("add table inet seg; add chain inet seg in { type filter hook input priority -10; policy accept; }; add rule inet seg in ip saddr { %s, %s } tcp dport 22 drop", l.Controller, outer.Address))

	dir := t.TempDir()
	fingerprint := func(key string) string {
		out, err := exec.Command(keygen, "-lf", key).Output()
		if err != nil {
			t.Fatalf("ssh-keygen -lf %s: %v", key, err)
		}
		return strings.Fields(string(out))[1]
	}
	keys := map[string]string{}
	auth, _ := os.ReadFile(l.AuthorizedKeysPath())
	for _, n := range []string{"outer", "inner"} {
		keys[n] = filepath.Join(dir, n+"_key")
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "pw-"+n, "-f", keys[n]).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		pub, _ := os.ReadFile(keys[n] + ".pub")
		auth = append(auth, pub...)
	}
	if err := os.WriteFile(l.AuthorizedKeysPath(), auth, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host pw-outer\n  HostName %s\n  User root\n  IdentityFile %s\n\nHost pw-inner\n  HostName %s\n  User root\n  IdentityFile %s\n\nHost %s\n  ProxyJump pw-outer,pw-inner\n",
		outer.Address, keys["outer"], inner.Address, keys["inner"], target.Address)), 0o644)
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx03": {roles: []string{"backup_repository"}, extra: fmt.Sprintf("  ssh {\n    ssh_config = %q\n  }\n", cfg)},
	}, "")

	before := map[string]int{}
	for _, h := range []string{"lnx01", "lnx02", "lnx03"} {
		before[h] = sshLogins(t, l, h)
	}
	if ad, code := applyJSON(t, inv); code != 0 {
		t.Fatalf("apply through two bastions: exit %d: %+v", code, hostOf(ad.jsonPlan, "lnx03"))
	}
	// One login on each hop: the confirm's greeting goes through the
	// run's bastion connections, and the confirm over the apply's own.
	for _, h := range []string{"lnx01", "lnx02", "lnx03"} {
		if n := sshLogins(t, l, h) - before[h]; n != 1 {
			t.Errorf("%s: %d SSH logins for the apply, want 1", h, n)
		}
	}
	if owned(l, "lnx03") == "" {
		t.Fatal("lnx03 has nothing of portwarden's after the apply")
	}
	for _, c := range []struct {
		host lab.Host
		key  string
	}{{outer, keys["outer"]}, {inner, keys["inner"]}, {target, l.KeyPath()}} {
		log, _ := os.ReadFile(filepath.Join(c.host.Dir, "sshd.log"))
		if fp := fingerprint(c.key); !strings.Contains(string(log), "Accepted publickey for root") || !strings.Contains(string(log), fp) {
			t.Errorf("%s: no login with %s (%s) in its sshd log", c.host.Name, filepath.Base(c.key), fp)
		}
	}
	if doc, code := planDoc(t, inv); code != 0 {
		t.Errorf("plan after the apply: exit %d %+v", code, hostOf(doc, "lnx03"))
	}
}
