package inventory

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/rule"
)

type groupDef struct {
	layer
	roles     []string
	rolesRng  hcl.Range
	declRange hcl.Range
}

func (d *decoder) decodeLayer(body hcl.Body, schema *hcl.BodySchema) (layer, hcl.Diagnostics) {
	c, diags := body.Content(schema)
	l := layer{attrs: map[string]*value{}}
	for name, a := range c.Attributes {
		v, ds := d.eval(a)
		diags = append(diags, ds...)
		if v != nil {
			l.attrs[name] = v
		}
	}
	for _, b := range c.Blocks {
		var names []string
		var dst *map[string]*value
		switch b.Type {
		case "ssh":
			names, dst = sshAttrs, &l.ssh
		case "winrm":
			names, dst = winrmAttrs, &l.winrm
		}
		if *dst != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
				Detail:   fmt.Sprintf("Only one %s block is allowed here.", b.Type),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		bc, ds := b.Body.Content(attrSchema(names))
		diags = append(diags, ds...)
		*dst = map[string]*value{}
		for name, a := range bc.Attributes {
			v, ds := d.eval(a)
			diags = append(diags, ds...)
			if v != nil {
				(*dst)[name] = v
			}
		}
	}
	return l, diags
}

func (d *decoder) decodeGroup(b *hcl.Block) hcl.Diagnostics {
	l, diags := d.decodeLayer(b.Body, groupSchema)
	g := &groupDef{layer: l, declRange: b.DefRange}
	if v := l.attrs["roles"]; v != nil {
		roles, ds := toStrings(v, "roles")
		diags = append(diags, ds...)
		g.roles, g.rolesRng = roles, v.rng
	}
	name := b.Labels[0]
	if prev := d.groups[name]; prev != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate group name",
			Detail:   fmt.Sprintf("Group %q is already declared at %s.", name, prev.declRange),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	d.groups[name] = g
	return diags
}

func (d *decoder) decodeHost(b *hcl.Block) (*Host, hcl.Diagnostics) {
	l, diags := d.decodeLayer(b.Body, hostSchema)
	h := &Host{Name: b.Labels[0], DeclRange: b.DefRange}
	if !validName(h.Name) {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid host name",
			Detail:   fmt.Sprintf("%q is not a valid host name: use letters, digits, '.', '_' and '-', starting with a letter or digit.", h.Name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	if v := l.attrs["address"]; v != nil {
		s, ds := toString(v, "address")
		diags = append(diags, ds...)
		h.Address = s
		h.AddressRange, h.AddressComputed = v.rng, v.computed
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				diags = append(diags, attrDiag(v, "Invalid address", fmt.Sprintf("Address %q has a zone; use an address without one.", s)))
			}
			h.Addr = a.Unmap()
		} else if s != "" && !validHostname(s) {
			diags = append(diags, attrDiag(v, "Invalid address",
				fmt.Sprintf("%q is neither an IPv4/IPv6 address nor a DNS name.", s)))
		}
	}
	// Groups: in the order the host lists them; each layers over defaults.
	layers := []layer{d.defaults}
	var groupRoles []string
	if v := l.attrs["groups"]; v != nil {
		names, ds := toStrings(v, "groups")
		diags = append(diags, ds...)
		h.Groups = names
		for _, n := range names {
			g := d.groups[n]
			if g == nil {
				diags = append(diags, attrDiag(v, "Unknown group",
					fmt.Sprintf("Host %q names group %q, which is not declared.%s", h.Name, n, policies.Suggest(n, slices.Sorted(maps.Keys(d.groups))))))
				continue
			}
			layers = append(layers, g.layer)
			groupRoles = append(groupRoles, g.roles...)
		}
	}
	layers = append(layers, l)
	get := func(name string) *value {
		for i := len(layers) - 1; i >= 0; i-- {
			if v := layers[i].attrs[name]; v != nil {
				return v
			}
		}
		return nil
	}
	str := func(name, def string) string {
		v := get(name)
		if v == nil {
			return def
		}
		s, ds := toString(v, name)
		diags = append(diags, ds...)
		return s
	}
	h.OS = str("os", "")
	osVal := get("os")
	switch {
	case osVal == nil:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Missing os",
			Detail:  fmt.Sprintf("Host %q needs os = \"linux\" or \"windows\" (here, in a group, or in defaults).", h.Name),
			Subject: b.DefRange.Ptr(),
		})
	case h.OS != "linux" && h.OS != "windows":
		diags = append(diags, attrDiag(osVal, "Invalid os", fmt.Sprintf("os must be \"linux\" or \"windows\", not %q.", h.OS)))
	}
	h.Managed = true
	if v := get("managed"); v != nil {
		bv, ds := toBool(v, "managed")
		diags = append(diags, ds...)
		h.Managed = bv
	}
	def := "auto"
	if h.OS == "windows" {
		def = "windows"
	}
	h.Firewall = str("firewall", def)
	if v := get("firewall"); v != nil {
		ok := map[string][]string{"linux": {"auto", "nftables", "iptables", "firewalld", "ufw"}, "windows": {"auto", "windows"}}[h.OS]
		if ok != nil && !slices.Contains(ok, h.Firewall) {
			diags = append(diags, attrDiag(v, "Invalid firewall",
				fmt.Sprintf("firewall %q does not fit a %s host: want one of %s.", h.Firewall, h.OS, strings.Join(ok, ", "))))
		}
		if h.Firewall == "auto" && h.OS == "windows" {
			h.Firewall = "windows"
		}
	}
	mode := str("mode", string(rule.Additive))
	if m, err := rule.ParseMode(mode); err != nil {
		diags = append(diags, attrDiag(get("mode"), "Invalid mode", err.Error()+"."))
	} else {
		h.Mode = m
	}
	if pr := str("persist_root", ""); pr != "" {
		h.PersistRoot = d.path(pr)
	}
	// Roles: the groups' and the host's own, validated against the policy.
	roles := slices.Clone(groupRoles)
	rolesRng := b.DefRange
	if v := l.attrs["roles"]; v != nil {
		rs, ds := toStrings(v, "roles")
		diags = append(diags, ds...)
		roles = append(roles, rs...)
		rolesRng = v.rng
	}
	sort.Strings(roles)
	h.Roles = slices.Compact(roles)
	computedRoles := rolesValues(layers)
	for _, r := range h.Roles {
		diags = append(diags, hideComputedIn(d.checkRole(r, h.OS, "host "+h.Name, rolesRng, false), computedRoles...)...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	merged := func(pick func(layer) map[string]*value) map[string]*value {
		out := map[string]*value{}
		for _, ly := range layers {
			for k, v := range pick(ly) {
				out[k] = v
			}
		}
		return out
	}
	switch h.OS {
	case "linux":
		cfg, ds := d.sshConfig(merged(func(l layer) map[string]*value { return l.ssh }), h.Address)
		// A diagnostic about no attribute in particular (no known_hosts
		// to be found) points at the host.
		for _, dg := range ds {
			if dg.Subject == nil {
				dg.Subject = b.DefRange.Ptr()
			}
		}
		diags = append(diags, redactComputed(ds, l.attrs["address"], "this host")...)
		h.SSH = cfg
	case "windows":
		cfg, ds := d.winrmConfig(merged(func(l layer) map[string]*value { return l.winrm }), h.Address)
		diags = append(diags, redactComputed(ds, l.attrs["address"], "this host")...)
		h.WinRM = cfg
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return h, diags
}
