package firewall

import (
	"errors"
	"strings"
	"testing"
)

const nftDenied = "nft_ruleset: exit status 1: Error: Operation not permitted\n"

func TestDetect(t *testing.T) {
	empty := loadFacts(t, "empty")
	noNFT := withoutLines(empty, linuxSecTools, "nft=")
	noIPT := withoutLines(empty, linuxSecTools, "iptables", "ip6tables")
	nothing := withoutLines(noNFT, linuxSecTools, "iptables", "ip6tables")
	firewalld := withSection(empty, linuxSecServices, "systemd=yes\nfirewalld=active\nfirewalld.enabled=enabled\n")
	firewallCmd := withSection(empty, linuxSecServices, "systemd=no\nfirewalld.state=running\n")
	firewalldStopped := withSection(empty, linuxSecServices, "systemd=no\nfirewalld.state=not running\n")
	ufw := withSection(empty, linuxSecServices, "systemd=yes\nufw=active\nufw.status=Status: active\n")
	ufwOff := withSection(empty, linuxSecServices, "systemd=yes\nufw=active\nufw.status=Status: inactive\n")
	iptDrop := loadFacts(t, "iptables-input-drop")
	bothDrop := withSection(iptDrop, linuxSecNFT, loadFacts(t, "nft-baseline-drop")[linuxSecNFT])

	for _, tc := range []struct {
		name    string
		f       Facts
		want    string
		backend string // "nftables", "iptables", "iptables-legacy"; "" when an error is wanted
		manager string // for an *UnsupportedError
		errText string // a substring of any error
	}{
		{"empty host, auto", empty, "auto", "nftables", "", ""},
		{"empty host, no value", empty, "", "nftables", "", ""},
		{"empty host, nftables", empty, "nftables", "nftables", "", ""},
		{"empty host, iptables", empty, "iptables", "iptables", "", ""},
		{"nft drop policy", loadFacts(t, "nft-baseline-drop"), "auto", "nftables", "", ""},
		{"iptables drop policy", iptDrop, "auto", "iptables", "", ""},
		{"iptables drop policy, explicit nftables", iptDrop, "nftables", "nftables", "", ""},
		{"iptables and nftables both drop", bothDrop, "auto", "nftables", "", ""},
		{"portwarden's nft table", loadFacts(t, "nft-additive-jump"), "auto", "nftables", "", ""},
		{"portwarden's iptables chain", loadFacts(t, "iptables-additive"), "auto", "iptables", "", ""},
		{"legacy rules", loadFacts(t, "legacy-rules"), "auto", "iptables-legacy", "", ""},
		{"legacy rules, explicit iptables", loadFacts(t, "legacy-rules"), "iptables", "iptables-legacy", "", ""},
		{"legacy rules, explicit nftables", loadFacts(t, "legacy-rules"), "nftables", "nftables", "", ""},
		{"only iptables", noNFT, "auto", "iptables", "", ""},
		{"only nft", noIPT, "auto", "nftables", "", ""},
		{"nothing installed", nothing, "auto", "", "", "neither nft nor iptables"},
		{"nftables missing", noNFT, "nftables", "", "", "nft is not installed"},
		{"iptables missing", noIPT, "iptables", "", "", "iptables-save and iptables-restore are not installed"},
		{"firewalld", firewalld, "auto", "", "firewalld", `set firewall = "nftables"`},
		{"firewalld without systemd", firewallCmd, "auto", "", "firewalld", "firewalld is active"},
		{"firewalld stopped", firewalldStopped, "auto", "nftables", "", ""},
		{"firewalld, explicit nftables", firewalld, "nftables", "nftables", "", ""},
		{"ufw", ufw, "auto", "ufw", "", ""},
		{"ufw, explicit", ufwOff, "ufw", "ufw", "", ""},
		{"ufw installed but off", ufwOff, "auto", "nftables", "", ""},
		{"ufw, explicit iptables", ufw, "iptables", "iptables", "", ""},
		{"unknown value", empty, "pf", "", "", `unknown firewall "pf"`},
		{"windows value", empty, "windows", "", "", "unknown firewall"},
		{"broken facts", ParseFacts("### portwarden:tools\nnft=/usr/sbin/nft\n"), "auto", "", "", "incomplete"},
		{"nft output broken", withSection(empty, linuxSecNFT, "{"), "auto", "", "", "parsing nft"},
		{"nft failed, auto", withSection(empty, linuxSecErrors, nftDenied), "auto", "iptables", "", ""},
		{"nft failed, nftables", withSection(empty, linuxSecErrors, nftDenied), "nftables", "", "", "Operation not permitted"},
		{"iptables-save failed", withSection(empty, linuxSecErrors, "iptables: exit status 1: oops\n"), "auto", "nftables", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
				if x.Root != "/srv/h1" || x.Facts == nil {
					t.Errorf("backend without root or facts: %+v", x)
				}
			case *IPTables:
				if x.Legacy {
					got += "-legacy"
				}
				if x.Root != "/srv/h1" || x.Facts == nil {
					t.Errorf("backend without root or facts: %+v", x)
				}
			}
			if got != tc.backend {
				t.Errorf("Detect chose %s, want %s", got, tc.backend)
			}
		})
	}
	if _, err := Detect(empty, "auto", "relative/root"); err == nil {
		t.Errorf("a relative persist root was accepted")
	}
}
