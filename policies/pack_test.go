package policies

import (
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/portwarden/portwarden/rule"
)

// TestPackReadings pins readings of both packs that docs/policy.md explains,
// in particular where v13 differs from v12 and the vSphere rows.
func TestPackReadings(t *testing.T) {
	packs := map[int]*Policy{12: loadBuiltin(t), 13: loadV13(t)}
	vsphere := map[string]cty.Value{PlatformsVariable: PlatformsValue([]string{"vsphere"})}
	for _, c := range []struct {
		name     string
		version  int
		settings map[string]cty.Value
		from, os string
		roles    []string
		proto    string
		lo, hi   int
		want     bool
	}{
		{name: "v13: 6162 from proxies to the repository", version: 13, from: "vmware_proxy", os: "linux", roles: []string{"backup_repository"}, proto: "tcp", lo: 6162, hi: 6162, want: true},
		{name: "v13: failover range from proxies to the repository", version: 13, from: "hyperv_host", os: "windows", roles: []string{"backup_repository"}, proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "v13: proxy to gateway server (correction 1 is explicit here)", version: 13, from: "vmware_proxy", os: "windows", roles: []string{"gateway_server"}, proto: "tcp", lo: 6162, hi: 6162, want: true},
		{name: "v13: WAN accelerator to gateway server", version: 13, from: "wan_accelerator", os: "linux", roles: []string{"gateway_server"}, proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "v13: PostgreSQL configuration database by default", version: 13, from: "backup_server", os: "linux", roles: []string{"config_database"}, proto: "tcp", lo: 5432, hi: 5432, want: true},
		{name: "v13: no SQL Server port with PostgreSQL", version: 13, from: "backup_server", os: "windows", roles: []string{"config_database"}, proto: "tcp", lo: 1433, hi: 1433, want: false},
		{name: "v13: SQL Server configuration database on request", version: 13, settings: map[string]cty.Value{"config_database_engine": cty.StringVal("mssql")}, from: "backup_server", os: "windows", roles: []string{"config_database"}, proto: "tcp", lo: 1433, hi: 1433, want: true},
		{name: "v13: HA cluster ports between nodes", version: 13, from: "ha_backup_server", os: "linux", roles: []string{"backup_server", "ha_backup_server"}, proto: "tcp", lo: 8500, hi: 8500, want: true},
		{name: "v13: Linux backup server gets SSH from remote access PCs", version: 13, from: "rdp_client", os: "linux", roles: []string{"backup_server"}, proto: "tcp", lo: 22, hi: 22, want: true},
		{name: "v13: Linux backup server gets no RDP", version: 13, from: "rdp_client", os: "linux", roles: []string{"backup_server"}, proto: "tcp", lo: 3389, hi: 3389, want: false},
		{name: "v13: Windows backup server gets RDP", version: 13, from: "rdp_client", os: "windows", roles: []string{"backup_server"}, proto: "tcp", lo: 3389, hi: 3389, want: true},
		{name: "v13: Host Management console on the appliance", version: 13, from: "web_ui_client", os: "linux", roles: []string{"backup_repository", "infrastructure_appliance"}, proto: "tcp", lo: 10443, hi: 10443, want: true},
		{name: "v13: Linux repository gets SSH and the installer", version: 13, from: "backup_server", os: "linux", roles: []string{"backup_repository"}, proto: "tcp", lo: 6160, hi: 6160, want: true},
		{name: "v13: legacy NetBIOS off by default", version: 13, from: "backup_server", os: "windows", roles: []string{"vmware_proxy"}, proto: "tcp", lo: 139, hi: 139, want: false},
		{name: "v13: ESXi hosts reach vPower NFS", version: 13, settings: vsphere, from: "esxi_host", os: "windows", roles: []string{"mount_server"}, proto: "udp", lo: 2049, hi: 2049, want: true},
		{name: "v13: ESXi hosts send CDP data to the CDP proxy", version: 13, settings: vsphere, from: "esxi_host", os: "linux", roles: []string{"cdp_proxy"}, proto: "tcp", lo: 33032, hi: 33032, want: true},
		{name: "v13: networkless guest processing closes the runtime ports", version: 13, settings: map[string]cty.Value{"guest_networkless": cty.True}, from: "guest_interaction_proxy", os: "windows", roles: []string{"guest_windows"}, proto: "tcp", lo: 445, hi: 445, want: false},
		{name: "v13: the tape server no longer sends to proxies", version: 13, from: "tape_server", os: "windows", roles: []string{"hyperv_host"}, proto: "tcp", lo: 2500, hi: 3300, want: false},
		{name: "v12 vSphere: VMware proxy to repository", version: 12, settings: vsphere, from: "vmware_proxy", os: "linux", roles: []string{"backup_repository"}, proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "v12 vSphere: no 6162 from VMware proxies", version: 12, settings: vsphere, from: "vmware_proxy", os: "linux", roles: []string{"backup_repository"}, proto: "tcp", lo: 6162, hi: 6162, want: false},
		{name: "v12 vSphere: VMware proxy gets the Linux Server ports", version: 12, settings: vsphere, from: "backup_server", os: "linux", roles: []string{"vmware_proxy"}, proto: "tcp", lo: 22, hi: 22, want: true},
		{name: "v12 vSphere: ESXi hosts reach vPower NFS", version: 12, settings: vsphere, from: "esxi_host", os: "windows", roles: []string{"mount_server"}, proto: "tcp", lo: 1063, hi: 1063, want: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			pol := packs[c.version]
			flows, diags := pol.Evaluate(c.settings)
			if diags.HasErrors() {
				t.Fatalf("evaluating: %s", diags.Error())
			}
			roles := hostRoles(pol, c.os, c.roles...)
			got := portsInto(flows, c.from, roles, c.proto)
			if covers(got, c.lo, c.hi) != c.want {
				t.Fatalf("v%d %s %s -> %s host %v opens %s; want %d-%d open = %v", c.version, c.proto, c.from, c.os, roles, rule.PortsString(got), c.lo, c.hi, c.want)
			}
		})
	}
}

// TestPackShapes checks what the packs promise: every flow names its page
// section and its pack, vCenter/ESXi/CDP-on-ESXi are unmanaged appliances,
// platform roles are tied to their platform.
func TestPackShapes(t *testing.T) {
	for _, v := range Versions {
		pol, diags := LoadPack(v, nil)
		if diags.HasErrors() {
			t.Fatalf("v%d: %s", v, diags.Error())
		}
		if pol.Pack != PackName(v) || pol.Version != v {
			t.Errorf("v%d: pack %q version %d", v, pol.Pack, pol.Version)
		}
		for _, f := range pol.Flows {
			if f.Pack != PackName(v) || f.Section == "" || f.Description == "" {
				t.Errorf("v%d flow %q: pack %q, section %q", v, f.Name, f.Pack, f.Section)
			}
		}
		for _, n := range []string{"vmware_proxy", "esxi_host", "vcenter_server", "cdp_proxy", "hyperv_host", "backup_server", "config_database"} {
			if pol.Roles[n] == nil {
				t.Errorf("v%d: role %q is missing", v, n)
			}
		}
		for _, n := range []string{"esxi_host", "vcenter_server"} {
			if r := pol.Roles[n]; r != nil && (r.Firewall || !slices.Equal(r.Platforms, []string{"vsphere"})) {
				t.Errorf("v%d: role %q firewall %v platforms %v", v, n, r.Firewall, r.Platforms)
			}
		}
		if r := pol.Roles["hyperv_host"]; r != nil && !slices.Equal(r.Platforms, []string{"hyperv"}) {
			t.Errorf("v%d: hyperv_host platforms %v", v, r.Platforms)
		}
	}
	if r := loadV13(t).Roles["backup_server"]; !r.AllowsOS("linux") || !r.AllowsOS("windows") {
		t.Errorf("v13 backup_server os = %v, want linux and windows", r.OS)
	}
	if r := loadBuiltin(t).Roles["backup_server"]; r.AllowsOS("linux") {
		t.Errorf("v12 backup_server os = %v, want windows only", r.OS)
	}
	if _, diags := LoadPack(11, nil); !diags.HasErrors() {
		t.Error("LoadPack(11) loaded a pack")
	}
}
