// Package inventory reads portwarden's HCL inventory: which hosts exist,
// which roles they play, and how to reach them.
//
// Every mistake is an hcl.Diagnostic with a source range. Load returns no
// inventory that has errors: nothing may run against a host from an
// inventory that is wrong somewhere else.
package inventory

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/portwarden/portwarden/internal/hclsrc"
	"github.com/portwarden/portwarden/policies"
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

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "settings"},
		{Type: "defaults"},
		{Type: "group", LabelNames: []string{"name"}},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "network", LabelNames: []string{"name"}},
	},
}

// Attributes shared by defaults, group and host blocks: a host's value
// comes from the host block, else from its groups in order, else from
// defaults.
var layeredAttrs = []string{"os", "managed", "firewall", "mode", "persist_root"}

var layeredSchema = func(extra ...hcl.AttributeSchema) *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "ssh"}, {Type: "winrm"}}}
	for _, a := range layeredAttrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a})
	}
	s.Attributes = append(s.Attributes, extra...)
	return s
}

var (
	defaultsSchema = layeredSchema()
	groupSchema    = layeredSchema(hcl.AttributeSchema{Name: "roles"})
	hostSchema     = layeredSchema(
		hcl.AttributeSchema{Name: "address", Required: true},
		hcl.AttributeSchema{Name: "roles"},
		hcl.AttributeSchema{Name: "groups"},
	)
	networkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "cidrs", Required: true}, {Name: "roles", Required: true},
	}}
	sshAttrs = []string{"user", "port", "private_key", "certificate", "ssh_config", "passphrase", "password", "agent",
		"known_hosts", "accept_new_host_keys", "insecure_ignore_host_key", "sudo",
		"sudo_password", "proxy_jump", "connect_timeout", "command_timeout"}
	winrmAttrs = []string{"user", "password", "https", "port", "ca_cert", "tls_server_name", "cert_sha256", "insecure", "auth",
		"realm", "spn", "krb5_conf", "ccache", "allow_unencrypted", "allow_basic_over_http_cleartext_password", "connect_timeout", "command_timeout"}
)

func attrSchema(names []string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// layer is the evaluated attributes of one defaults, group or host block.
type layer struct {
	attrs map[string]*value
	ssh   map[string]*value
	winrm map[string]*value
}

type value struct {
	v   cty.Value
	rng hcl.Range
	// computed is set when the value is not written literally in the
	// file (env(), file(), a reference): diagnostics must not show it.
	computed bool
}

// Options change how an inventory is read.
type Options struct {
	// UnknownSecrets reads an env() whose variable is unset and a file()
	// that does not exist as an unknown value instead of an error, so that
	// commands that connect to no host (validate, rules) need no secrets.
	// Such an inventory must not be used to connect.
	UnknownSecrets bool
}

// Load parses and validates the inventory at path against pol.
func Load(path string, pol *policies.Policy) (*Inventory, hcl.Diagnostics) {
	return LoadWith(path, pol, Options{})
}

// LoadWith is Load with options.
func LoadWith(path string, pol *policies.Policy, opts Options) (*Inventory, hcl.Diagnostics) {
	cannot := func(err error) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read inventory",
			Detail:   fmt.Sprintf("Reading %s: %s.", path, err),
		}}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, cannot(err)
	}
	if !fi.IsDir() {
		src, err := hclsrc.ReadFile(path, hclsrc.MaxFile)
		if err != nil {
			return nil, cannot(err)
		}
		return parse(src, path, pol, opts)
	}
	// A directory is one inventory split over files (per site, per
	// team): every *.hcl in it, in name order, like terraform's modules.
	names, err := filepath.Glob(filepath.Join(path, "*.hcl"))
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("no *.hcl file in the directory")
	}
	if err != nil {
		return nil, cannot(err)
	}
	sort.Strings(names)
	p := hclparse.NewParser()
	var files []*hcl.File
	var diags hcl.Diagnostics
	for _, n := range names {
		f, d := hclsrc.ParseFile(p, n, "inventory")
		diags = append(diags, d...)
		if f != nil {
			files = append(files, f)
		}
	}
	inv := &Inventory{Settings: map[string]cty.Value{}, Files: p.Files()}
	if diags.HasErrors() {
		return inv, diags
	}
	return inv, append(diags, decodeInto(inv, hcl.MergeFiles(files), path, pol, opts)...)
}

// Parse parses and validates inventory source. filename is used in
// diagnostics and to resolve relative paths.
func Parse(src []byte, filename string, pol *policies.Policy) (*Inventory, hcl.Diagnostics) {
	return parse(src, filename, pol, Options{})
}

func parse(src []byte, filename string, pol *policies.Policy, opts Options) (*Inventory, hcl.Diagnostics) {
	p := hclparse.NewParser()
	f, diags := hclsrc.Parse(p, src, filename)
	inv := &Inventory{Settings: map[string]cty.Value{}, Files: p.Files()}
	if diags.HasErrors() {
		return inv, diags
	}
	return inv, append(diags, decodeInto(inv, f.Body, filepath.Dir(filename), pol, opts)...)
}

// decodeInto decodes an inventory body; dir resolves relative paths.
func decodeInto(inv *Inventory, body hcl.Body, dir string, pol *policies.Policy, opts Options) hcl.Diagnostics {
	d := &decoder{
		inv: inv, pol: pol, dir: dir,
		groups: map[string]*groupDef{},
	}
	d.ctx = &hcl.EvalContext{Functions: map[string]function.Function{
		"env":  envFunc(opts.UnknownSecrets),
		"file": fileFunc(d.dir, opts.UnknownSecrets),
	}}
	diags := d.decode(body)
	inv.groupNames = slices.Sorted(maps.Keys(d.groups))
	return diags
}

type groupDef struct {
	layer
	roles     []string
	rolesRng  hcl.Range
	declRange hcl.Range
}

type decoder struct {
	inv      *Inventory
	pol      *policies.Policy
	dir      string
	ctx      *hcl.EvalContext
	defaults layer
	groups   map[string]*groupDef
	// sshConfigs caches the OpenSSH client configs read, by path.
	sshConfigs map[string]*openSSH
}

func (d *decoder) decode(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(rootSchema)
	seen := map[string]hcl.Range{}
	// Settings, defaults and groups first: hosts refer to them wherever
	// they stand in the file.
	for _, b := range content.Blocks {
		switch b.Type {
		case "settings", "defaults":
			if prev, ok := seen[b.Type]; ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
					Detail:   fmt.Sprintf("Only one %s block is allowed; the first is at %s.", b.Type, prev),
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			seen[b.Type] = b.DefRange
			if b.Type == "settings" {
				diags = append(diags, d.decodeSettings(b)...)
			} else {
				l, ds := d.decodeLayer(b.Body, defaultsSchema)
				diags = append(diags, ds...)
				d.defaults = l
			}
		case "group":
			diags = append(diags, d.decodeGroup(b)...)
		}
	}
	addrs := map[string]*Host{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "host":
			h, ds := d.decodeHost(b)
			diags = append(diags, ds...)
			if h == nil {
				continue
			}
			if prev := d.inv.Host(h.Name); prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate host name",
					Detail:   fmt.Sprintf("Host %q is already declared at %s.", h.Name, prev.DeclRange),
					Subject:  b.LabelRanges[0].Ptr(),
				})
				continue
			}
			key := strings.ToLower(h.Address)
			if h.Addr.IsValid() {
				key = h.Addr.Unmap().String()
			}
			if prev := addrs[key]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate host address",
					Detail:   fmt.Sprintf("Host %q has address %s, which host %q (%s) has already.", h.Name, h.Address, prev.Name, prev.DeclRange),
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			addrs[key] = h
			d.inv.Hosts = append(d.inv.Hosts, h)
		case "network":
			n, ds := d.decodeNetwork(b)
			diags = append(diags, ds...)
			if n == nil {
				continue
			}
			for _, prev := range d.inv.Networks {
				if prev.Name == n.Name {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Duplicate network name",
						Detail:   fmt.Sprintf("Network %q is already declared at %s.", n.Name, prev.DeclRange),
						Subject:  b.LabelRanges[0].Ptr(),
					})
					n = nil
					break
				}
			}
			if n != nil {
				d.inv.Networks = append(d.inv.Networks, n)
			}
		}
	}
	return diags
}

func (d *decoder) eval(a *hcl.Attribute) (*value, hcl.Diagnostics) {
	v, diags := a.Expr.Value(d.ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	return &value{v: v, rng: a.Expr.Range(), computed: !literalExpr(a.Expr)}, nil
}

func (d *decoder) decodeSettings(b *hcl.Block) hcl.Diagnostics {
	attrs, diags := b.Body.JustAttributes()
	names := sortedAttrNames(attrs)
	var mgmt *value
	for _, name := range names {
		a := attrs[name]
		v, ds := d.eval(a)
		diags = append(diags, ds...)
		if v == nil {
			continue
		}
		if name == "management_sources" {
			ps, ds := toPrefixes(v, "management_sources")
			diags = append(diags, ds...)
			d.inv.ManagementSources = ps
			mgmt = v
			continue
		}
		if ok, ds := d.packSetting(name, v); ok {
			diags = append(diags, ds...)
			continue
		}
		if name == AllowAnySourceSetting {
			b, ds := toBool(v, name)
			diags = append(diags, ds...)
			d.inv.AllowAnySource = b
			continue
		}
		decl := d.pol.Variables[name]
		if decl == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown setting",
				Detail: fmt.Sprintf("The policy has no variable %q.%s Settings are: veeam_version, management_sources, allow_any_source, %s.",
					name, policies.Suggest(name, d.pol.VariableNames()), strings.Join(d.pol.VariableNames(), ", ")),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		if want := decl.Default.Type(); !decl.Default.IsNull() && !v.v.IsNull() {
			cv, err := convert.Convert(v.v, want)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid setting",
					Detail:   fmt.Sprintf("Setting %q must be a %s.", name, want.FriendlyName()),
					Subject:  v.rng.Ptr(),
				})
				continue
			}
			v.v = cv
		}
		d.inv.Settings[name] = v.v
	}
	if mgmt != nil {
		diags = append(diags, d.checkAnySource(mgmt, d.inv.ManagementSources, "management_sources")...)
	}
	if !diags.HasErrors() {
		// A setting of the wrong kind for the policy (a port variable set
		// to a string) shows when the policy is evaluated with it.
		if _, ds := d.pol.Evaluate(d.inv.Settings); ds.HasErrors() {
			for _, dg := range ds {
				dg.Detail += " (with the inventory's settings)"
				if dg.Subject == nil {
					dg.Subject = b.DefRange.Ptr()
				}
			}
			diags = append(diags, ds...)
		}
	}
	return diags
}

func sortedAttrNames(attrs hcl.Attributes) []string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	// Source order reads best in diagnostics.
	sort.Slice(names, func(i, j int) bool {
		return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte
	})
	return names
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

var hostnameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$`)

// validHostname reports whether s is a DNS name that is safe to hand to a
// resolver (and so never something a shell could misread).
func validHostname(s string) bool {
	if len(s) > 253 || !hostnameRE.MatchString(s) {
		return false
	}
	// An all-numeric dotted name is a malformed IP, not a host name.
	last := strings.TrimSuffix(s, ".")
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	return strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' })
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
		h.AddressRange = v.rng
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
	for _, r := range h.Roles {
		diags = append(diags, d.checkRole(r, h.OS, "host "+h.Name, rolesRng, false)...)
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
		diags = append(diags, ds...)
		h.SSH = cfg
	case "windows":
		cfg, ds := d.winrmConfig(merged(func(l layer) map[string]*value { return l.winrm }), h.Address)
		diags = append(diags, ds...)
		h.WinRM = cfg
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return h, diags
}

func (d *decoder) checkRole(r, os, who string, rng hcl.Range, network bool) hcl.Diagnostics {
	role := d.pol.Roles[r]
	if role == nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown role",
			Detail:   fmt.Sprintf("The policy has no role %q (%s).%s", r, who, policies.Suggest(r, d.pol.RoleNames())),
			Subject:  rng.Ptr(),
		}}
	}
	if role.Derived() {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Derived role assigned",
			Detail: fmt.Sprintf("Role %q (%s) is derived by portwarden from the host's other roles (%s); do not assign it.",
				r, who, strings.Join(role.ImpliedBy, ", ")),
			Subject: rng.Ptr(),
		}}
	}
	if network && !role.Network {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Role cannot be a network",
			Detail:   fmt.Sprintf("Role %q (%s) is played by hosts, not by networks: declare a host for it.", r, who),
			Subject:  rng.Ptr(),
		}}
	}
	if ds := d.checkPlatform(role, who, rng); ds.HasErrors() {
		return ds
	}
	if os != "" && !role.AllowsOS(os) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Role does not fit the OS",
			Detail:   fmt.Sprintf("Role %q (%s) runs on %s, not on %s.", r, who, strings.Join(role.OS, " or "), os),
			Subject:  rng.Ptr(),
		}}
	}
	return nil
}

func (d *decoder) decodeNetwork(b *hcl.Block) (*Network, hcl.Diagnostics) {
	c, diags := b.Body.Content(networkSchema)
	n := &Network{Name: b.Labels[0], DeclRange: b.DefRange}
	if diags.HasErrors() {
		return nil, diags
	}
	cv, ds := d.eval(c.Attributes["cidrs"])
	diags = append(diags, ds...)
	if cv != nil {
		ps, ds := toPrefixes(cv, "cidrs")
		diags = append(diags, ds...)
		n.CIDRs = ps
		if len(ps) == 0 && !ds.HasErrors() {
			diags = append(diags, attrDiag(cv, "Empty network", fmt.Sprintf("Network %q has no cidrs.", n.Name)))
		}
		diags = append(diags, d.checkAnySource(cv, ps, fmt.Sprintf("network %q cidrs", n.Name))...)
	}
	rv, ds := d.eval(c.Attributes["roles"])
	diags = append(diags, ds...)
	if rv != nil {
		rs, ds := toStrings(rv, "roles")
		diags = append(diags, ds...)
		sort.Strings(rs)
		n.Roles = slices.Compact(rs)
		for _, r := range n.Roles {
			diags = append(diags, d.checkRole(r, "", "network "+n.Name, rv.rng, true)...)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return n, diags
}

func (d *decoder) path(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	return p
}

func (d *decoder) sshConfig(m map[string]*value, address string) (*transport.SSHConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	c := &transport.SSHConfig{Address: address, Port: 22, User: "root", KnownHostsPath: d.path("~/.ssh/known_hosts"),
		ConnectTimeout: 10 * time.Second, CommandTimeout: 60 * time.Second}
	r := reader{m: m, diags: &diags}
	r.str("user", &c.User)
	r.port("port", &c.Port)
	r.path(d, "private_key", &c.PrivateKeyPath)
	r.path(d, "certificate", &c.CertificatePath)
	r.str("passphrase", &c.Passphrase)
	r.str("password", &c.Password)
	r.bool("agent", &c.Agent)
	r.path(d, "known_hosts", &c.KnownHostsPath)
	r.bool("accept_new_host_keys", &c.AcceptNewHostKeys)
	r.bool("insecure_ignore_host_key", &c.InsecureIgnoreHostKey)
	r.bool("sudo", &c.Sudo)
	r.str("sudo_password", &c.SudoPassword)
	r.duration("connect_timeout", &c.ConnectTimeout)
	r.duration("command_timeout", &c.CommandTimeout)
	if c.User == "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid ssh user", Detail: "ssh user must not be empty."})
	}
	var jump string
	r.str("proxy_jump", &jump)
	if jump != "" {
		j, err := parseJumps(jump, c)
		if err != nil {
			diags = append(diags, attrDiag(m["proxy_jump"], "Invalid proxy_jump", err.Error()))
		}
		c.ProxyJump = j
	}
	// OpenSSH's client config fills what the inventory leaves unset.
	oc, ds := d.openSSHConfig(m["ssh_config"])
	diags = append(diags, ds...)
	if oc != nil {
		if err := applyOpenSSH(c, oc, address, func(name string) bool { return m[name] != nil }, d); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid ssh_config",
				Detail: fmt.Sprintf("Host %s in %s: %s.", address, oc.path, err), Subject: rangeOf(m["ssh_config"])})
		}
	}
	// Without a key, as ssh: the agent, then ~/.ssh/id_*.
	if c.PrivateKeyPath == "" && len(c.IdentityFiles) == 0 {
		c.IdentityFiles = defaultIdentityFiles(d)
		c.AgentIfAvailable = m["agent"] == nil
	}
	for j := c.ProxyJump; j != nil; j = j.ProxyJump {
		if j.PrivateKeyPath == "" && len(j.IdentityFiles) == 0 {
			j.IdentityFiles, j.AgentIfAvailable = defaultIdentityFiles(d), m["agent"] == nil
		}
	}
	return c, diags
}

// parseJumps reads proxy_jump: "[user@]host[:port]", or several
// separated by commas, the first reached first (OpenSSH's -J).
func parseJumps(s string, base *transport.SSHConfig) (*transport.SSHConfig, error) {
	var prev *transport.SSHConfig
	for _, hop := range strings.Split(s, ",") {
		j, err := parseJump(strings.TrimSpace(hop), base)
		if err != nil {
			return nil, err
		}
		j.ProxyJump = prev
		prev = j
	}
	return prev, nil
}

func (d *decoder) winrmConfig(m map[string]*value, address string) (*transport.WinRMConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	c := &transport.WinRMConfig{Address: address, HTTPS: true, Auth: "ntlm",
		ConnectTimeout: 10 * time.Second, CommandTimeout: 120 * time.Second}
	r := reader{m: m, diags: &diags}
	r.str("user", &c.User)
	r.str("password", &c.Password)
	r.bool("https", &c.HTTPS)
	r.port("port", &c.Port)
	r.path(d, "ca_cert", &c.CACertPath)
	r.str("tls_server_name", &c.TLSServerName)
	r.str("cert_sha256", &c.CertSHA256)
	r.bool("insecure", &c.Insecure)
	r.str("auth", &c.Auth)
	r.bool("allow_unencrypted", &c.AllowUnencrypted)
	r.bool("allow_basic_over_http_cleartext_password", &c.AllowBasicOverHTTPCleartextPassword)
	r.duration("connect_timeout", &c.ConnectTimeout)
	r.duration("command_timeout", &c.CommandTimeout)
	if c.Port == 0 {
		c.Port = 5986
		if !c.HTTPS {
			c.Port = 5985
		}
	}
	if c.TLSServerName != "" && !validHostname(c.TLSServerName) {
		diags = append(diags, attrDiag(m["tls_server_name"], "Invalid tls_server_name", fmt.Sprintf("%q is not a DNS name.", c.TLSServerName)))
	}
	if c.CertSHA256 != "" && !validCertPin(c.CertSHA256) {
		diags = append(diags, attrDiag(m["cert_sha256"], "Invalid cert_sha256",
			"cert_sha256 must be the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256)."))
	}
	diags = append(diags, d.winrmKerberos(m, c)...)
	if !c.HTTPS && c.AllowUnencrypted {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unencrypted WinRM",
			Detail: fmt.Sprintf("WinRM to %s uses plain HTTP: scripts and results cross the network in clear text, and the host must allow "+
				"unencrypted traffic (winrm set winrm/config/service @{AllowUnencrypted=\"true\"}). Prefer HTTPS on 5986.", address),
			Subject: rangeOf(m["https"]),
		})
	}
	if c.Auth == "basic" && !c.HTTPS && c.AllowUnencrypted && !c.AllowBasicOverHTTPCleartextPassword {
		diags = append(diags, attrDiag(m["auth"], "Basic authentication over plain HTTP",
			"auth = \"basic\" with https = false sends the password in clear text with every request. "+
				"Use HTTPS or NTLM, or set allow_basic_over_http_cleartext_password = true to accept that risk."))
	}
	if c.Auth == "basic" && !c.HTTPS && c.AllowBasicOverHTTPCleartextPassword {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Cleartext WinRM password",
			Detail:   fmt.Sprintf("WinRM to %s sends the password in clear text with every request (Basic over plain HTTP), as allow_basic_over_http_cleartext_password allows.", address),
			Subject:  rangeOf(m["allow_basic_over_http_cleartext_password"]),
		})
	}
	if c.Insecure && c.HTTPS {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unverified WinRM certificate",
			Detail: fmt.Sprintf("insecure = true skips verifying the TLS certificate of %s: anyone on the path can impersonate the host and read what is sent, "+
				"the password included with auth = \"basic\". Prefer ca_cert.", address),
			Subject: rangeOf(m["insecure"]),
		})
	}
	if !c.HTTPS && !c.AllowUnencrypted {
		diags = append(diags, attrDiag(m["https"], "Unencrypted WinRM",
			"https = false sends every script in clear text, and the WinRM library cannot seal NTLM messages: "+
				"the host must allow unencrypted traffic (AllowUnencrypted). Set allow_unencrypted = true to accept that, or use HTTPS."))
	}
	return c, diags
}

// reader converts attribute values, adding a diagnostic for each wrong one.
type reader struct {
	m     map[string]*value
	diags *hcl.Diagnostics
}

func (r reader) str(name string, dst *string) {
	if v := r.m[name]; v != nil {
		s, ds := toString(v, name)
		*r.diags = append(*r.diags, ds...)
		*dst = s
	}
}

func (r reader) path(d *decoder, name string, dst *string) {
	var s string
	r.str(name, &s)
	if s != "" {
		*dst = d.path(s)
	}
}

func (r reader) bool(name string, dst *bool) {
	if v := r.m[name]; v != nil {
		b, ds := toBool(v, name)
		*r.diags = append(*r.diags, ds...)
		*dst = b
	}
}

func (r reader) port(name string, dst *int) {
	v := r.m[name]
	if v == nil || !v.v.IsWhollyKnown() {
		return
	}
	n, err := convert.Convert(v.v, cty.Number)
	if err == nil && !n.IsNull() {
		if i, acc := n.AsBigFloat().Int64(); acc == 0 && i >= 1 && i <= 65535 {
			*dst = int(i)
			return
		}
	}
	*r.diags = append(*r.diags, attrDiag(v, "Invalid port", fmt.Sprintf("%s must be a port number 1-65535.", name)))
}

func (r reader) duration(name string, dst *time.Duration) {
	var s string
	r.str(name, &s)
	if s == "" {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		*r.diags = append(*r.diags, attrDiag(r.m[name], "Invalid duration", fmt.Sprintf("%s must be a duration such as \"10s\" or \"2m\".", name)))
		return
	}
	*dst = dur
}

func attrDiag(v *value, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: hideComputed(v, detail)}
	if v != nil {
		d.Subject = v.rng.Ptr()
	}
	return d
}

func toString(v *value, name string) (string, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return "", nil // a secret read with UnknownSecrets
	}
	s, err := convert.Convert(v.v, cty.String)
	if err != nil || s.IsNull() {
		return "", hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be a string.", name))}
	}
	return s.AsString(), nil
}

func toBool(v *value, name string) (bool, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return false, nil
	}
	b, err := convert.Convert(v.v, cty.Bool)
	if err != nil || b.IsNull() {
		return false, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be true or false.", name))}
	}
	return b.True(), nil
}

func toStrings(v *value, name string) ([]string, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return nil, nil
	}
	l, err := convert.Convert(v.v, cty.List(cty.String))
	if err != nil || l.IsNull() {
		return nil, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be a list of strings.", name))}
	}
	var out []string
	for _, e := range l.AsValueSlice() {
		if e.IsNull() {
			return nil, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must not contain null.", name))}
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

func toPrefixes(v *value, name string) ([]netip.Prefix, hcl.Diagnostics) {
	ss, diags := toStrings(v, name)
	var out []netip.Prefix
	for _, s := range ss {
		p, err := parsePrefix(s)
		if err != nil {
			diags = append(diags, attrDiag(v, "Invalid CIDR", fmt.Sprintf("%s: %q is not an IPv4/IPv6 address or CIDR (%s).", name, s, err)))
			continue
		}
		out = append(out, p)
	}
	return out, diags
}

// parsePrefix accepts "10.0.0.0/8" and a bare address. A CIDR with host
// bits set is refused: "10.0.0.1/8" is more likely a typo than a wish.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has an IPv6 zone; use an address without one", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", p.Masked())
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '_' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func rangeOf(v *value) *hcl.Range {
	if v == nil {
		return nil
	}
	return v.rng.Ptr()
}
