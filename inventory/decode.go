package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/portwarden/portwarden/policies"
	"github.com/zclconf/go-cty/cty/convert"
)

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
				shown := h.Address
				if h.AddressComputed {
					shown = "(computed, not shown)"
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate host address",
					Detail:   fmt.Sprintf("Host %q has address %s, which host %q (%s) has already.", h.Name, shown, prev.Name, prev.DeclRange),
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
			diags = append(diags, hideComputedIn(d.checkRole(r, "", "network "+n.Name, rv.rng, true), rv)...)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return n, diags
}
