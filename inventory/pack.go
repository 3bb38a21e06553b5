package inventory

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/portwarden/portwarden/internal/hclsrc"
	"github.com/portwarden/portwarden/policies"
)

// Pack is the built-in policy pack an inventory asks for.
type Pack struct {
	Version int // settings { veeam_version }, policies.DefaultVersion if unset
}

// ReadPack reads only the settings block's veeam_version of the inventory
// at path (a file or a directory, like Load), so that the caller can load
// the right policy pack before the inventory itself. A file it cannot read
// or parse is no error here: Load reports it.
func ReadPack(path string) (Pack, map[string]*hcl.File, hcl.Diagnostics) {
	pk := Pack{Version: policies.DefaultVersion}
	names := []string{path}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		names, _ = filepath.Glob(filepath.Join(path, "*.hcl"))
		sort.Strings(names)
	}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	for _, n := range names {
		f, d := hclsrc.ParseFile(p, n, "inventory")
		if f == nil || d.HasErrors() {
			continue
		}
		content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "settings"}}})
		for _, b := range content.Blocks {
			attrs, _ := b.Body.JustAttributes()
			if a := attrs[policies.VersionSetting]; a != nil {
				v, ds := a.Expr.Value(nil)
				if ds.HasErrors() {
					return pk, p.Files(), ds
				}
				ver, ds := toVersion(&value{v: v, rng: a.Expr.Range(), computed: !literalExpr(a.Expr)})
				diags = append(diags, ds...)
				if !ds.HasErrors() {
					pk.Version = ver
				}
			}
		}
	}
	return pk, p.Files(), diags
}

// toVersion checks a veeam_version value.
func toVersion(v *value) (int, hcl.Diagnostics) {
	n, err := convert.Convert(v.v, cty.Number)
	if err != nil || n.IsNull() || !n.IsWhollyKnown() || !n.AsBigFloat().IsInt() {
		return 0, hcl.Diagnostics{attrDiag(v, "Invalid setting", fmt.Sprintf("%s must be a whole number, one of %v.", policies.VersionSetting, policies.Versions))}
	}
	i, acc := n.AsBigFloat().Int64()
	if acc != big.Exact {
		i = 0
	}
	if msg := policies.CheckVersion(int(i)); msg != "" {
		return 0, hcl.Diagnostics{attrDiag(v, "Invalid setting", msg)}
	}
	return int(i), nil
}

// packSetting decodes the settings that choose the pack: veeam_version
// (must be the loaded pack's) and platforms (a pack variable whose names
// are checked here). It reports whether name is one of them.
func (d *decoder) packSetting(name string, v *value) (bool, hcl.Diagnostics) {
	switch name {
	case policies.VersionSetting:
		ver, diags := toVersion(v)
		if diags.HasErrors() {
			return true, diags
		}
		if d.pol.Version != 0 && ver != d.pol.Version {
			return true, hcl.Diagnostics{attrDiag(v, "Wrong policy pack",
				fmt.Sprintf("The inventory asks for Veeam Backup & Replication %d, but it is being checked against the %s pack (a caller that loads the policy must read the pack with inventory.ReadPack first).",
					ver, d.pol.Pack))}
		}
		return true, nil
	case policies.PlatformsVariable:
		ps, diags := toStrings(v, name)
		if diags.HasErrors() {
			return true, diags
		}
		if msg := policies.CheckPlatforms(ps); msg != "" {
			return true, hcl.Diagnostics{attrDiag(v, "Invalid setting", msg)}
		}
		if d.pol.Variables[name] == nil {
			return true, hcl.Diagnostics{attrDiag(v, "Unknown setting", fmt.Sprintf("The policy has no variable %q.", name))}
		}
		d.inv.Settings[name] = policies.PlatformsValue(ps)
		return true, nil
	}
	return false, nil
}

// checkPlatform refuses a role that the selected platforms do not have.
func (d *decoder) checkPlatform(role *policies.Role, who string, rng hcl.Range) hcl.Diagnostics {
	ps := d.pol.PlatformsOf(d.inv.Settings)
	if ps == nil || role.OnPlatforms(ps) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Role of another platform",
		Detail: fmt.Sprintf("Role %q (%s) exists on %s, but settings select platforms %s; add %q to settings { platforms }.",
			role.Name, who, strings.Join(role.Platforms, ", "), strings.Join(ps, ", "), role.Platforms[0]),
		Subject: rng.Ptr(),
	}}
}
