package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/lab"
)

// TestAutoApprovePipeline: apply --auto-approve plans and applies each
// host in its own slot (orchestrator.Engine.Converge). Its output is what
// it was when every host was planned first: the plan view exactly as plan
// shows it, then the apply summary; a host whose plan fails is never
// touched and the others converge; the audit log has one entry per
// changed host; a second apply changes nothing. The result document
// holds each host's plan as plan --format json has it, with its results.
func TestAutoApprovePipeline(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 4})
	specs := map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"backup_repository"}},
		"lnx03": {roles: []string{"gateway_server"}},
		// A wrong port: the plan fails, the host is never applied.
		"lnx04": {roles: []string{"guest_linux"}, extra: "  ssh {\n    port = 1\n  }\n"},
	}
	inv := writeInventory(t, l, specs, "")
	audit := filepath.Join(t.TempDir(), "audit.jsonl")

	planOut, _, code := runCLI(t, "plan", "--inventory", inv)
	if code != exitPartial || !strings.Contains(planOut, "✗ lnx04") {
		t.Fatalf("plan: exit %d:\n%s", code, planOut)
	}
	out, errOut, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--parallel", "2", "--progress", "lines", "--audit-log", audit)
	if code != exitPartial {
		t.Fatalf("apply: exit %d, want %d:\n%s\n%s", code, exitPartial, out, errOut)
	}
	rest, ok := strings.CutPrefix(out, planOut)
	if !ok {
		t.Fatalf("apply's plan view differs from plan's:\n--- apply\n%s\n--- plan\n%s", out, planOut)
	}
	want := "\nApply complete: 3 hosts changed and verified by read-back, 0 unchanged, 1 failed.\n" +
		"Failed: lnx04.\nLeft as they were: lnx04.\nThe other hosts are done.\n"
	if rest != want {
		t.Errorf("after the plan view:\n%s\nwant:\n%s", rest, want)
	}
	for _, line := range []string{"lnx04: plan failed: ", "lnx01: apply done", "lnx01: confirm done"} {
		if !strings.Contains(errOut, line) {
			t.Errorf("progress lacks %q:\n%s", line, errOut)
		}
	}
	if strings.Contains(errOut, "lnx04: apply") {
		t.Errorf("lnx04 failed to plan, yet was applied:\n%s", errOut)
	}
	if got := auditHosts(t, audit); !reflect.DeepEqual(got, map[string]string{"lnx01": "applied", "lnx02": "applied", "lnx03": "applied"}) {
		t.Errorf("audit log: %v", got)
	}

	out, _, code = runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--audit-log", audit)
	if code != exitPartial || !strings.Contains(out, "No changes. 3 hosts match the policy.") || strings.Contains(out, "Apply complete") {
		t.Fatalf("second apply: exit %d:\n%s", code, out)
	}
	if got := auditHosts(t, audit); !reflect.DeepEqual(got, map[string]string{"lnx01": "applied", "lnx02": "applied", "lnx03": "applied"}) {
		t.Errorf("the second apply wrote to the audit log: %v", got)
	}

	// On the converged hosts, with one host drifted: the result document
	// is the plan document plus results.
	execOK(t, l, "lnx02", "nft", "flush chain inet portwarden input")
	delete(specs, "lnx04")
	inv = writeInventory(t, l, specs, "")
	plan, code := planDoc(t, inv)
	if code != exitChanges || plan.Summary.Hosts != 1 {
		t.Fatalf("plan of the drifted host: exit %d, %+v", code, plan.Summary)
	}
	doc, code := applyJSON(t, inv, "--detailed-exitcode", "--parallel", "1")
	if code != exitChanges {
		t.Fatalf("repair apply: exit %d, want %d", code, exitChanges)
	}
	if doc.FormatVersion != plan.FormatVersion || doc.Summary != plan.Summary || len(doc.Hosts) != len(plan.Hosts) {
		t.Fatalf("result document %+v does not match the plan %+v", doc.jsonPlan, plan)
	}
	for i, h := range doc.Hosts {
		p := plan.Hosts[i]
		applied := h.Name == "lnx02"
		if h.Applied == nil || *h.Applied != applied || (h.Left == "applied") != applied || len(h.Remaining) != 0 || h.Error != "" {
			t.Errorf("%s: applied %v, left %q, remaining %v, error %q", h.Name, h.Applied, h.Left, h.Remaining, h.Error)
		}
		h.Applied, h.Left, h.Remaining = nil, "", nil
		if !reflect.DeepEqual(h, p) {
			t.Errorf("host %d in the result document:\n%+v\nin the plan:\n%+v", i, h, p)
		}
	}
	if _, code := applyJSON(t, inv, "--detailed-exitcode"); code != exitOK {
		t.Errorf("apply after the repair: exit %d, want 0", code)
	}
}

// auditHosts reads the audit log: each host's result, one entry each.
func auditHosts(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e auditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		if _, twice := got[e.Host]; twice {
			got[e.Host] = fmt.Sprintf("%s and %s", got[e.Host], e.Result)
			continue
		}
		got[e.Host] = e.Result
	}
	return got
}
