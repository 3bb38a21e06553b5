package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"
)

// jsonDiagnostic is the machine form of a diagnostic, shaped like
// terraform's: severity, summary, detail and a source range.
type jsonDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *jsonRange `json:"range,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

func toJSONDiags(diags hcl.Diagnostics) []jsonDiagnostic {
	out := make([]jsonDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := jsonDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if d.Subject != nil {
			r := d.Subject
			jd.Range = &jsonRange{Filename: r.Filename,
				Start: jsonPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:   jsonPos{r.End.Line, r.End.Column, r.End.Byte}}
		}
		out = append(out, jd)
	}
	return out
}

// writeDiags renders diagnostics for people (with the source line) or as
// JSON.
func writeDiags(w io.Writer, format string, files map[string]*hcl.File, diags hcl.Diagnostics) {
	if writeDiagList(w, format, files, diags) && format != "json" {
		fmt.Fprintf(w, "%d error(s); nothing was changed on any host.\n", countErrors(diags))
	}
}

// writeDiagList renders diagnostics without the closing count; it
// reports whether there were errors.
func writeDiagList(w io.Writer, format string, files map[string]*hcl.File, diags hcl.Diagnostics) bool {
	if len(diags) == 0 {
		return false
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"format_version": formatVersion, "valid": !diags.HasErrors(), "diagnostics": toJSONDiags(diags)})
		return diags.HasErrors()
	}
	width := 0
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	tw := hcl.NewDiagnosticTextWriter(w, files, uint(max(width, 0)), false)
	_ = tw.WriteDiagnostics(diags)
	return diags.HasErrors()
}

func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}
