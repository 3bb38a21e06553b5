package policies

import (
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/portwarden/portwarden/rule"
)

// hostRoles is what portwarden derives for a host of os that is assigned
// roles (orchestrator.EffectiveRoles, which this package cannot import).
func hostRoles(pol *Policy, os string, assigned ...string) []string {
	out := slices.Clone(assigned)
	for _, r := range pol.sortedRoles() {
		if r.Derived() && r.AllowsOS(os) && slices.ContainsFunc(r.ImpliedBy, func(n string) bool { return slices.Contains(assigned, n) }) {
			out = append(out, r.Name)
		}
	}
	return out
}

// portsInto is what the active flows from role `from` open on a host that
// plays roles, for proto.
func portsInto(flows []ConcreteFlow, from string, roles []string, proto string) []rule.PortRange {
	var out []rule.PortRange
	for _, to := range roles {
		out = append(out, portsBetween(flows, from, to, proto)...)
	}
	return rule.NormalizePorts(out)
}

// TestCorrections pins the five corrections of issue 12 and the decisions
// beside them (docs/policy.md, "Corrections"). Each case failed before.
func TestCorrections(t *testing.T) {
	pol := loadBuiltin(t)
	noRPC := map[string]cty.Value{"guest_dynamic_rpc": cty.False}
	for _, c := range []struct {
		name     string
		settings map[string]cty.Value
		from     string
		os       string
		roles    []string // assigned to the destination host
		lo, hi   int
		want     bool
	}{
		// 1. The gateway server is the data mover of repositories without one.
		{name: "off-host proxy sends backups to a gateway server", from: "offhost_proxy", os: "windows", roles: []string{"gateway_server"}, lo: 2500, hi: 3300, want: true},
		{name: "on-host proxy sends backups to a Linux gateway server", from: "hyperv_host", os: "linux", roles: []string{"gateway_server"}, lo: 2500, hi: 3300, want: true},
		{name: "WAN accelerator sends data to a gateway server", from: "wan_accelerator", os: "linux", roles: []string{"gateway_server"}, lo: 2500, hi: 3300, want: true},
		// 2. Tape: "repository, gateway or proxy server", on-host proxies too.
		{name: "tape server sends data to the on-host proxy", from: "tape_server", os: "windows", roles: []string{"hyperv_host"}, lo: 2500, hi: 3300, want: true},
		// 3. guest_dynamic_rpc = false closes the range on guests and DCs ...
		{name: "Windows guest: dynamic RPC open by default", from: "backup_server", os: "windows", roles: []string{"guest_windows"}, lo: 49152, hi: 65535, want: true},
		{name: "Windows guest: no dynamic RPC from the backup server without guest_dynamic_rpc", settings: noRPC, from: "backup_server", os: "windows", roles: []string{"guest_windows"}, lo: 49152, hi: 49152, want: false},
		{name: "Windows guest: no dynamic RPC from the guest interaction proxy without guest_dynamic_rpc", settings: noRPC, from: "guest_interaction_proxy", os: "windows", roles: []string{"guest_windows"}, lo: 49152, hi: 49152, want: false},
		{name: "domain controller: no dynamic RPC without guest_dynamic_rpc", settings: noRPC, from: "backup_server", os: "windows", roles: []string{"domain_controller", "guest_windows"}, lo: 65535, hi: 65535, want: false},
		// ... but not on infrastructure components, which the Windows Server table covers unconditionally.
		{name: "Windows repository that is also a guest keeps dynamic RPC", settings: noRPC, from: "backup_server", os: "windows", roles: []string{"backup_repository", "guest_windows"}, lo: 49152, hi: 65535, want: true},
		{name: "Hyper-V host keeps dynamic RPC", settings: noRPC, from: "backup_server", os: "windows", roles: []string{"hyperv_host"}, lo: 49152, hi: 65535, want: true},
		// Decision: the v12 reference rows for non-backup-server sources open the data mover range, not 6162.
		{name: "v12: no 6162 from proxies to the repository", from: "offhost_proxy", os: "linux", roles: []string{"backup_repository"}, lo: 6162, hi: 6162, want: false},
		{name: "v12: no 6162 from the tape server to the repository", from: "tape_server", os: "windows", roles: []string{"backup_repository"}, lo: 6162, hi: 6162, want: false},
		{name: "v12: 6162 from the backup server to the repository", from: "backup_server", os: "linux", roles: []string{"backup_repository"}, lo: 6162, hi: 6162, want: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			flows, diags := pol.Evaluate(c.settings)
			if diags.HasErrors() {
				t.Fatalf("evaluating: %s", diags.Error())
			}
			roles := hostRoles(pol, c.os, c.roles...)
			got := portsInto(flows, c.from, roles, "tcp")
			if covers(got, c.lo, c.hi) != c.want {
				t.Fatalf("tcp %s -> %s host %v opens %s; want %d-%d open = %v", c.from, c.os, roles, rule.PortsString(got), c.lo, c.hi, c.want)
			}
		})
	}
}

// TestS3CompatiblePort checks the decision for IBM Cloud and S3-compatible
// object storage: no port in the seed, so a note only once the site names
// the port.
func TestS3CompatiblePort(t *testing.T) {
	pol := loadBuiltin(t)
	find := func(settings map[string]cty.Value) *ConcreteFlow {
		flows, diags := pol.Evaluate(settings)
		if diags.HasErrors() {
			t.Fatalf("evaluating: %s", diags.Error())
		}
		for i := range flows {
			if flows[i].Name == "object-storage-s3-compatible" {
				return &flows[i]
			}
		}
		t.Fatal("no flow object-storage-s3-compatible")
		return nil
	}
	if f := find(nil); f.Active {
		t.Errorf("S3-compatible flow active without a port: %v", f.Ports)
	}
	f := find(map[string]cty.Value{"s3_compatible_port": cty.NumberIntVal(9021)})
	if !f.Active || !covers(f.Ports, 9021, 9021) || f.Endpoint == "" || !slices.Equal(f.From, []string{"gateway_server"}) {
		t.Errorf("with s3_compatible_port = 9021: active %v, ports %s, endpoint %q, from %v", f.Active, rule.PortsString(f.Ports), f.Endpoint, f.From)
	}
}
