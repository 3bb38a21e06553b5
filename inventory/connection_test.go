package inventory

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/portwarden/portwarden/transport"
)

// TestConnectionDefaults pins what a host that says nothing about its
// connection gets: the transport's defaults (transport/defaults.go), the
// one place they are set, with command_timeout left to the orchestrator.
func TestConnectionDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	src := `
host "l" {
  address = "192.0.2.1"
  os      = "linux"
  ssh {
    private_key = "/k"
    proxy_jump  = "b1,ops@b2:2200"
  }
}
host "w" {
  address = "192.0.2.2"
  os      = "windows"
  winrm {
    user     = "u"
    password = "p"
  }
}
host "wh" {
  address = "192.0.2.3"
  os      = "windows"
  winrm {
    user              = "u"
    password          = "p"
    https             = false
    allow_unencrypted = true
  }
}
host "set" {
  address = "192.0.2.4"
  os      = "linux"
  ssh {
    user            = "admin"
    port            = 2222
    known_hosts     = "/kh"
    connect_timeout = "3s"
    command_timeout = "5m"
  }
}
`
	inv, diags := Parse([]byte(src), filepath.Join(t.TempDir(), "inv.hcl"), builtin(t))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	kh := filepath.Join(home, ".ssh", "known_hosts")
	type sshWant struct {
		user           string
		port           int
		knownHosts     string
		connect, cmdTO time.Duration
	}
	got := func(c *transport.SSHConfig) sshWant {
		return sshWant{c.User, c.Port, c.KnownHostsPath, c.ConnectTimeout, c.CommandTimeout}
	}
	l := inv.Host("l").SSH
	for _, tt := range []struct {
		name string
		c    *transport.SSHConfig
		want sshWant
	}{
		{"host", l, sshWant{"root", 22, kh, 10 * time.Second, 0}},
		{"last hop", l.ProxyJump, sshWant{"ops", 2200, kh, 10 * time.Second, 0}},
		{"first hop", l.ProxyJump.ProxyJump, sshWant{"root", 22, kh, 10 * time.Second, 0}},
		{"all set", inv.Host("set").SSH, sshWant{"admin", 2222, "/kh", 3 * time.Second, 5 * time.Minute}},
	} {
		if g := got(tt.c); g != tt.want {
			t.Errorf("%s: ssh %+v, want %+v", tt.name, g, tt.want)
		}
	}
	if w := inv.Host("w").WinRM; w.Port != 5986 || !w.HTTPS || w.Auth != "ntlm" || w.ConnectTimeout != 10*time.Second || w.CommandTimeout != 0 {
		t.Errorf("winrm defaults: %+v", w)
	}
	if w := inv.Host("wh").WinRM; w.Port != 5985 || w.HTTPS {
		t.Errorf("winrm over http: port %d https %v", w.Port, w.HTTPS)
	}
}

// TestNoKnownHostsPointsAtTheHost: without a home directory there is no
// default known_hosts; the diagnostic names the host's block.
func TestNoKnownHostsPointsAtTheHost(t *testing.T) {
	t.Setenv("HOME", "")
	src := "host \"l\" {\n  address = \"192.0.2.1\"\n  os      = \"linux\"\n  ssh {\n    private_key = \"/k\"\n  }\n}\n"
	_, diags := Parse([]byte(src), filepath.Join(t.TempDir(), "inv.hcl"), builtin(t))
	for _, dg := range diags {
		if dg.Summary != "No known_hosts" {
			continue
		}
		if dg.Subject == nil || dg.Subject.Start.Line != 1 {
			t.Errorf("No known_hosts: subject %v, want host \"l\"'s block on line 1", dg.Subject)
		}
		return
	}
	t.Fatalf("no \"No known_hosts\" diagnostic: %v", diags)
}
