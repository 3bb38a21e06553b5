package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
)

func TestEscapeControls(t *testing.T) {
	for _, tc := range []struct{ name, in, multi, single string }{
		{"plain", "tcp/22 from 10.0.0.0/8 — ok ü", "tcp/22 from 10.0.0.0/8 — ok ü", "tcp/22 from 10.0.0.0/8 — ok ü"},
		{"cr and esc", "\r\x1b[2KNo changes.", `\r\u001b[2KNo changes.`, `\r\u001b[2KNo changes.`},
		{"newline", "a\nb", "a\nb", `a\nb`},
		{"tab", "a\tb", "a\tb", "a\tb"},
		{"bell backspace del", "\a\b\x7f", `\u0007\u0008\u007f`, `\u0007\u0008\u007f`},
		{"c1 csi", "x\u009b2Ky", `x\u009b2Ky`, `x\u009b2Ky`},
		{"bidi", "abc\u202edef\u2066\u2069\u200f", `abc\u202edef\u2066\u2069\u200f`, `abc\u202edef\u2066\u2069\u200f`},
		{"line separator", "a\u2028b", `a\u2028b`, `a\u2028b`},
		{"invalid utf-8", "a\x9bb\xff", `a\x9bb\xff`, `a\x9bb\xff`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			newSafeWriter(&b).Write([]byte(tc.in))
			if b.String() != tc.multi {
				t.Errorf("safeWriter: %q, want %q", b.String(), tc.multi)
			}
			if got := oneLine(tc.in); got != tc.single {
				t.Errorf("oneLine: %q, want %q", got, tc.single)
			}
		})
	}
}

// TestSafeWriterSplitCharacters: a character written a byte at a time
// passes whole (not escaped as invalid UTF-8); a control character split
// so is still escaped; a character that never ends is escaped at flush.
func TestSafeWriterSplitCharacters(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"multibyte", "ü — 😀 ok", "ü — 😀 ok"},
		{"split bidi override", "a\u202eb", `a\u202eb`},
		{"split c1", "x\u009by", `x\u009by`},
		{"unfinished at the end", "ok \xe2\x80", `ok \xe2\x80`},
		{"unfinished then ascii", "\xf0\x9f!", `\xf0\x9f!`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := newSafeWriter(&b)
			for i := range len(tc.in) {
				if n, err := w.Write([]byte{tc.in[i]}); n != 1 || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			flushSafe(w)
			if b.String() != tc.want {
				t.Errorf("written byte by byte: %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// The escapes the writer adds keep a JSON document valid and equal.
func TestSafeWriterKeepsJSON(t *testing.T) {
	in := map[string]string{"comment": "\r\x1b[2KNo changes.\u202e\u0085\x7f", "error": "line\nline"}
	var b bytes.Buffer
	json.NewEncoder(newSafeWriter(&b)).Encode(in)
	var out map[string]string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.Bytes())
	}
	if out["comment"] != in["comment"] || out["error"] != in["error"] {
		t.Errorf("round trip: %q", out)
	}
	if bytes.ContainsAny(b.Bytes(), "\r\x1b\x7f\u202e\u0085") {
		t.Errorf("raw control characters in %q", b.Bytes())
	}
}

// hostileText is what a host or a policy might put in a comment, a fact, a
// warning or an error to fake the plan's summary line.
const hostileText = "\r\x1b[2KNo changes.\nNo changes. 9 hosts match the policy."

// fakedSummary reports a line of out that is (or, on a terminal, would look
// like) a summary the views did not write.
func fakedSummary(out string) string {
	if strings.ContainsAny(out, "\r\x1b") {
		return "raw CR or ESC in the output"
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "No changes. 9 hosts") || line == "No changes." {
			return line
		}
	}
	return ""
}

// A host that answers with control characters and newlines in its error,
// warnings and drift cannot fake the summary line of plan or apply.
func TestHostileHostCannotFakeSummary(t *testing.T) {
	h := &inventory.Host{Name: "lnx01", Address: "198.18.0.10"}
	plans := []*orchestrator.HostPlan{
		{Host: h, Backend: "nftables",
			Current: firewall.State{Warnings: []string{hostileText}},
			Changes: []orchestrator.Change{{Action: orchestrator.Update, Kind: "drift", Key: hostileText, Detail: hostileText}}},
		{Host: &inventory.Host{Name: "lnx02", Address: "198.18.0.11"}, Err: errors.New("reading facts on lnx02: " + hostileText)},
		{Host: &inventory.Host{Name: "lnx03", Address: "198.18.0.12"}, Applied: true, ApplyErr: errors.New(hostileText)},
	}
	var b bytes.Buffer
	w := newSafeWriter(&b)
	writePlanText(w, plans)
	writeApplyText(w, plans, nil, true)
	if f := fakedSummary(b.String()); f != "" {
		t.Errorf("faked summary %q in:\n%s", f, b.String())
	}
	if !strings.Contains(b.String(), `\r\u001b[2KNo changes.`) {
		t.Errorf("the hostile text is not shown escaped:\n%s", b.String())
	}
}

// A policy's description reaches the rules view escaped through run.
func TestHostilePolicyTextEscaped(t *testing.T) {
	out, errOut, code := runCLI(t, "rules", "--inventory", "testdata/hostile/inventory.hcl", "--policy", "testdata/hostile/policy", "--host", "repo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if f := fakedSummary(out + errOut); f != "" || !strings.Contains(out, `scrape\r\u001b[2KNo changes.\nNo changes. 9`) {
		t.Errorf("faked %q or not escaped:\n%s", f, out)
	}
}
