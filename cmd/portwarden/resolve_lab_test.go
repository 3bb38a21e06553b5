package main

import (
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// TestUnresolvableHostOthersGoOn: one host whose DNS name does not
// resolve is a diagnostic at its address (file:line) and a failed host;
// plan and apply go on with the other hosts, which end applied.
func TestUnresolvableHostOthersGoOn(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	useResolver(t, mapResolver{}) // no name resolves; no query leaves the test
	inv := writeInventory(t, l, map[string]hostSpec{"lnx01": {roles: []string{"backup_repository"}}},
		"host \"ghost\" {\n  address = \"ghost.pwlab.test\"\n  os = \"linux\"\n  roles = []\n}\n")

	_, errOut, code := runCLI(t, "plan", "--inventory", inv)
	if code != exitPartial || !strings.Contains(errOut, "Unresolvable address") || !strings.Contains(errOut, "on "+inv+" line ") {
		t.Errorf("plan: exit %d, want %d with a diagnostic at the address:\n%s", code, exitPartial, errOut)
	}
	doc, code := applyJSON(t, inv)
	if code != exitPartial {
		t.Errorf("apply: exit %d, want %d", code, exitPartial)
	}
	if h := hostOf(doc.jsonPlan, "ghost"); !strings.Contains(h.Error, `its address "ghost.pwlab.test" did not resolve`) {
		t.Errorf("ghost: error %q", h.Error)
	}
	if h := hostOf(doc.jsonPlan, "lnx01"); h.Error != "" || h.Left != "applied" {
		t.Errorf("lnx01: error %q, left %q; want applied", h.Error, h.Left)
	}
	if owned(l, "lnx01") == "" {
		t.Error("lnx01 has nothing of portwarden's after the apply")
	}
}
