package inventory

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/portwarden/portwarden/internal/hclsrc"
	"github.com/portwarden/portwarden/policies"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

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
