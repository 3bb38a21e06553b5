package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

func builtin(t *testing.T) *policies.Policy {
	t.Helper()
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		t.Fatalf("built-in policy: %s", diags)
	}
	return pol
}

// TestDiagnostics checks that every kind of mistake is reported with a
// summary, a helpful detail and the place it was made.
func TestDiagnostics(t *testing.T) {
	pol := builtin(t)
	tests := []struct {
		name    string
		src     string
		summary string
		detail  string // substring
		pos     string // "line:column" of the subject start
	}{
		{"unknown block", "hostt \"a\" {\n}\n", "Unsupported block type", "hostt", "1:1"},
		{"unknown attribute", "host \"a\" {\n  adress = \"10.0.0.1\"\n  os = \"linux\"\n}\n", "Unsupported argument", "adress", "2:3"},
		{"unknown role with suggestion", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"backup_repo\"]\n}\n",
			"Unknown role", `Did you mean "backup_repository"?`, "4:11"},
		{"bad address", "host \"a\" {\n  address = \"300.1.1.1\"\n  os = \"linux\"\n}\n", "Invalid address", "300.1.1.1", "2:13"},
		{"address with a space", "host \"a\" {\n  address = \"a b\"\n  os = \"linux\"\n}\n", "Invalid address", "neither", "2:13"},
		{"bad cidr", "network \"n\" {\n  cidrs = [\"10.0.0.0/33\"]\n  roles = [\"console\"]\n}\n", "Invalid CIDR", "10.0.0.0/33", "2:11"},
		{"cidr with host bits", "network \"n\" {\n  cidrs = [\"10.0.0.1/24\"]\n  roles = [\"console\"]\n}\n", "Invalid CIDR", "did you mean 10.0.0.0/24", "2:11"},
		{"duplicate host name", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\nhost \"a\" {\n  address = \"10.0.0.2\"\n  os = \"linux\"\n}\n",
			"Duplicate host name", "already declared at test.hcl:1", "5:6"},
		{"duplicate address", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\nhost \"b\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\n",
			"Duplicate host address", `host "a"`, "5:1"},
		{"role that does not fit the os", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"hyperv_host\"]\n}\n",
			"Role does not fit the OS", "not on linux", "4:11"},
		{"derived role assigned", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  roles = [\"linux_server\"]\n}\n",
			"Derived role assigned", "derived", "4:11"},
		{"missing env variable", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  ssh {\n    password = env(\"PW_TEST_SURELY_UNSET\")\n  }\n}\n",
			"Error in function call", "PW_TEST_SURELY_UNSET is not set", "5:16"},
		{"unknown setting", "settings {\n  upgraded_from_pre_v9 = true\n}\n", "Unknown setting", `Did you mean "upgraded_from_pre_v10"?`, "2:3"},
		{"network playing a host role", "network \"n\" {\n  cidrs = [\"10.0.0.0/24\"]\n  roles = [\"backup_repository\"]\n}\n",
			"Role cannot be a network", "declare a host", "3:11"},
		{"bad os", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"solaris\"\n}\n", "Invalid os", "solaris", "3:8"},
		{"bad mode", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  mode = \"strict\"\n}\n", "Invalid mode", "strict", "4:10"},
		{"bad firewall for os", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  firewall = \"windows\"\n}\n", "Invalid firewall", "nftables", "4:14"},
		{"unknown group", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  groups = [\"repos\"]\n}\n", "Unknown group", "repos", "4:12"},
		{"plain http without opt-in", "host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n    https = false\n  }\n}\n",
			"Unencrypted WinRM", "allow_unencrypted", "5:13"},
		{"bad duration", "defaults {\n  ssh {\n    connect_timeout = \"soon\"\n  }\n}\nhost \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\n",
			"Invalid duration", "connect_timeout", "3:23"},
		{"missing os", "host \"a\" {\n  address = \"10.0.0.1\"\n}\n", "Missing os", "linux", "1:1"},
		{"network of any IPv4 address", "network \"n\" {\n  cidrs = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n  roles = [\"console\"]\n}\n",
			"Source is the whole internet", "allow_any_source = true", "2:11"},
		{"network of any IPv6 address", "network \"n\" {\n  cidrs = [\"::/0\"]\n  roles = [\"rest_client\"]\n}\n",
			"Source is the whole internet", "::/0 matches every address", "2:11"},
		{"management source of any address", "settings {\n  management_sources = [\"0.0.0.0/0\"]\n}\n",
			"Source is the whole internet", "management_sources", "2:24"},
		{"unknown veeam version", "settings {\n  veeam_version = 11\n}\n", "Invalid setting", "veeam_version 11 has no policy pack", "2:19"},
		{"veeam version of another pack", "settings {\n  veeam_version = 13\n}\n", "Wrong policy pack", "veeam-v12", "2:19"},
		{"unknown platform", "settings {\n  platforms = [\"vshpere\"]\n}\n", "Invalid setting", `Did you mean "vsphere"?`, "2:15"},
		{"no platform", "settings {\n  platforms = []\n}\n", "Invalid setting", "platforms is empty", "2:15"},
		{"role of a platform not selected", "settings {\n  platforms = [\"vsphere\"]\n}\nhost \"a\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  roles = [\"hyperv_host\"]\n}\n",
			"Role of another platform", `add "hyperv" to settings { platforms }`, "7:11"},
		{"allow_any_source must be a bool", "settings {\n  allow_any_source = \"yes\"\n}\n",
			"Invalid value", "allow_any_source", "2:22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse([]byte(tt.src), "test.hcl", pol)
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", tt.src)
			}
			d := diags[0]
			for _, x := range diags {
				if x.Summary == tt.summary {
					d = x
					break
				}
			}
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got %q / %q, want %q / ...%q...", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			if d.Subject == nil {
				t.Fatalf("diagnostic %q has no source range", d.Summary)
			}
			if got := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column); got != tt.pos || d.Subject.Filename != "test.hcl" {
				t.Errorf("at %s:%s, want test.hcl:%s", d.Subject.Filename, got, tt.pos)
			}
		})
	}
}

func TestLayering(t *testing.T) {
	pol := builtin(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PW_TEST_PASSPHRASE", "phrase")
	src := `
settings {
  upgraded_from_pre_v10 = true
  management_sources    = ["192.0.2.0/24"]
}
defaults {
  mode = "enforce"
  ssh {
    user        = "admin"
    private_key = "keys/id"
    passphrase  = env("PW_TEST_PASSPHRASE")
    sudo        = true
    connect_timeout = "3s"
  }
  winrm {
    user     = "CORP\\svc"
    password = file("pw")
    ca_cert  = "ca.pem"
  }
}
group "repos" {
  os    = "linux"
  roles = ["backup_repository"]
  ssh {
    port = 2222
  }
}
host "repo1" {
  address = "192.0.2.30"
  groups  = ["repos"]
  roles   = ["gateway_server"]
  mode    = "additive"
  ssh {
    proxy_jump = "jump@bastion.example.com:2200"
  }
}
host "vbr" {
  address = "vbr.example.com"
  os      = "windows"
  roles   = ["backup_server"]
}
`
	path := filepath.Join(dir, "inv.hcl")
	inv, diags := Parse([]byte(src), path, pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := inv.Host("repo1")
	if r.OS != "linux" || r.Mode != rule.Additive || r.Firewall != "auto" || !r.Managed {
		t.Errorf("repo1 = os %s mode %s firewall %s managed %v", r.OS, r.Mode, r.Firewall, r.Managed)
	}
	if got := strings.Join(r.Roles, ","); got != "backup_repository,gateway_server" {
		t.Errorf("roles = %s: want the group's and the host's", got)
	}
	s := r.SSH
	if s.User != "admin" || s.Port != 2222 || s.Passphrase != "phrase" || !s.Sudo ||
		s.PrivateKeyPath != filepath.Join(dir, "keys/id") || s.ConnectTimeout != 3*time.Second {
		t.Errorf("ssh = %+v", s)
	}
	if j := s.ProxyJump; j == nil || j.User != "jump" || j.Address != "bastion.example.com" || j.Port != 2200 {
		t.Errorf("proxy jump = %+v", j)
	}
	v := inv.Host("vbr")
	if v.Mode != rule.Enforce || v.Firewall != "windows" || v.WinRM.Password != "s3cret" || v.WinRM.Port != 5986 ||
		!v.WinRM.HTTPS || v.WinRM.User != `CORP\svc` || v.WinRM.CACertPath != filepath.Join(dir, "ca.pem") {
		t.Errorf("vbr = %+v winrm %+v", v, v.WinRM)
	}
	if v.Addr.IsValid() {
		t.Errorf("a DNS name parsed as an IP")
	}
	if len(inv.ManagementSources) != 1 || inv.ManagementSources[0].String() != "192.0.2.0/24" {
		t.Errorf("management sources = %v", inv.ManagementSources)
	}
	if inv.Settings["upgraded_from_pre_v10"].True() != true {
		t.Errorf("settings = %v", inv.Settings)
	}
}

func TestSecretsStayOutOfDiagnostics(t *testing.T) {
	pol := builtin(t)
	t.Setenv("PW_TEST_SECRET", "hunter2-secret")
	src := "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n  ssh {\n    port = env(\"PW_TEST_SECRET\")\n  }\n}\n"
	_, diags := Parse([]byte(src), "test.hcl", pol)
	if !diags.HasErrors() {
		t.Fatal("a non-numeric port was accepted")
	}
	for _, d := range diags {
		if strings.Contains(d.Summary+d.Detail, "hunter2") {
			t.Errorf("diagnostic leaks the secret: %s: %s", d.Summary, d.Detail)
		}
	}
}

func TestUnencryptedWinRMWarns(t *testing.T) {
	pol := builtin(t)
	src := "host \"w\" {\n  address = \"10.0.0.1\"\n  os = \"windows\"\n  winrm {\n    https = false\n    allow_unencrypted = true\n  }\n}\n"
	inv, diags := Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "AllowUnencrypted") {
		t.Fatalf("want one warning naming AllowUnencrypted, got %v", diags)
	}
	if w := inv.Host("w").WinRM; w.Port != 5985 || w.HTTPS {
		t.Errorf("winrm = %+v", w)
	}
}

// TestLoadDirectory: an inventory may be split over the *.hcl files of a
// directory; names stay unique across files, and diagnostics name the file.
func TestLoadDirectory(t *testing.T) {
	pol := builtin(t)
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("00-common.hcl", "defaults {\n  mode = \"enforce\"\n}\ngroup \"repos\" {\n  os = \"linux\"\n  roles = [\"backup_repository\"]\n}\n")
	write("10-hq.hcl", "host \"repo01\" {\n  address = \"192.0.2.30\"\n  groups = [\"repos\"]\n}\n")
	write("20-dr.hcl", "host \"repo02\" {\n  address = \"198.51.100.30\"\n  groups = [\"repos\"]\n}\n")
	write("notes.txt", "not an inventory file")
	inv, diags := Load(dir, pol)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(inv.Hosts) != 2 || inv.Host("repo02").Mode != rule.Enforce || inv.Host("repo01").Roles[0] != "backup_repository" {
		t.Fatalf("hosts: %+v", inv.Hosts)
	}
	write("30-dup.hcl", "host \"repo01\" {\n  address = \"192.0.2.31\"\n  groups = [\"repos\"]\n}\n")
	_, diags = Load(dir, pol)
	if !diags.HasErrors() || diags[0].Summary != "Duplicate host name" || diags[0].Subject.Filename != filepath.Join(dir, "30-dup.hcl") ||
		!strings.Contains(diags[0].Detail, "10-hq.hcl") {
		t.Errorf("duplicate across files: %v", diags)
	}
	if _, diags := Load(t.TempDir(), pol); !diags.HasErrors() || !strings.Contains(diags[0].Detail, "no *.hcl") {
		t.Errorf("empty directory: %v", diags)
	}
}

// TestAnySourceOptIn checks that "any" is accepted only with the loudly
// named opt-in, and then kept as written.
func TestAnySourceOptIn(t *testing.T) {
	pol := builtin(t)
	src := "settings {\n  allow_any_source = true\n  management_sources = [\"::/0\"]\n}\n" +
		"network \"n\" {\n  cidrs = [\"0.0.0.0/0\"]\n  roles = [\"console\"]\n}\n"
	inv, diags := Parse([]byte(src), "test.hcl", pol)
	if diags.HasErrors() {
		t.Fatalf("with allow_any_source = true: %s", diags)
	}
	if !inv.AllowAnySource || inv.Networks[0].CIDRs[0].String() != "0.0.0.0/0" || inv.ManagementSources[0].String() != "::/0" {
		t.Errorf("opt-in inventory = %v, %v, %v", inv.AllowAnySource, inv.Networks[0].CIDRs, inv.ManagementSources)
	}
	if _, diags := Parse([]byte(strings.Replace(src, "true", "false", 1)), "test.hcl", pol); !diags.HasErrors() {
		t.Error("allow_any_source = false accepted 0.0.0.0/0")
	}
}

// TestReadPack checks that the pack is read from the settings block of a
// file or of any file of a directory, before the inventory is decoded.
func TestReadPack(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hosts := write("a-hosts.hcl", "host \"a\" {\n  address = \"10.0.0.1\"\n  os = \"linux\"\n}\n")
	if pk, _, diags := ReadPack(hosts); diags.HasErrors() || pk.Version != policies.DefaultVersion {
		t.Errorf("no settings: %+v, %s", pk, diags)
	}
	write("b-settings.hcl", "settings {\n  veeam_version = 13\n}\n")
	if pk, _, diags := ReadPack(dir); diags.HasErrors() || pk.Version != 13 {
		t.Errorf("directory with veeam_version = 13: %+v, %s", pk, diags)
	}
	bad := write("bad.hcl", "settings {\n  veeam_version = \"thirteen\"\n}\n")
	_, _, diags := ReadPack(bad)
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 {
		t.Errorf("veeam_version = \"thirteen\": %s, want an error at line 2", diags)
	}
}
