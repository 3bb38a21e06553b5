// Package archtest holds the test that keeps the import graph the one
// docs/architecture.md draws.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/portwarden/portwarden"

// allowed lists, for each package of the module (path below the module),
// the module's packages its non-test code may import. Packages under
// internal/ are helpers anyone may import; they may import only each other.
// Tests may import more (a backend test may dial a transport).
var allowed = map[string][]string{
	"rule":                    {},
	"policies":                {"rule"},
	"inventory":               {"policies", "rule", "transport"},
	"firewall":                {"rule"},
	"transport":               {},
	"transport/transporttest": {"transport"},
	"orchestrator":            {"firewall", "inventory", "policies", "rule", "transport"},
	"cmd/portwarden":          {"firewall", "inventory", "orchestrator", "policies", "rule", "transport"},
	"cmd/portwarden-lab":      {"lab", "lab/winfw", "lab/wsman"},
	"lab":                     {},
	"lab/winfw":               {"lab/wsman"},
	"lab/wsman":               {},
	"bench":                   {},
	"bench/benchlab":          {"lab"},
	"bench/fleet":             {"bench/benchlab", "lab"},
	"bench/ansible":           {"bench/benchlab", "lab"},
	"bench/parts":             {"bench/benchlab", "lab"},
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

func TestImportGraph(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot list the module's imports")
	}
	out, err := exec.Command(gobin, "list", "-json", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs, err := decodePackages(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	for _, p := range pkgs {
		for _, v := range violations(p) {
			t.Error(v)
		}
	}
}

func decodePackages(out string) ([]listedPackage, error) {
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs, nil
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// violations returns one message for each import of p that the graph does
// not allow, and one if p is not in the graph at all.
func violations(p listedPackage) []string {
	name, ok := strings.CutPrefix(p.ImportPath, module+"/")
	if !ok {
		return nil
	}
	isInternal := func(s string) bool { return s == "internal" || strings.HasPrefix(s, "internal/") }
	may, known := allowed[name]
	if !known && !isInternal(name) {
		return []string{name + " is not in the import graph: add it to docs/architecture.md and to the table in internal/archtest"}
	}
	var out []string
	for _, imp := range p.Imports {
		dep, ok := strings.CutPrefix(imp, module+"/")
		if !ok || isInternal(dep) {
			continue
		}
		if isInternal(name) || !slices.Contains(may, dep) {
			out = append(out, name+" imports "+dep+", which docs/architecture.md does not allow")
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		pkg  listedPackage
		want int
	}{
		{"allowed edges", listedPackage{module + "/orchestrator", []string{"fmt", module + "/firewall", module + "/transport"}}, 0},
		{"transport must not know firewall", listedPackage{module + "/transport", []string{module + "/firewall"}}, 1},
		{"firewall must not know transport or orchestrator", listedPackage{module + "/firewall", []string{module + "/transport", module + "/orchestrator"}}, 2},
		{"rule is a leaf", listedPackage{module + "/rule", []string{module + "/firewall"}}, 1},
		{"internal helpers are open to all", listedPackage{module + "/transport", []string{module + "/internal/filelock"}}, 0},
		{"internal helpers import only internal", listedPackage{module + "/internal/filelock", []string{module + "/rule"}}, 1},
		{"test helpers are internal too", listedPackage{module + "/lab/wsman", []string{module + "/internal/golden", module + "/internal/testca"}}, 0},
		{"a test helper imports no pipeline package", listedPackage{module + "/internal/golden", []string{module + "/firewall"}}, 1},
		{"unknown package", listedPackage{module + "/newpkg", nil}, 1},
		{"other modules are ignored", listedPackage{"example.com/x", []string{module + "/orchestrator"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(tt.pkg); len(got) != tt.want {
				t.Errorf("violations = %q, want %d", got, tt.want)
			}
		})
	}
}
