package transport

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
)

// fwScript is a firewall script as the orchestrator hands it over.
func fwScript(s firewall.Script) Script {
	return Script{Shell: s.Shell, Body: s.Body, Stdin: s.Stdin}
}

// The defaults are part of the inventory language (docs/inventory.md):
// changing one changes every inventory that does not set it.
func TestDefaultsPinned(t *testing.T) {
	if DefaultSSHPort != 22 || DefaultSSHUser != "root" || DefaultConnectTimeout != 10*time.Second ||
		DefaultCommandTimeout != 60*time.Second || DefaultWinRMHTTPSPort != 5986 || DefaultWinRMHTTPPort != 5985 ||
		DefaultWinRMAuth != "ntlm" || DefaultWinRMCommandTimeout != 120*time.Second {
		t.Fatal("a connection default changed; update docs/inventory.md and this test together")
	}
}

func TestSSHDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	kh := filepath.Join(home, ".ssh", "known_hosts")
	tests := []struct {
		name string
		in   SSHConfig
		want SSHConfig
	}{
		{"zero", SSHConfig{Address: "h"},
			SSHConfig{Address: "h", Port: 22, User: "root", ConnectTimeout: 10 * time.Second, KnownHostsPath: kh}},
		{"set values stay", SSHConfig{Address: "h", Port: 2222, User: "pw", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, KnownHostsPath: "/k"},
			SSHConfig{Address: "h", Port: 2222, User: "pw", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, KnownHostsPath: "/k"}},
		{"no known_hosts when ignoring host keys", SSHConfig{Address: "h", InsecureIgnoreHostKey: true},
			SSHConfig{Address: "h", Port: 22, User: "root", ConnectTimeout: 10 * time.Second, InsecureIgnoreHostKey: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SSHDefaults(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SSHDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
	// Every hop of a ProxyJump chain gets them too.
	got, err := SSHDefaults(SSHConfig{Address: "h", ProxyJump: &SSHConfig{Address: "b", User: "jump", ProxyJump: &SSHConfig{Address: "b0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if j := got.ProxyJump; j.Port != 22 || j.User != "jump" || j.KnownHostsPath != kh || j.ProxyJump.User != "root" || j.ProxyJump.Port != 22 {
		t.Errorf("jumps: %+v / %+v", *j, *j.ProxyJump)
	}
	if _, err := os.Stat(kh); err == nil {
		t.Error("SSHDefaults created known_hosts")
	}
}

func TestWinRMDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   WinRMConfig
		want WinRMConfig
	}{
		{"zero is https", WinRMConfig{}, WinRMConfig{HTTPS: true, Port: 5986, Auth: "ntlm", ConnectTimeout: 10 * time.Second}},
		{"http only with allow_unencrypted", WinRMConfig{AllowUnencrypted: true},
			WinRMConfig{AllowUnencrypted: true, Port: 5985, Auth: "ntlm", ConnectTimeout: 10 * time.Second}},
		{"https asked with allow_unencrypted", WinRMConfig{AllowUnencrypted: true, HTTPS: true},
			WinRMConfig{AllowUnencrypted: true, HTTPS: true, Port: 5986, Auth: "ntlm", ConnectTimeout: 10 * time.Second}},
		{"set values stay", WinRMConfig{Port: 15986, Auth: "basic", ConnectTimeout: time.Second, CommandTimeout: time.Minute},
			WinRMConfig{HTTPS: true, Port: 15986, Auth: "basic", ConnectTimeout: time.Second, CommandTimeout: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WinRMDefaults(tt.in); got != tt.want {
				t.Errorf("WinRMDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestScriptTimeout(t *testing.T) {
	tests := []struct {
		name             string
		own, conf, deflt time.Duration
		want             time.Duration
	}{
		{"the script's own", 3 * time.Minute, time.Minute, 60 * time.Second, 3 * time.Minute},
		{"the connection's", 0, time.Minute, 60 * time.Second, time.Minute},
		{"the default", 0, 0, 60 * time.Second, 60 * time.Second},
	}
	for _, tt := range tests {
		if got := scriptTimeout(Script{Timeout: tt.own}, tt.conf, tt.deflt); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
