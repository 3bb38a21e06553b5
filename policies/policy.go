// Package policies holds portwarden's policy language and the built-in
// Veeam Backup & Replication policy packs (veeam/v12/*.hcl, veeam/v13/*.hcl,
// embedded in the binary; see pack.go).
//
// A policy names roles and the flows between them. It knows nothing of
// hosts: orchestrator.Compute joins a policy with an inventory.
package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/portwarden/portwarden/internal/hclsrc"
	"github.com/portwarden/portwarden/rule"
)

//go:embed veeam
var builtin embed.FS

// Policy is a loaded, validated policy.
type Policy struct {
	// Pack names the built-in pack the policy starts from ("veeam-v12"),
	// Version its Veeam Backup & Replication version; "" and 0 when the
	// policy has no built-in pack.
	Pack       string
	Version    int
	Variables  map[string]*Variable
	Locals     map[string]*Local
	Roles      map[string]*Role
	Flows      []*Flow
	NotEncoded []*NotEncoded
	// Files holds every parsed file, for rendering diagnostics with source.
	Files map[string]*hcl.File
}

// Variable is a setting the inventory may give.
type Variable struct {
	Name        string
	Description string
	Default     cty.Value
	DeclRange   hcl.Range
}

// Local is a value computed from variables and other locals.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

// Role is something a host or network can play.
type Role struct {
	Name        string
	Description string
	OS          []string // empty: any
	Firewall    bool     // false: cannot carry a host firewall rule
	Network     bool     // may be played by a network block
	ImpliedBy   []string // non-empty: derived, never assigned by hand
	// Platforms lists the platforms the role exists on (var.platforms must
	// name one for a host to play it); empty: every platform.
	Platforms []string
	DeclRange hcl.Range
}

// Derived reports whether portwarden assigns the role itself.
func (r *Role) Derived() bool { return len(r.ImpliedBy) > 0 }

// AllowsOS reports whether the role can run on os.
func (r *Role) AllowsOS(os string) bool {
	return len(r.OS) == 0 || slices.Contains(r.OS, os)
}

// Flow is traffic from hosts that play From to hosts that play To.
type Flow struct {
	Name string
	// Pack is where the flow comes from: a built-in pack ("veeam-v13") or
	// "dir:" and the --policy directory.
	Pack        string
	Section     string
	Description string
	From        []string
	To          []string
	Endpoint    string // destination outside the inventory
	Local       bool   // source and destination are the same machine
	Protocol    hcl.Expression
	Ports       hcl.Expression
	When        hcl.Expression // nil: always
	DeclRange   hcl.Range
}

// NotEncoded is a seed port the policy deliberately leaves out.
type NotEncoded struct {
	Name      string
	Ports     []int
	Reason    string
	DeclRange hcl.Range
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "local", LabelNames: []string{"name"}},
		{Type: "role", LabelNames: []string{"name"}},
		{Type: "flow", LabelNames: []string{"name"}},
		{Type: "not_encoded", LabelNames: []string{"name"}},
	},
}

// LoadBuiltin loads the default built-in pack (Veeam Backup & Replication
// 12).
func LoadBuiltin() (*Policy, hcl.Diagnostics) {
	return LoadPack(DefaultVersion, nil)
}

// Load loads the default built-in pack and then every *.hcl file of each
// directory in extra, as one policy.
func Load(extra []string) (*Policy, hcl.Diagnostics) {
	return LoadPack(DefaultVersion, extra)
}

// LoadPack loads the built-in pack of a Veeam Backup & Replication version
// and then every *.hcl file of each directory in extra, as one policy.
func LoadPack(version int, extra []string) (*Policy, hcl.Diagnostics) {
	if !slices.Contains(Versions, version) {
		return &Policy{Files: map[string]*hcl.File{}}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown Veeam version",
			Detail:   fmt.Sprintf("No built-in policy pack for Veeam Backup & Replication %d; packs: %s.", version, versionList()),
		}}
	}
	return loadDirs(version, extra)
}

// LoadDirs loads every *.hcl file of each directory in dirs, on top of the
// default built-in pack when withBuiltin is set.
func LoadDirs(dirs []string, withBuiltin bool) (*Policy, hcl.Diagnostics) {
	if withBuiltin {
		return loadDirs(DefaultVersion, dirs)
	}
	return loadDirs(0, dirs)
}

// loadDirs loads the pack of version (none for 0), then dirs.
func loadDirs(version int, dirs []string) (*Policy, hcl.Diagnostics) {
	p := hclparse.NewParser()
	type packFile struct {
		f    *hcl.File
		pack string
	}
	var files []packFile
	var diags hcl.Diagnostics
	var names []string
	if version != 0 {
		var err error
		names, err = fs.Glob(builtin, packDir(version)+"/*.hcl")
		if err != nil {
			panic(err) // the pattern is constant
		}
		sort.Strings(names)
	}
	for _, n := range names {
		src, err := builtin.ReadFile(n)
		if err != nil {
			panic(err)
		}
		f, d := p.ParseHCL(src, "builtin/"+n)
		diags = append(diags, d...)
		if f != nil {
			files = append(files, packFile{f, PackName(version)})
		}
	}
	for _, dir := range dirs {
		matches, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
		if err == nil && len(matches) == 0 {
			if _, statErr := os.Stat(dir); statErr != nil {
				err = statErr
			}
		}
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read policy directory",
				Detail:   fmt.Sprintf("Reading policy directory %s: %s.", dir, err),
			})
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			f, d := hclsrc.ParseFile(p, m, "policy")
			diags = append(diags, d...)
			if f != nil {
				files = append(files, packFile{f, "dir:" + dir})
			}
		}
	}
	pol := &Policy{
		Variables: map[string]*Variable{},
		Locals:    map[string]*Local{},
		Roles:     map[string]*Role{},
		Files:     p.Files(),
	}
	if version != 0 {
		pol.Pack, pol.Version = PackName(version), version
	}
	if diags.HasErrors() {
		return pol, diags
	}
	for _, pf := range files {
		diags = append(diags, pol.decodeFile(pf.f, pf.pack)...)
	}
	if !diags.HasErrors() {
		diags = append(diags, pol.validate()...)
	}
	return pol, diags
}

func (pol *Policy) decodeFile(f *hcl.File, pack string) hcl.Diagnostics {
	content, diags := f.Body.Content(rootSchema)
	for _, b := range content.Blocks {
		name := b.Labels[0]
		if !validName(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid name",
				Detail:   fmt.Sprintf("%q is not a valid %s name: use letters, digits, '_' and '-', starting with a letter.", name, b.Type),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		switch b.Type {
		case "variable":
			diags = append(diags, pol.decodeVariable(b)...)
		case "local":
			diags = append(diags, pol.decodeLocal(b)...)
		case "role":
			diags = append(diags, pol.decodeRole(b)...)
		case "flow":
			diags = append(diags, pol.decodeFlow(b, pack)...)
		case "not_encoded":
			diags = append(diags, pol.decodeNotEncoded(b)...)
		}
	}
	return diags
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

func duplicate(kind, name string, first, second hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s %q", kind, name),
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique across all policy files.", kind, name, first),
		Subject:  second.Ptr(),
	}
}

func (pol *Policy) decodeVariable(b *hcl.Block) hcl.Diagnostics {
	c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "default"},
	}})
	v := &Variable{Name: b.Labels[0], Default: cty.NullVal(cty.DynamicPseudoType), DeclRange: b.DefRange}
	diags = append(diags, literalString(c.Attributes["description"], &v.Description)...)
	if a := c.Attributes["default"]; a != nil {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		v.Default = val
	}
	if prev := pol.Variables[v.Name]; prev != nil {
		return append(diags, duplicate("variable", v.Name, prev.DeclRange, b.DefRange))
	}
	pol.Variables[v.Name] = v
	return diags
}

func (pol *Policy) decodeLocal(b *hcl.Block) hcl.Diagnostics {
	c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "value", Required: true},
	}})
	if diags.HasErrors() {
		return diags
	}
	l := &Local{Name: b.Labels[0], Expr: c.Attributes["value"].Expr, DeclRange: b.DefRange}
	if prev := pol.Locals[l.Name]; prev != nil {
		return append(diags, duplicate("local", l.Name, prev.DeclRange, b.DefRange))
	}
	pol.Locals[l.Name] = l
	return diags
}

func (pol *Policy) decodeRole(b *hcl.Block) hcl.Diagnostics {
	c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "os"}, {Name: "firewall"}, {Name: "network"}, {Name: "implied_by"},
		{Name: "platforms"},
	}})
	r := &Role{Name: b.Labels[0], Firewall: true, DeclRange: b.DefRange}
	diags = append(diags, literalString(c.Attributes["description"], &r.Description)...)
	diags = append(diags, literalStrings(c.Attributes["os"], &r.OS)...)
	diags = append(diags, literalBool(c.Attributes["firewall"], &r.Firewall)...)
	diags = append(diags, literalBool(c.Attributes["network"], &r.Network)...)
	diags = append(diags, literalStrings(c.Attributes["implied_by"], &r.ImpliedBy)...)
	diags = append(diags, literalStrings(c.Attributes["platforms"], &r.Platforms)...)
	if msg := CheckPlatforms(r.Platforms); msg != "" && c.Attributes["platforms"] != nil {
		diags = append(diags, exprError(c.Attributes["platforms"].Expr, "Invalid platforms", fmt.Sprintf("Role %q: %s", r.Name, msg)))
	}
	for _, os := range r.OS {
		if os != "linux" && os != "windows" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid os",
				Detail:   fmt.Sprintf("Role %q lists os %q; want \"linux\" or \"windows\".", r.Name, os),
				Subject:  c.Attributes["os"].Expr.Range().Ptr(),
			})
		}
	}
	if prev := pol.Roles[r.Name]; prev != nil {
		return append(diags, duplicate("role", r.Name, prev.DeclRange, b.DefRange))
	}
	pol.Roles[r.Name] = r
	return diags
}

func (pol *Policy) decodeFlow(b *hcl.Block, pack string) hcl.Diagnostics {
	c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "section", Required: true}, {Name: "description", Required: true},
		{Name: "from", Required: true}, {Name: "to"}, {Name: "endpoint"}, {Name: "local"},
		{Name: "protocol", Required: true}, {Name: "ports", Required: true}, {Name: "when"},
	}})
	if diags.HasErrors() {
		return diags
	}
	f := &Flow{Name: b.Labels[0], Pack: pack, DeclRange: b.DefRange,
		Protocol: c.Attributes["protocol"].Expr, Ports: c.Attributes["ports"].Expr}
	if a := c.Attributes["when"]; a != nil {
		f.When = a.Expr
	}
	diags = append(diags, literalString(c.Attributes["section"], &f.Section)...)
	diags = append(diags, literalString(c.Attributes["description"], &f.Description)...)
	diags = append(diags, literalStrings(c.Attributes["from"], &f.From)...)
	diags = append(diags, literalStrings(c.Attributes["to"], &f.To)...)
	diags = append(diags, literalString(c.Attributes["endpoint"], &f.Endpoint)...)
	diags = append(diags, literalBool(c.Attributes["local"], &f.Local)...)
	dests := 0
	if len(f.To) > 0 {
		dests++
	}
	if f.Endpoint != "" {
		dests++
	}
	if dests != 1 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Flow needs one destination",
			Detail:   fmt.Sprintf("Flow %q must set exactly one of \"to\" (roles) or \"endpoint\" (a destination outside the inventory).", f.Name),
			Subject:  b.DefRange.Ptr(),
		})
	}
	for _, prev := range pol.Flows {
		if prev.Name == f.Name {
			return append(diags, duplicate("flow", f.Name, prev.DeclRange, b.DefRange))
		}
	}
	pol.Flows = append(pol.Flows, f)
	return diags
}

func (pol *Policy) decodeNotEncoded(b *hcl.Block) hcl.Diagnostics {
	c, diags := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "ports", Required: true}, {Name: "reason", Required: true},
	}})
	if diags.HasErrors() {
		return diags
	}
	n := &NotEncoded{Name: b.Labels[0], DeclRange: b.DefRange}
	diags = append(diags, literalString(c.Attributes["reason"], &n.Reason)...)
	val, d := c.Attributes["ports"].Expr.Value(nil)
	diags = append(diags, d...)
	if !d.HasErrors() {
		var ports []int
		lv, err := convert.Convert(val, cty.List(cty.Number))
		if err == nil && lv.IsWhollyKnown() && !lv.IsNull() {
			for _, e := range lv.AsValueSlice() {
				bf := e.AsBigFloat()
				i, _ := bf.Int64()
				ports = append(ports, int(i))
			}
		} else {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Invalid ports",
				Detail:  "not_encoded ports must be a list of port numbers.",
				Subject: c.Attributes["ports"].Expr.Range().Ptr(),
			})
		}
		n.Ports = ports
	}
	pol.NotEncoded = append(pol.NotEncoded, n)
	return diags
}

// validate checks references between blocks and that every flow evaluates
// under the variables' defaults.
func (pol *Policy) validate() hcl.Diagnostics {
	var diags hcl.Diagnostics
	checkRoles := func(names []string, what string, rng hcl.Range) {
		for _, n := range names {
			if pol.Roles[n] == nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown role",
					Detail:   fmt.Sprintf("%s names role %q, which no role block declares.%s", what, n, Suggest(n, pol.RoleNames())),
					Subject:  rng.Ptr(),
				})
			}
		}
	}
	for _, r := range pol.sortedRoles() {
		checkRoles(r.ImpliedBy, fmt.Sprintf("Role %q implied_by", r.Name), r.DeclRange)
	}
	for _, f := range pol.Flows {
		checkRoles(f.From, fmt.Sprintf("Flow %q from", f.Name), f.DeclRange)
		checkRoles(f.To, fmt.Sprintf("Flow %q to", f.Name), f.DeclRange)
	}
	if diags.HasErrors() {
		return diags
	}
	_, d := pol.Evaluate(nil)
	return append(diags, d...)
}

// RoleNames returns all role names, sorted.
func (pol *Policy) RoleNames() []string {
	names := make([]string, 0, len(pol.Roles))
	for n := range pol.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (pol *Policy) sortedRoles() []*Role {
	out := make([]*Role, 0, len(pol.Roles))
	for _, n := range pol.RoleNames() {
		out = append(out, pol.Roles[n])
	}
	return out
}

// VariableNames returns all variable names, sorted.
func (pol *Policy) VariableNames() []string {
	names := make([]string, 0, len(pol.Variables))
	for n := range pol.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConcreteFlow is a flow evaluated under one set of variables.
type ConcreteFlow struct {
	*Flow
	Active    bool
	Protocols []string // "tcp", "udp"
	Ports     []rule.PortRange
}

// Evaluate evaluates every flow under settings (variable name → value;
// missing ones take their defaults). It returns the flows in declaration
// order.
func (pol *Policy) Evaluate(settings map[string]cty.Value) ([]ConcreteFlow, hcl.Diagnostics) {
	ctx, diags := pol.evalContext(settings)
	if diags.HasErrors() {
		return nil, diags
	}
	out := make([]ConcreteFlow, 0, len(pol.Flows))
	for _, f := range pol.Flows {
		cf := ConcreteFlow{Flow: f, Active: true}
		if f.When != nil {
			v, d := f.When.Value(ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			bv, err := convert.Convert(v, cty.Bool)
			if err != nil || bv.IsNull() || !bv.IsKnown() {
				diags = append(diags, exprError(f.When, "Invalid condition", fmt.Sprintf("Flow %q: \"when\" must be true or false.", f.Name)))
				continue
			}
			cf.Active = bv.True()
		}
		protos, d := evalProtocols(f.Protocol, ctx, f.Name)
		diags = append(diags, d...)
		cf.Protocols = protos
		ports, d := evalPorts(f.Ports, ctx, f.Name, cf.Active)
		diags = append(diags, d...)
		cf.Ports = ports
		out = append(out, cf)
	}
	return out, diags
}

func (pol *Policy) evalContext(settings map[string]cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	vars := map[string]cty.Value{}
	for n, v := range pol.Variables {
		vars[n] = v.Default
		if s, ok := settings[n]; ok {
			vars[n] = s
		}
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var":   cty.ObjectVal(vars),
		"local": cty.EmptyObjectVal,
	}, Functions: map[string]function.Function{
		"contains": stdlib.ContainsFunc,
	}}
	// Locals may refer to each other: evaluate in passes until every local
	// is known or a pass makes no progress (a cycle or a missing name).
	locals := map[string]cty.Value{}
	pending := make([]*Local, 0, len(pol.Locals))
	for _, n := range slices.Sorted(maps.Keys(pol.Locals)) {
		pending = append(pending, pol.Locals[n])
	}
	var diags hcl.Diagnostics
	for len(pending) > 0 {
		var next []*Local
		for _, l := range pending {
			ready := true
			for _, t := range l.Expr.Variables() {
				if t.RootName() == "local" && len(t) > 1 {
					if a, ok := t[1].(hcl.TraverseAttr); ok {
						if _, done := locals[a.Name]; !done && pol.Locals[a.Name] != nil {
							ready = false
						}
					}
				}
			}
			if !ready {
				next = append(next, l)
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, d := l.Expr.Value(ctx)
			diags = append(diags, d...)
			locals[l.Name] = v
		}
		if len(next) == len(pending) {
			for _, l := range next {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cyclic local",
					Detail:   fmt.Sprintf("Local %q depends on itself through other locals.", l.Name),
					Subject:  l.DeclRange.Ptr(),
				})
			}
			break
		}
		pending = next
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx, diags
}

func exprError(e hcl.Expression, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: e.Range().Ptr()}
}

func evalProtocols(e hcl.Expression, ctx *hcl.EvalContext, flow string) ([]string, hcl.Diagnostics) {
	v, diags := e.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	var raw []string
	if s, err := convert.Convert(v, cty.String); err == nil && !s.IsNull() && s.IsKnown() {
		raw = []string{s.AsString()}
	} else if l, err := convert.Convert(v, cty.List(cty.String)); err == nil && !l.IsNull() && l.IsWhollyKnown() {
		for _, x := range l.AsValueSlice() {
			raw = append(raw, x.AsString())
		}
	}
	var out []string
	for _, p := range raw {
		p = strings.ToLower(p)
		if p != "tcp" && p != "udp" {
			return nil, hcl.Diagnostics{exprError(e, "Invalid protocol", fmt.Sprintf("Flow %q: protocol %q is not \"tcp\" or \"udp\".", flow, p))}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, hcl.Diagnostics{exprError(e, "Invalid protocol", fmt.Sprintf("Flow %q: protocol must be \"tcp\", \"udp\" or a list of them.", flow))}
	}
	sort.Strings(out)
	return out, nil
}

// evalPorts evaluates a ports list. Null elements are allowed only in an
// inactive flow (a "when" that guards an unset port variable).
func evalPorts(e hcl.Expression, ctx *hcl.EvalContext, flow string, active bool) ([]rule.PortRange, hcl.Diagnostics) {
	v, diags := e.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if v.IsNull() || !v.IsKnown() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil, hcl.Diagnostics{exprError(e, "Invalid ports", fmt.Sprintf("Flow %q: ports must be a list of port numbers or \"lo-hi\" ranges.", flow))}
	}
	var out []rule.PortRange
	for _, el := range v.AsValueSlice() {
		if el.IsNull() {
			if active {
				return nil, hcl.Diagnostics{exprError(e, "Invalid ports", fmt.Sprintf("Flow %q: a port is null while the flow is active; guard it with \"when\".", flow))}
			}
			continue
		}
		s, err := convert.Convert(el, cty.String)
		if err != nil || !s.IsKnown() {
			return nil, hcl.Diagnostics{exprError(e, "Invalid ports", fmt.Sprintf("Flow %q: %s is not a port or range.", flow, el.GoString()))}
		}
		pr, err := rule.ParsePortRange(s.AsString())
		if err != nil {
			return nil, hcl.Diagnostics{exprError(e, "Invalid ports", fmt.Sprintf("Flow %q: %s.", flow, err))}
		}
		out = append(out, pr)
	}
	if active && len(out) == 0 {
		return nil, hcl.Diagnostics{exprError(e, "Invalid ports", fmt.Sprintf("Flow %q has no ports.", flow))}
	}
	return rule.NormalizePorts(out), nil
}

// MentionedPorts maps every port number the policy could use, under any
// setting of its boolean variables, with every platform selected (and
// every number variable set to its
// default or, when it has none, considered unset), and every not_encoded
// port, to the flows or blocks that mention it. Range ends count; ports
// inside a range do not.
func (pol *Policy) MentionedPorts() map[int][]string {
	out := map[int][]string{}
	add := func(p int, where string) {
		if !slices.Contains(out[p], where) {
			out[p] = append(out[p], where)
		}
	}
	var bools []string
	for _, n := range pol.VariableNames() {
		if pol.Variables[n].Default.Type() == cty.Bool {
			bools = append(bools, n)
		}
	}
	if len(bools) > 12 {
		bools = bools[:12] // 4096 combinations is plenty; keep it bounded
	}
	for mask := 0; mask < 1<<len(bools); mask++ {
		settings := map[string]cty.Value{}
		for i, n := range bools {
			settings[n] = cty.BoolVal(mask&(1<<i) != 0)
		}
		if pol.Variables[PlatformsVariable] != nil {
			settings[PlatformsVariable] = PlatformsValue(Platforms)
		}
		flows, diags := pol.Evaluate(settings)
		if diags.HasErrors() {
			continue
		}
		for _, f := range flows {
			for _, pr := range f.Ports {
				add(int(pr.Lo), "flow."+f.Name)
				add(int(pr.Hi), "flow."+f.Name)
			}
		}
	}
	for _, n := range pol.NotEncoded {
		for _, p := range n.Ports {
			add(p, "not_encoded."+n.Name)
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func literalString(a *hcl.Attribute, dst *string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		return hcl.Diagnostics{exprError(a.Expr, "Invalid value", fmt.Sprintf("%q must be a string.", a.Name))}
	}
	*dst = s.AsString()
	return nil
}

func literalStrings(a *hcl.Attribute, dst *[]string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	l, err := convert.Convert(v, cty.List(cty.String))
	if err != nil || l.IsNull() {
		return hcl.Diagnostics{exprError(a.Expr, "Invalid value", fmt.Sprintf("%q must be a list of strings.", a.Name))}
	}
	for _, e := range l.AsValueSlice() {
		*dst = append(*dst, e.AsString())
	}
	return nil
}

func literalBool(a *hcl.Attribute, dst *bool) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || b.IsNull() {
		return hcl.Diagnostics{exprError(a.Expr, "Invalid value", fmt.Sprintf("%q must be true or false.", a.Name))}
	}
	*dst = b.True()
	return nil
}
