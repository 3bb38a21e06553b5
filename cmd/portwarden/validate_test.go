package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validateInv = `defaults {
  ssh {
    user        = "portwarden"
    private_key = "id_test"
    known_hosts = "known_hosts"
    sudo_password = env("PW_TEST_UNSET_SUDO")
  }
  winrm {
    user     = "LAB\\svc"
    password = file("secrets/winrm-password")
  }
}

host "vbr01" {
  address = "vbr01.lab.example"
  os      = "windows"
  roles   = ["backup_server", "console"]
}

host "repo01" {
  address = "192.0.2.30"
  os      = "linux"
  roles   = ["backup_repository"]
}
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestValidateOffline: no secret set, a DNS name that resolves nowhere
// (no resolver is asked), key files present: valid.
func TestValidateOffline(t *testing.T) {
	useResolver(t, mapResolver{}) // would fail any lookup
	dir := writeFiles(t, map[string]string{"inv.hcl": validateInv, "id_test": "key", "known_hosts": ""})
	out, errOut, code := runCLI(t, "validate", "--inventory", filepath.Join(dir, "inv.hcl"))
	if code != 0 || !strings.Contains(out, "The inventory is valid: 2 hosts") {
		t.Fatalf("code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // summaries
		line  int
	}{
		{"missing key and known_hosts", map[string]string{"inv.hcl": validateInv},
			[]string{"Missing ssh private_key", "Missing ssh known_hosts"}, 20},
		{"unknown role", map[string]string{"inv.hcl": strings.Replace(validateInv, `"backup_repository"`, `"backup_repo"`, 1), "id_test": "", "known_hosts": ""},
			[]string{"Unknown role"}, 23},
		{"syntax", map[string]string{"inv.hcl": validateInv + "host {", "id_test": "", "known_hosts": ""},
			[]string{"Unclosed configuration block"}, 25},
		{"missing krb5_conf", map[string]string{"inv.hcl": strings.Replace(validateInv, "    password = file(",
			"    auth = \"kerberos\"\n    realm = \"LAB.EXAMPLE\"\n    krb5_conf = \"krb5.conf\"\n    password = file(", 1), "id_test": "", "known_hosts": ""},
			[]string{"Missing winrm krb5_conf"}, 17},
		{"kerberos without realm", map[string]string{"inv.hcl": strings.Replace(validateInv, "    password = file(",
			"    auth = \"kerberos\"\n    password = file(", 1), "id_test": "", "known_hosts": ""},
			[]string{"Invalid Kerberos principal"}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			out, errOut, code := runCLI(t, "validate", "--inventory", filepath.Join(dir, "inv.hcl"), "--format", "json")
			if code != 1 {
				t.Fatalf("code %d, want 1\n%s%s", code, out, errOut)
			}
			var doc struct {
				Valid       bool
				Diagnostics []jsonDiagnostic
			}
			if err := json.Unmarshal([]byte(out+errOut), &doc); err != nil {
				t.Fatalf("%v\n%s%s", err, out, errOut)
			}
			if doc.Valid {
				t.Error("valid: true with errors")
			}
			for _, w := range tc.want {
				found := false
				for _, d := range doc.Diagnostics {
					if d.Summary == w && d.Range != nil && d.Range.Start.Line == tc.line && filepath.Base(d.Range.Filename) == "inv.hcl" {
						found = true
					}
				}
				if !found {
					t.Errorf("no %q at line %d in %s", w, tc.line, out+errOut)
				}
			}
		})
	}
}

func TestFmt(t *testing.T) {
	messy := "host \"a\" {\naddress=\"192.0.2.1\"\n  os =    \"linux\"\n}\n"
	tidy := "host \"a\" {\n  address = \"192.0.2.1\"\n  os      = \"linux\"\n}\n"
	dir := writeFiles(t, map[string]string{"inv/a.hcl": messy, "inv/b.hcl": tidy, "inv/sub/c.hcl": messy, "inv/notes.txt": messy})
	inv := filepath.Join(dir, "inv")
	out, errOut, code := runCLI(t, "fmt", "--check", inv)
	if code != 1 || strings.TrimSpace(out) != filepath.Join(inv, "a.hcl") || !strings.Contains(errOut, "1 file(s) not formatted") {
		t.Fatalf("--check: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(inv, "a.hcl")); string(b) != messy {
		t.Fatal("--check changed a file")
	}
	out, _, code = runCLI(t, "fmt", inv, "--recursive")
	if code != 0 || !strings.Contains(out, "a.hcl") || !strings.Contains(out, filepath.Join("sub", "c.hcl")) {
		t.Fatalf("fmt: code %d, stdout %q", code, out)
	}
	for _, n := range []string{"a.hcl", "b.hcl", "sub/c.hcl"} {
		if b, _ := os.ReadFile(filepath.Join(inv, n)); string(b) != tidy {
			t.Errorf("%s after fmt:\n%s", n, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(inv, "notes.txt")); string(b) != messy {
		t.Error("fmt touched a file that is not *.hcl")
	}
	if _, _, code := runCLI(t, "fmt", "--check", "--recursive", inv); code != 0 {
		t.Errorf("--check after fmt: code %d", code)
	}
	// A syntax error is a diagnostic, and the file is left alone.
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("host \"x\" {\n"), 0o644)
	if _, errOut, code := runCLI(t, "fmt", bad); code != 1 || !strings.Contains(errOut, "bad.hcl line") {
		t.Errorf("syntax error: code %d, stderr %q", code, errOut)
	}
}

// TestShowSavedPlan renders a saved plan in the three formats; the text
// view is the plan view's golden file.
func TestShowSavedPlan(t *testing.T) {
	plan := filepath.Join("testdata", "show", "plan.json")
	out, errOut, code := runCLI(t, "show", plan)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	golden(t, "show/plan.txt", out)
	out, _, _ = runCLI(t, "show", plan, "--format", "markdown")
	golden(t, "show/plan.md", out)
	out, _, _ = runCLI(t, "show", "--format", "json", plan)
	var a, b any
	src, _ := os.ReadFile(plan)
	json.Unmarshal(src, &a)
	if err := json.Unmarshal([]byte(out), &b); err != nil || !jsonEqual(a, b) {
		t.Errorf("json differs from the saved plan: %v\n%s", err, out)
	}
	if _, errOut, code := runCLI(t, "show", "../../examples/lab.hcl"); code != 1 || !strings.Contains(errOut, "not a plan document") {
		t.Errorf("not a plan: code %d, %s", code, errOut)
	}
}

// TestShowRoundTrip: a saved plan shows exactly as the plan view that
// saved it.
func TestShowRoundTrip(t *testing.T) {
	var doc jsonPlan
	src, _ := os.ReadFile(filepath.Join("testdata", "show", "plan.json"))
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	plans, err := plansFromJSON(&doc)
	if err != nil {
		t.Fatal(err)
	}
	again := planJSON(plans)
	if !jsonEqual(again, doc) {
		a, _ := json.MarshalIndent(again, "", "  ")
		t.Errorf("planJSON(plansFromJSON(doc)) != doc:\n%s", a)
	}
}

// TestLoadLimits: an inventory or policy file nested too deep, or too
// large, is refused with a diagnostic naming the file (and, for the
// nesting, the place) before the parser recurses or reads it whole.
func TestLoadLimits(t *testing.T) {
	deep := "\nx = " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n"
	big := "\n# " + strings.Repeat("x", 4<<20) + "\n"
	deepLine := strings.Count(validateInv, "\n") + 2
	for _, tc := range []struct {
		name, inv, policy string
		want, file        string
		line              int
	}{
		{"deep inventory", validateInv + deep, "", "Nesting too deep", "inv.hcl", deepLine},
		{"deep policy", validateInv, deep, "Nesting too deep", "extra.hcl", 2},
		{"large inventory", validateInv + big, "", "more than the 4 MiB accepted", "inv.hcl", 0},
		{"large policy", validateInv, big, "more than the 4 MiB accepted", "extra.hcl", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"inv.hcl": tc.inv, "id_test": "", "known_hosts": ""}
			args := []string{"validate", "--format", "json"}
			if tc.policy != "" {
				files["pol/extra.hcl"] = tc.policy
			}
			dir := writeFiles(t, files)
			args = append(args, "--inventory", filepath.Join(dir, "inv.hcl"))
			if tc.policy != "" {
				args = append(args, "--policy", filepath.Join(dir, "pol"))
			}
			out, errOut, code := runCLI(t, args...)
			if code != 1 {
				t.Fatalf("code %d, want 1\n%s%s", code, out, errOut)
			}
			var doc struct{ Diagnostics []jsonDiagnostic }
			if err := json.Unmarshal([]byte(out+errOut), &doc); err != nil {
				t.Fatalf("%v\n%.2000s", err, out+errOut)
			}
			found := false
			for _, d := range doc.Diagnostics {
				text := d.Summary + ": " + d.Detail
				switch {
				case !strings.Contains(text, tc.want):
				case tc.line > 0 && (d.Range == nil || filepath.Base(d.Range.Filename) != tc.file || d.Range.Start.Line != tc.line):
					t.Errorf("%q not at %s:%d: %+v", tc.want, tc.file, tc.line, d.Range)
				case tc.line == 0 && !strings.Contains(d.Detail, tc.file):
					t.Errorf("%q does not name %s: %s", tc.want, tc.file, d.Detail)
				default:
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnostic %q:\n%.2000s", tc.want, out+errOut)
			}
		})
	}
}
