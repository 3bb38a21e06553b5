package policies

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// The built-in packs: one directory per Veeam Backup & Replication version
// (veeam/v12, veeam/v13), chosen by the inventory's settings { veeam_version }.
// Within a pack, platform-specific flows are gated by the variable
// "platforms" (settings { platforms = ["hyperv", "vsphere"] }).
const (
	// DefaultVersion is the pack used when the inventory names none.
	DefaultVersion = 12
	// VersionSetting is the settings attribute that chooses the pack.
	VersionSetting = "veeam_version"
	// PlatformsVariable is the pack variable that lists the platforms the
	// site protects.
	PlatformsVariable = "platforms"
)

var (
	// Versions are the Veeam Backup & Replication versions with a pack.
	Versions = []int{12, 13}
	// Platforms are the names "platforms" may list.
	Platforms = []string{"hyperv", "vsphere"}
)

// PackName is the name reasons carry for the pack of version: "veeam-v13".
func PackName(version int) string { return fmt.Sprintf("veeam-v%d", version) }

func packDir(version int) string { return fmt.Sprintf("veeam/v%d", version) }

func versionList() string {
	var s []string
	for _, v := range Versions {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, ", ")
}

// CheckVersion says what is wrong with a veeam_version value, or "".
func CheckVersion(v int) string {
	if slices.Contains(Versions, v) {
		return ""
	}
	return fmt.Sprintf("veeam_version %d has no policy pack; use one of %s.", v, versionList())
}

// CheckPlatforms says what is wrong with a platforms value, or "".
func CheckPlatforms(ps []string) string {
	if len(ps) == 0 {
		return fmt.Sprintf("platforms is empty; list at least one of %q.", Platforms)
	}
	for _, p := range ps {
		if !slices.Contains(Platforms, p) {
			return fmt.Sprintf("platforms names %q, which is not one of %q.%s", p, Platforms, Suggest(p, Platforms))
		}
	}
	return ""
}

// PlatformsValue is the value of var.platforms for ps.
func PlatformsValue(ps []string) cty.Value {
	vs := make([]cty.Value, len(ps))
	for i, p := range ps {
		vs[i] = cty.StringVal(p)
	}
	return cty.ListVal(vs)
}

// OnPlatforms reports whether the role exists on one of ps.
func (r *Role) OnPlatforms(ps []string) bool {
	return len(r.Platforms) == 0 || slices.ContainsFunc(ps, func(p string) bool { return slices.Contains(r.Platforms, p) })
}

// PlatformsOf returns the platforms settings select: var.platforms as set,
// else its default; nil when the policy has no such variable.
func (pol *Policy) PlatformsOf(settings map[string]cty.Value) []string {
	v, ok := settings[PlatformsVariable]
	if !ok {
		decl := pol.Variables[PlatformsVariable]
		if decl == nil {
			return nil
		}
		v = decl.Default
	}
	var out []string
	if v.IsNull() || !v.IsWhollyKnown() || !v.CanIterateElements() {
		return nil
	}
	for _, e := range v.AsValueSlice() {
		if e.Type() == cty.String && !e.IsNull() {
			out = append(out, e.AsString())
		}
	}
	return out
}
