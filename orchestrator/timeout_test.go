package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

func TestCommandTimeout(t *testing.T) {
	s := time.Second
	for _, tt := range []struct {
		name       string
		configured time.Duration
		os         string
		w          Work
		want       time.Duration
	}{
		{"nothing to do: the transport default", 0, "linux", Work{}, 60 * s},
		{"windows default", 0, "windows", Work{}, 120 * s},
		{"23 rules, 8 KiB", 0, "linux", Work{Rules: 23, ScriptBytes: 8 << 10}, 60*s + 23*50*time.Millisecond + 80*time.Millisecond},
		{"2,000 rules and 1 MiB", 0, "linux", Work{Rules: 2000, ScriptBytes: 1 << 20}, 60*s + 100*s + 10240*time.Millisecond},
		{"windows rules cost more", 0, "windows", Work{Rules: 200}, 120*s + 100*s},
		{"capped", 0, "windows", Work{Rules: 100000}, MaxCommandTimeout},
		{"configured wins, even when short", 5 * s, "linux", Work{Rules: 2000}, 5 * s},
		{"negative work is none", 0, "linux", Work{Rules: -4, ScriptBytes: -1}, 60 * s},
	} {
		if got := CommandTimeout(tt.configured, tt.os, tt.w); got != tt.want {
			t.Errorf("%s: CommandTimeout = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestScriptForUsesTheHostsSetting(t *testing.T) {
	fs := firewall.Script{Shell: "sh", Body: "true", Stdin: make([]byte, 4096)}
	unset := &inventory.Host{OS: "linux", SSH: &transport.SSHConfig{}}
	if got := scriptFor(unset, fs, 100).Timeout; got != 60*time.Second+5*time.Second+40*time.Millisecond {
		t.Errorf("unset command_timeout: %s", got)
	}
	set := &inventory.Host{OS: "linux", SSH: &transport.SSHConfig{CommandTimeout: 7 * time.Second}}
	if got := scriptFor(set, fs, 100); got.Timeout != 7*time.Second || got.Body != "true" || len(got.Stdin) != 4096 || got.Shell != "sh" {
		t.Errorf("command_timeout = 7s: %+v", got)
	}
	win := &inventory.Host{OS: "windows", WinRM: &transport.WinRMConfig{CommandTimeout: 3 * time.Minute}}
	if got := scriptFor(win, fs, 100).Timeout; got != 3*time.Minute {
		t.Errorf("winrm command_timeout: %s", got)
	}
}

// TestEngineScalesScriptTimeouts: the facts and apply scripts the engine
// sends carry the timeout their work needs, or the host's command_timeout.
func TestEngineScalesScriptTimeouts(t *testing.T) {
	fleet := fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{"scaled": {}, "fixed": {}}}
	rules := memRules("scaled", "fixed")
	for _, r := range rules[0].Rules[:1] {
		for i := range 200 {
			rules[0].Rules = append(rules[0].Rules, Rule{Rule: rule.Rule{Protocol: "tcp",
				Ports: []rule.PortRange{{Lo: uint16(10000 + i), Hi: uint16(10000 + i)}}, Sources: r.Sources}})
		}
	}
	rules[1].Host.SSH = &transport.SSHConfig{CommandTimeout: 42 * time.Second}
	e := &Engine{Dialer: fleet, Platform: fleet}
	defer e.Close()
	e.Apply(context.Background(), e.Plan(context.Background(), rules))
	for name, want := range map[string]func(transport.Script) bool{
		"scaled": func(s transport.Script) bool {
			return s.Timeout == CommandTimeout(0, "linux", Work{Rules: 201, ScriptBytes: len(s.Body) + len(s.Stdin)})
		},
		"fixed": func(s transport.Script) bool { return s.Timeout == 42*time.Second },
	} {
		scripts := fleet.hosts[name].Scripts()
		if len(scripts) < 2 {
			t.Fatalf("%s: %d scripts, want facts and apply", name, len(scripts))
		}
		for i, s := range scripts {
			if !want(s) {
				t.Errorf("%s: script %d has timeout %s", name, i, s.Timeout)
			}
		}
		if name == "scaled" && scripts[1].Timeout <= transport.DefaultCommandTimeout+10*time.Second {
			t.Errorf("apply of 201 rules: timeout %s, want it above the fixed default", scripts[1].Timeout)
		}
	}
}
