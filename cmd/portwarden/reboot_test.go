package main

import (
	"context"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestRebootKeepsRules: rules applied with the nftables or iptables backend
// come back when the lab host boots again from its own /etc (nftables.service
// loads /etc/nftables.conf, netfilter-persistent /etc/iptables/rules.v4),
// without portwarden running again.
func TestRebootKeepsRules(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) {
			l := lab.UpForTest(t, lab.Options{Linux: 2, BaselineDrop: backend == "nftables"})
			if backend == "iptables" {
				execOK(t, l, "lnx01", "sh", "-c", "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -P INPUT DROP")
			}
			inv := writeInventory(t, l, map[string]hostSpec{
				"lnx01": {roles: []string{"backup_repository"}, firewall: backend},
				"lnx02": {roles: []string{"backup_repository"}, firewall: backend},
			}, "")
			for _, port := range []string{":2600", ":9999"} {
				ln, err := l.Listen("lnx01", "tcp", port)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			if reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Fatal("the host's own drop does not drop: the test would prove nothing")
			}
			if ad, code := applyJSON(t, inv, "--probe"); code != 0 {
				for _, h := range ad.Hosts {
					t.Logf("%s: error %q warnings %q", h.Name, h.Error, h.Warnings)
				}
				t.Fatalf("apply exit %d", code)
			}
			if !reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Fatal("after apply, lnx02 cannot reach lnx01's data mover range")
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := l.Reboot(ctx, "lnx01"); err != nil {
				t.Fatalf("reboot: %v", err)
			}
			// The boot loaded the host's own drop and portwarden's rules.
			if !reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Error("after reboot, lnx02 cannot reach lnx01's data mover range: the rules did not come back")
			}
			if reachable(t, l, "lnx02", "lnx01", 9999) {
				t.Error("after reboot, 9999/tcp is open: the host's own drop did not come back")
			}
			if doc, code := planDoc(t, inv); code != 0 {
				t.Errorf("plan after reboot: exit %d, lnx01 changes %+v", code, hostOf(doc, "lnx01").Changes)
			}
			out, errOut, code := runCLI(t, "verify", "--inventory", inv, "--probe")
			if code != 0 {
				t.Errorf("verify --probe after reboot: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}
