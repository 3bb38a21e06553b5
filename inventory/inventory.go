// Package inventory reads portwarden's HCL inventory: which hosts exist,
// which roles they play, and how to reach them.
//
// Every mistake is an hcl.Diagnostic with a source range. Load returns no
// inventory that has errors: nothing may run against a host from an
// inventory that is wrong somewhere else.
//
// One concern per file: inventory.go is the model (Inventory, Host,
// Network), load.go reads files and directories, schema.go the block
// schemas, decode.go the top-level blocks, settings and networks,
// layering.go how defaults, groups and a host's own block combine,
// policycheck.go (with pack.go and anysource.go) checks roles against the
// policy, connection.go turns ssh {} and winrm {} into transport configs
// (sshconfig.go reads ~/.ssh/config, winrm_kerberos.go the Kerberos
// attributes), values.go converts attribute values, names.go validates
// names and redact.go keeps computed values out of diagnostics.
package inventory

import (
	"net/netip"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// Inventory is a loaded, validated inventory.
type Inventory struct {
	// Settings are the policy variables the settings block sets.
	Settings map[string]cty.Value
	// ManagementSources are extra addresses enforce mode keeps the
	// management port open from, besides the controller's own address.
	ManagementSources []netip.Prefix
	// AllowAnySource is the settings' allow_any_source: a network or
	// management source may be 0.0.0.0/0 or ::/0.
	AllowAnySource bool
	Hosts          []*Host
	Networks       []*Network
	// Files holds the parsed source, for rendering diagnostics.
	Files map[string]*hcl.File

	groupNames []string
}

// Host is one machine.
type Host struct {
	Name    string
	Address string     // as written: an IP address or a DNS name
	Addr    netip.Addr // the address, when Address is an IP literal
	OS      string     // "linux" or "windows"
	Roles   []string   // as assigned (sorted, unique), without derived roles
	Groups  []string   // the groups the host names, in its order
	Managed bool
	// Firewall is the backend: "auto", "nftables", "iptables" (Linux) or
	// "windows".
	Firewall string
	Mode     rule.Mode
	// PersistRoot replaces "/" for the files that make rules survive a
	// reboot. The lab sets it, because its hosts share one filesystem.
	PersistRoot string
	SSH         *transport.SSHConfig   // Linux hosts
	WinRM       *transport.WinRMConfig // Windows hosts
	DeclRange   hcl.Range
	// AddressRange is where the address is written, for diagnostics
	// about it (a DNS name that does not resolve).
	AddressRange hcl.Range
	// AddressComputed is set when the address is not written out in the
	// inventory (env(), file(), a reference): diagnostics do not show it.
	AddressComputed bool
}

// Network is a set of source addresses that are not hosts: admin PCs,
// REST clients, consoles.
type Network struct {
	Name      string
	CIDRs     []netip.Prefix
	Roles     []string
	DeclRange hcl.Range
}

// GroupNames returns the names of the declared groups, sorted.
func (inv *Inventory) GroupNames() []string { return slices.Clone(inv.groupNames) }

// Host returns the host with that name, or nil.
func (inv *Inventory) Host(name string) *Host {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}
