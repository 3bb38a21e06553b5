package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// TestConfirmWithoutSecondLogin: a good apply is confirmed by sshd's
// greeting and the confirm script over the apply's own connection — one
// login per host in all; --confirm-by login logs in a second time.
func TestConfirmWithoutSecondLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	inv := writeInventory(t, l, faultSpecs, "")
	hosts := []string{"lnx01", "lnx02"}
	for _, tc := range []struct {
		args       []string
		wantLogins int
	}{
		{[]string{"--accept-new-host-keys"}, 1},
		{[]string{"--destroy", "--confirm-by", "login"}, 2}, // a change again, confirmed by a login
		{[]string{"--confirm-by", "greeting"}, 1},
	} {
		before := map[string]int{}
		for _, h := range hosts {
			before[h] = sshLogins(t, l, h)
		}
		ad, code := applyJSON(t, inv, tc.args...)
		if code != 0 {
			t.Fatalf("apply %v: exit %d: %+v", tc.args, code, ad.Hosts)
		}
		for _, h := range hosts {
			if p := hostOf(ad.jsonPlan, h); p.Left != "applied" || p.Error != "" {
				t.Errorf("apply %v: %s left %q, error %q", tc.args, h, p.Left, p.Error)
			}
			if n := sshLogins(t, l, h) - before[h]; n != tc.wantLogins {
				t.Errorf("apply %v: %s: %d SSH logins, want %d", tc.args, h, n, tc.wantLogins)
			}
		}
	}
	if got := owned(l, "lnx01"); got == "" {
		t.Error("lnx01 lost the confirmed change")
	}
}

// TestConfirmNewConnectionsDropped: once the hosts are planned, each
// drops the controller's NEW connections to 22 (established ones pass,
// as after a lockout policy): the greeting check, like a login, does not
// get in, and each host is reverted at once over the connection still
// open.
func TestConfirmNewConnectionsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bin := buildPortwarden(t)
	inv := writeInventory(t, l, faultSpecs, "")
	hosts := []string{"lnx01", "lnx02"}
	for _, tc := range []struct{ by, wantErr string }{
		{"greeting", "reaching ssh on "},
		{"login", "connecting to root@"},
	} {
		t.Run(tc.by, func(t *testing.T) {
			p := startCLI(t, bin, "apply", "--inventory", inv, "--auto-approve", "--accept-new-host-keys", "--format", "json",
				"--progress", "json", "--confirm-timeout", "20s", "--confirm-by", tc.by)
			planned := 0
			p.waitEvent(t, "both hosts planned", func(e progressEvent) bool {
				if e.Phase == "plan" && e.Event == "done" {
					planned++
				}
				return planned == len(hosts)
			})
			var removes []func()
			for _, h := range hosts {
				removes = append(removes, fault(t, l, h, fmt.Sprintf("ip saddr %s tcp dport 22 ct state new drop", l.Controller)))
			}
			code := p.wait(t)
			for _, remove := range removes {
				remove()
			}
			var doc applyDoc
			if err := json.Unmarshal(p.stdout.Bytes(), &doc); err != nil {
				t.Fatalf("apply output: %v\n%s", err, p.stdout.String())
			}
			if code != 1 && code != 3 {
				t.Errorf("exit %d, want a failure", code)
			}
			for _, h := range hosts {
				hp := hostOf(doc.jsonPlan, h)
				if hp.Left != "rolled back" || !strings.Contains(hp.Error, "rolled back: the controller could not reconnect: "+tc.wantErr) ||
					!strings.Contains(hp.Error, "reverted at once over the connection still open") {
					t.Errorf("%s: left %q, error %q", h, hp.Left, hp.Error)
				}
				if got := owned(l, h); got != "" {
					t.Errorf("%s kept the change:\n%s", h, got)
				}
			}
		})
	}
}
