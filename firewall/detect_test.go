package firewall

import (
	"errors"
	"strings"
	"testing"
)

const nftDenied = "nft_ruleset: exit status 1: Error: Operation not permitted\n"

func noFirewallCmd(f Facts) Facts { return withoutLines(f, linuxSecTools, "firewall-cmd=") }

func withFirewallCmd(f Facts) Facts {
	return withSection(f, linuxSecTools, f[linuxSecTools]+"/usr/bin/firewall-cmd\n")
}

func TestDetect(t *testing.T) {
	empty := loadFacts(t, "empty")
	noNFT := withoutLines(empty, linuxSecTools, "nft=")
	noIPT := withoutLines(empty, linuxSecTools, "iptables", "ip6tables")
	nothing := withoutLines(noNFT, linuxSecTools, "iptables", "ip6tables")
	svc := func(f Facts, lines string) Facts { return withSection(f, linuxSecServices, lines) }
	// ufw's chains in the kernel ruleset, as iptables-save shows them.
	ufwRules := "*filter\n:INPUT ACCEPT [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-user-input\nCOMMIT\n"
	withUFWChains := func(f Facts) Facts { return withSection(f, linuxSecIPT, ufwRules) }
	firewalld := svc(empty, "systemd=yes\nfirewalld=active\nfirewalld.enabled=enabled\n")
	firewalldBus := svc(empty, "systemd=no\nfirewalld.enabled=enabled\nfirewalld.dbus=running\n")
	firewalldPid := svc(empty, "systemd=no\nfirewalld.pid=running\n")
	firewalldStopped := svc(withFirewallCmd(empty), "systemd=no\nfirewalld.enabled=disabled\nfirewalld.dbus=absent\n")
	firewalldEnabledStopped := svc(empty, "systemd=yes\nfirewalld=inactive\nfirewalld.enabled=enabled\n")
	firewalldEnabledNoSystemd := svc(empty, "systemd=no\nfirewalld.enabled=enabled\nfirewalld.dbus=absent\n")
	ufw := withUFWChains(svc(empty, "systemd=yes\nufw=active\nufw.enabled=enabled\nufw.conf_ENABLED=yes\n"))
	ufwOff := svc(empty, "systemd=yes\nufw=active\nufw.enabled=enabled\nufw.conf_ENABLED=no\n")
	ufwEnabledNotLoaded := svc(empty, "systemd=no\nufw.enabled=enabled\nufw.conf_ENABLED=yes\n")
	ufwUnitDisabled := svc(empty, "systemd=yes\nufw=inactive\nufw.enabled=disabled\nufw.conf_ENABLED=yes\n")
	both := withUFWChains(svc(empty, "systemd=yes\nfirewalld=active\nfirewalld.enabled=enabled\nufw=active\nufw.conf_ENABLED=yes\n"))
	bothPending := svc(empty, "systemd=no\nfirewalld.enabled=enabled\nufw.enabled=enabled\nufw.conf_ENABLED=yes\n")
	iptDrop := loadFacts(t, "iptables-input-drop")
	bothDrop := withSection(iptDrop, linuxSecNFT, loadFacts(t, "nft-baseline-drop")[linuxSecNFT])

	for _, tc := range []struct {
		name    string
		f       Facts
		want    string
		backend string // "nftables", "iptables", "iptables-legacy"; "" when an error is wanted
		manager string // for an *UnsupportedError
		errText string // a substring of any error
		warning string // a substring of one of State's warnings on an empty host
	}{
		{"empty host, auto", empty, "auto", "nftables", "", "", ""},
		{"empty host, no value", empty, "", "nftables", "", "", ""},
		{"empty host, nftables", empty, "nftables", "nftables", "", "", ""},
		{"empty host, iptables", empty, "iptables", "iptables", "", "", ""},
		{"nft drop policy", loadFacts(t, "nft-baseline-drop"), "auto", "nftables", "", "", ""},
		{"iptables drop policy", iptDrop, "auto", "iptables", "", "", ""},
		{"iptables drop policy, explicit nftables", iptDrop, "nftables", "nftables", "", "", ""},
		{"iptables and nftables both drop", bothDrop, "auto", "nftables", "", "", ""},
		{"portwarden's nft table", loadFacts(t, "nft-additive-jump"), "auto", "nftables", "", "", ""},
		{"portwarden's iptables chain", loadFacts(t, "iptables-additive"), "auto", "iptables", "", "", ""},
		{"legacy rules", loadFacts(t, "legacy-rules"), "auto", "iptables-legacy", "", "", ""},
		{"legacy rules, explicit iptables", loadFacts(t, "legacy-rules"), "iptables", "iptables-legacy", "", "", ""},
		{"legacy rules, explicit nftables", loadFacts(t, "legacy-rules"), "nftables", "nftables", "", "", ""},
		{"only iptables", noNFT, "auto", "iptables", "", "", ""},
		{"only nft", noIPT, "auto", "nftables", "", "", ""},
		{"nothing installed", nothing, "auto", "", "", "neither nft nor iptables", ""},
		{"nftables missing", noNFT, "nftables", "", "", "nft is not installed", ""},
		{"iptables missing", noIPT, "iptables", "", "", "iptables-save and iptables-restore are not installed", ""},
		{"firewalld running (systemd)", firewalld, "auto", "firewalld", "", "", ""},
		{"firewalld running (D-Bus name)", firewalldBus, "auto", "firewalld", "", "", ""},
		{"firewalld running (pid file)", firewalldPid, "", "firewalld", "", "", ""},
		{"firewalld running, forced", firewalld, "firewalld", "firewalld", "", "", ""},
		{"firewalld installed, stopped, disabled", firewalldStopped, "auto", "nftables", "", "", ""},
		{"firewalld enabled, not running", firewalldEnabledStopped, "auto", "nftables", "", "", "firewalld is enabled but not running"},
		{"firewalld enabled, not running, no systemd", firewalldEnabledNoSystemd, "auto", "nftables", "", "", "systemctl disable --now firewalld"},
		{"firewalld enabled, not running, iptables", firewalldEnabledStopped, "iptables", "iptables", "", "", "firewalld is enabled but not running"},
		{"firewalld stopped, forced", firewalldStopped, "firewalld", "", "firewalld", "firewalld is not running", ""},
		{"firewalld not installed, forced", noFirewallCmd(empty), "firewalld", "", "firewalld", "firewalld is not installed", ""},
		{"firewalld running, nftables forced", firewalld, "nftables", "", "firewalld", `set firewall = "firewalld"`, ""},
		{"firewalld running, iptables forced", firewalld, "iptables", "", "firewalld", "behind its back", ""},
		{"ufw active", ufw, "auto", "ufw", "", "", ""},
		{"ufw active, forced", ufw, "ufw", "ufw", "", "", ""},
		{"ufw installed but off", ufwOff, "auto", "nftables", "", "", ""},
		{"ufw enabled, not loaded", ufwEnabledNotLoaded, "auto", "nftables", "", "", `ufw disable`},
		{"ufw enabled in ufw.conf, unit disabled", ufwUnitDisabled, "auto", "nftables", "", "", ""},
		{"ufw, explicit iptables", ufw, "iptables", "iptables", "", "", "ufw is active"},
		{"both running", both, "auto", "", "firewalld", "both firewalld and ufw are active", ""},
		{"both running, firewalld forced", both, "firewalld", "firewalld", "", "", ""},
		{"both enabled, neither running", bothPending, "auto", "nftables", "", "", "ufw is enabled"},
		{"neither", empty, "auto", "nftables", "", "", ""},
		{"unknown value", empty, "pf", "", "", `unknown firewall "pf"`, ""},
		{"windows value", empty, "windows", "", "", "unknown firewall", ""},
		{"broken facts", ParseFacts("### portwarden:tools\nnft=/usr/sbin/nft\n"), "auto", "", "", "incomplete", ""},
		{"nft output broken", withSection(empty, linuxSecNFT, "{"), "auto", "", "", "parsing nft", ""},
		{"nft failed, auto", withSection(empty, linuxSecErrors, nftDenied), "auto", "iptables", "", "", ""},
		{"nft failed, nftables", withSection(empty, linuxSecErrors, nftDenied), "nftables", "", "", "Operation not permitted", ""},
		{"iptables-save failed", withSection(empty, linuxSecErrors, "iptables: exit status 1: oops\n"), "auto", "nftables", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.backend == "ufw" {
				// The ufw backend lives on its own branch; until it is
				// merged, Detect answers with newUFW's placeholder, so
				// the decision itself is checked here.
				lf, err := parseLinuxFacts(tc.f)
				if err != nil {
					t.Fatal(err)
				}
				det, err := linuxDetect(lf)
				if err != nil {
					t.Fatal(err)
				}
				if kind, _, err := pickLinuxBackend(det, tc.want); err != nil || kind != "ufw" {
					t.Errorf("decision = %q, %v; want ufw", kind, err)
				}
				return
			}
			b, err := Detect(tc.f, tc.want, "/srv/h1")
			if tc.backend == "" {
				if err == nil {
					t.Fatalf("Detect chose %s, want an error", b.Name())
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("error %q does not say %q", err, tc.errText)
				}
				var ue *UnsupportedError
				if tc.manager != "" && (!errors.As(err, &ue) || ue.Manager != tc.manager) {
					t.Errorf("error %#v is not an *UnsupportedError for %s", err, tc.manager)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := b.Name()
			switch x := b.(type) {
			case *NFTables:
				if x.Root != "/srv/h1" {
					t.Errorf("backend without root: %+v", x)
				}
			case *IPTables:
				if x.Legacy {
					got += "-legacy"
				}
				if x.Root != "/srv/h1" {
					t.Errorf("backend without root: %+v", x)
				}
			}
			if got != tc.backend {
				t.Errorf("Detect chose %s, want %s", got, tc.backend)
			}
			if _, ok := b.(*Firewalld); ok {
				return // its State needs firewalld's own view, tested in firewalld_test.go
			}
			st, err := b.State(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, w := range st.Warnings {
				found = found || tc.warning != "" && strings.Contains(w, tc.warning)
			}
			if tc.warning != "" && !found {
				t.Errorf("warnings %q do not say %q", st.Warnings, tc.warning)
			}
			for _, w := range st.Warnings {
				if tc.warning == "" && (strings.Contains(w, "firewalld") || strings.Contains(w, "ufw")) {
					t.Errorf("unexpected warning %q", w)
				}
			}
		})
	}
	if _, err := Detect(empty, "auto", "relative/root"); err == nil {
		t.Errorf("a relative persist root was accepted")
	}
}
