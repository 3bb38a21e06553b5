package main

import (
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
)

const rulesJSON = `{"format_version":"1","hosts":[
 {"name":"lnx01","address":"198.18.7.10","os":"linux","managed":true,"rules":[
  {"protocol":"tcp","ports":["22"],"sources":["198.18.7.1"]},
  {"protocol":"tcp","ports":["2500-3300","6162"],"sources":["198.18.7.0/29","fd70:7764:0:7::b"]}]},
 {"name":"vbr","address":"198.18.7.1","os":"windows","managed":false,"rules":[
  {"protocol":"tcp","ports":["9392"],"sources":["198.18.7.10"]}]}]}`

// Every portwarden rule becomes one iptables item per source, with the
// port ranges in iptables' syntax and the family of the source; unmanaged
// and Windows hosts get none.
func TestItemsFromRules(t *testing.T) {
	hosts, err := itemsFromRules([]byte(rulesJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Name != "lnx01" {
		t.Fatalf("hosts %+v, want lnx01 only", hosts)
	}
	want := []item{
		{Protocol: "tcp", Ports: []string{"22"}, Source: "198.18.7.1", IPVersion: "ipv4"},
		{Protocol: "tcp", Ports: []string{"2500:3300", "6162"}, Source: "198.18.7.0/29", IPVersion: "ipv4"},
		{Protocol: "tcp", Ports: []string{"2500:3300", "6162"}, Source: "fd70:7764:0:7::b", IPVersion: "ipv6"},
	}
	got := hosts[0].Items
	if len(got) != len(want) {
		t.Fatalf("items %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Protocol != want[i].Protocol || strings.Join(got[i].Ports, ",") != strings.Join(want[i].Ports, ",") ||
			got[i].Source != want[i].Source || got[i].IPVersion != want[i].IPVersion {
			t.Errorf("item %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	inv := inventoryINI(hosts, labPaths{Key: "/lab/id_ed25519", KnownHosts: "/lab/known_hosts"})
	if !strings.Contains(inv, "lnx01 ansible_host=198.18.7.10\n") || !strings.Contains(inv, "ansible_ssh_private_key_file=/lab/id_ed25519\n") {
		t.Errorf("inventory:\n%s", inv)
	}
	cfg := ansibleCfg("/d", 50, labPaths{KnownHosts: "/lab/known_hosts"})
	for _, w := range []string{"forks = 50\n", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/lab/known_hosts"} {
		if !strings.Contains(cfg, w) {
			t.Errorf("ansible.cfg lacks %q:\n%s", w, cfg)
		}
	}
}

func TestItemsFromRulesRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":   `{`,
		"no host":    `{"hosts":[]}`,
		"icmp":       `{"hosts":[{"name":"a","os":"linux","managed":true,"rules":[{"protocol":"icmp","sources":["10.0.0.1"]}]}]}`,
		"bad source": `{"hosts":[{"name":"a","os":"linux","managed":true,"rules":[{"protocol":"tcp","ports":["1"],"sources":["10.0.0.1; reboot"]}]}]}`,
	} {
		if _, err := itemsFromRules([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRecap(t *testing.T) {
	out := []byte(`PLAY [x] ***
TASK [y] ***
PLAY RECAP *********************************************************************
lnx01                      : ok=1    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
lnx02                      : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
lnx03                      : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
`)
	changed, bad, err := recap(out)
	if err != nil || changed != 1 || bad != 1 {
		t.Errorf("recap: changed %d, bad %d, err %v; want 1, 1, nil", changed, bad, err)
	}
	if _, _, err := recap([]byte("ERROR! no playbook")); err == nil {
		t.Error("no recap: no error")
	}
}

// TestExtraHosts: --extra-sources' backup servers load into a lab-like
// inventory and give a Linux host three more sources per server, none
// aggregated with another.
func TestExtraHosts(t *testing.T) {
	pol, diags := policies.LoadBuiltin()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	const base = `host "lnx01" {
  address = "198.18.7.10"
  os      = "linux"
  roles   = ["backup_repository"]
  mode    = "additive"
}
host "vbr" {
  address = "198.18.7.1"
  os      = "windows"
  roles   = ["backup_server", "console"]
  managed = false
}
`
	sources := func(src string) int {
		t.Helper()
		inv, diags := inventory.Parse([]byte(src), "lab.hcl", pol)
		if diags.HasErrors() {
			t.Fatalf("%s\n%s", diags, src)
		}
		hrs, err := orchestrator.Compute(inv, pol, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range hrs[0].Rules {
			n += len(r.Sources)
		}
		return n
	}
	before, after := sources(base), sources(base+extraHosts(5))
	if after != before+3*5 {
		t.Errorf("5 extra backup servers: %d sources on lnx01, want %d + 15", after, before)
	}
}
