package inventory

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/transport"
)

const testSSHConfig = `Host bastion-outer
  HostName 198.18.9.1
  User outer
  IdentityFile ~/.ssh/outer_key

Host bastion-inner
  HostName 198.18.9.2
  Port 2201
  User inner
  IdentityFile %s/inner_key

Host repo*.corp
  User admin
  Port 2222
  IdentityFile keys/repo_key
  CertificateFile keys/repo_key-cert.pub
  ProxyJump bastion-outer,bastion-inner

Host db01.corp
  HostName 198.18.9.30

Host *
  User fallback
`

// hops lists a configuration's hops from the first reached to the host,
// as user@address:port.
func hops(c *transport.SSHConfig) []string {
	var out []string
	for j := c; j != nil; j = j.ProxyJump {
		out = append([]string{j.User + "@" + j.Address + ":" + itoa(j.Port)}, out...)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSSHConfigFile(t *testing.T) {
	pol := builtin(t)
	dir := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(strings.Replace(testSSHConfig, "%s", dir, 1)), 0o644)
	host := func(name, addr, ssh string) string {
		return "host \"" + name + "\" {\n  address = \"" + addr + "\"\n  os = \"linux\"\n  roles = [\"backup_repository\"]\n  ssh {\n    ssh_config = \"ssh_config\"\n" + ssh + "  }\n}\n"
	}
	src := host("repo01", "repo01.corp", "") +
		host("repo02", "repo02.corp", "    user = \"ops\"\n    port = 22\n    private_key = \"mine\"\n    proxy_jump = \"me@198.18.9.5\"\n") +
		host("db01", "db01.corp", "") +
		host("other", "198.18.9.77", "")
	path := filepath.Join(dir, "inv.hcl")
	os.WriteFile(path, []byte(src), 0o644)
	inv, diags := Load(path, pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := inv.Host("repo01").SSH
	if got := strings.Join(hops(r), " → "); got != "outer@198.18.9.1:22 → inner@198.18.9.2:2201 → admin@repo01.corp:2222" {
		t.Errorf("repo01 hops: %s", got)
	}
	if r.PrivateKeyPath != "" || len(r.IdentityFiles) != 1 || r.IdentityFiles[0] != filepath.Join(dir, "keys/repo_key") {
		t.Errorf("repo01 keys: %q %q", r.PrivateKeyPath, r.IdentityFiles)
	}
	if outer := r.ProxyJump.ProxyJump; outer.IdentityFiles[0] != filepath.Join(home, ".ssh/outer_key") {
		t.Errorf("outer hop keys: %q", outer.IdentityFiles)
	}
	if inner := r.ProxyJump; inner.IdentityFiles[0] != filepath.Join(dir, "inner_key") {
		t.Errorf("inner hop keys: %q", inner.IdentityFiles)
	}
	// A hop's own IdentityFile wins over the host's private_key (which is
	// the destination's, as ssh's -i).
	src3 := host("repo03", "repo03.corp", "    private_key = \"mine\"\n")
	os.WriteFile(path, []byte(src3), 0o644)
	inv3, diags := Load(path, pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r3 := inv3.Host("repo03").SSH
	if r3.PrivateKeyPath != filepath.Join(dir, "mine") || r3.ProxyJump == nil || r3.ProxyJump.PrivateKeyPath != "" ||
		len(r3.ProxyJump.IdentityFiles) != 1 || r3.ProxyJump.IdentityFiles[0] != filepath.Join(dir, "inner_key") {
		t.Errorf("repo03: host key %q, inner hop key %q %q", r3.PrivateKeyPath, r3.ProxyJump.PrivateKeyPath, r3.ProxyJump.IdentityFiles)
	}
	os.WriteFile(path, []byte(src), 0o644)
	// The inventory wins where both say something.
	r2 := inv.Host("repo02").SSH
	if got := strings.Join(hops(r2), " → "); got != "me@198.18.9.5:22 → ops@repo02.corp:22" {
		t.Errorf("repo02 hops: %s", got)
	}
	if r2.PrivateKeyPath != filepath.Join(dir, "mine") || len(r2.IdentityFiles) != 0 {
		t.Errorf("repo02 keys: %q %q", r2.PrivateKeyPath, r2.IdentityFiles)
	}
	// HostName changes where to connect, not the host's address for rules.
	db := inv.Host("db01")
	if db.SSH.Address != "198.18.9.30" || db.Address != "db01.corp" || db.SSH.User != "fallback" {
		t.Errorf("db01: ssh %s@%s, address %s", db.SSH.User, db.SSH.Address, db.Address)
	}
	// Without any key: the agent, then ~/.ssh/id_*.
	o := inv.Host("other").SSH
	if !o.AgentIfAvailable || len(o.IdentityFiles) != 3 || o.IdentityFiles[0] != filepath.Join(home, ".ssh/id_ed25519") {
		t.Errorf("defaults: agent %v, identity files %q", o.AgentIfAvailable, o.IdentityFiles)
	}
}

func TestSSHConfigErrors(t *testing.T) {
	pol := builtin(t)
	dir := t.TempDir()
	t.Setenv("HOME", t.TempDir())
	os.WriteFile(filepath.Join(dir, "bad_port"), []byte("Host *\n  Port many\n"), 0o644)
	for _, tc := range []struct{ name, ssh, want string }{
		{"missing file", `ssh_config = "nope"`, "Cannot read ssh_config"},
		{"bad port", `ssh_config = "bad_port"`, `Port "many"`},
	} {
		src := "host \"a\" {\n  address = \"198.18.9.1\"\n  os = \"linux\"\n  ssh {\n    " + tc.ssh + "\n  }\n}\n"
		path := filepath.Join(dir, "inv.hcl")
		os.WriteFile(path, []byte(src), 0o644)
		_, diags := Load(path, pol)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) || !strings.Contains(diags.Error(), "inv.hcl:5,") {
			t.Errorf("%s: %v, want %q at inv.hcl:5", tc.name, diags, tc.want)
		}
	}
}
