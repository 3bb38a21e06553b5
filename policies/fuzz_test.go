package policies

import (
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/portwarden/portwarden/internal/hclsrc"
)

// parsePolicySource decodes one policy file the way loadDirs does.
func parsePolicySource(src []byte) (*Policy, bool) {
	p := hclparse.NewParser()
	f, diags := hclsrc.Parse(p, src, "fuzz.hcl")
	if diags.HasErrors() {
		return nil, false
	}
	pol := &Policy{Variables: map[string]*Variable{}, Locals: map[string]*Local{}, Roles: map[string]*Role{}, Files: p.Files()}
	diags = pol.decodeFile(f, "dir:fuzz")
	if !diags.HasErrors() {
		diags = pol.validate()
	}
	return pol, !diags.HasErrors()
}

// FuzzPolicy: any bytes decode and evaluate without a panic; a policy
// without errors has named roles, flows between known roles and valid
// port ranges.
func FuzzPolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		pol, ok := parsePolicySource(src)
		if !ok {
			return
		}
		for name, r := range pol.Roles {
			if name == "" || r == nil {
				t.Errorf("role %q: %+v", name, r)
			}
		}
		flows, diags := pol.Evaluate(nil)
		if diags.HasErrors() {
			return
		}
		for _, fl := range flows {
			for _, r := range append(append([]string{}, fl.From...), fl.To...) {
				if pol.Roles[r] == nil {
					t.Errorf("flow %s names unknown role %q", fl.Name, r)
				}
			}
			for _, pr := range fl.Ports {
				if !fl.Active {
					continue
				}
				if pr.Lo == 0 || pr.Hi < pr.Lo {
					t.Errorf("flow %s: port range %v", fl.Name, pr)
				}
			}
		}
	})
}
