package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"join":  strings.Join,
	"class": func(s string) string { return strings.ReplaceAll(s, " ", "-") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>portwarden report: {{.Rep.Inventory}}</title>
<style>
body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f3f3}.state{padding:1px 6px;border-radius:3px}
.in-sync{background:#d5f0d5}.drift{background:#ffe2b3}.unreachable{background:#f7c6c6}.not-managed{background:#eee}
.diagram{overflow:auto;border:1px solid #ddd;padding:1em}.reason{color:#555}
</style></head><body>
<h1>portwarden report</h1>
<p>Inventory <code>{{.Rep.Inventory}}</code> ({{.Rep.Digest}}), generated {{.Rep.Generated}}.{{if not .Rep.Probed}} Not probed.{{end}}</p>
<table id="summary"><tr><th>state</th><th>hosts</th></tr>{{range $s, $n := .Rep.Counts}}<tr><td><span class="state {{class $s}}">{{$s}}</span></td><td>{{$n}}</td></tr>{{end}}</table>
<h2>Flows</h2>
<div class="diagram" id="flows">{{.SVG}}</div>
<h2>Hosts</h2>
{{range .Rep.Hosts}}<section class="host" id="host-{{.Name}}">
<h3>{{.Name}} ({{.Address}}, {{.OS}}) <span class="state {{class .State}}">{{.State}}</span></h3>
<p>Roles: {{join .Roles ", "}}{{if .Backend}}; backend {{.Backend}}, mode {{.Mode}}{{end}}</p>
{{if .Error}}<p><strong>Error:</strong> {{.Error}}</p>{{end}}
{{if .Rules}}<table><tr><th>rule</th><th>from</th><th>why</th></tr>{{range .Rules}}<tr><td>{{.Protocol}}/{{join .Ports ","}}</td><td>{{join .Sources ", "}}</td><td>{{range .Reasons}}<div class="reason">{{.FromRole}} → {{.ToRole}}: {{.Description}} [{{.Section}}]</div>{{end}}</td></tr>{{end}}</table>{{else}}<p>No inbound rules needed.</p>{{end}}
{{if .Changes}}<p>Changes the host needs:</p><table><tr><th>action</th><th>rule</th><th>sources</th></tr>{{range .Changes}}<tr><td>{{.Action}}</td><td>{{if .Protocol}}{{.Protocol}}/{{join .Ports ","}}{{else}}{{.Kind}}: {{.Detail}}{{end}}</td><td>{{join .Sources ", "}}</td></tr>{{end}}</table>{{end}}
{{if .Probes}}<p>Probes:</p><table><tr><th>from</th><th>port</th><th>outcome</th><th>expected</th><th>ok</th></tr>{{range .Probes}}<tr><td>{{.From}}</td><td>{{.Proto}}/{{.Port}}</td><td>{{.Outcome}}</td><td>{{.Expect}}</td><td>{{if .OK}}✓{{else}}✗{{end}}</td></tr>{{end}}</table>{{end}}
{{range .Warnings}}<p>Warning: {{.}}</p>{{end}}{{range .Notes}}<p>Note: {{.}}</p>{{end}}
</section>
{{end}}</body></html>
`))

func renderHTML(rep *report) ([]byte, error) {
	svg := flowSVG(layoutFlows(rep.Nodes, rep.Flows))
	var buf bytes.Buffer
	// flowSVG escapes every text it writes.
	if err := reportHTML.Execute(&buf, struct {
		Rep *report
		SVG template.HTML
	}{rep, template.HTML(svg)}); err != nil {
		return nil, fmt.Errorf("rendering the report: %w", err)
	}
	return buf.Bytes(), nil
}

func renderReportJSON(rep *report) ([]byte, error) {
	b, err := json.MarshalIndent(rep, "", "  ")
	return append(b, '\n'), err
}

// renderMarkdown is for change tickets: the plan's changes as one table,
// then each host's rules.
func renderMarkdown(rep *report) []byte {
	var b strings.Builder
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	fmt.Fprintf(&b, "# portwarden report: %s\n\nGenerated %s; inventory digest `%s`.\n\n", rep.Inventory, rep.Generated, rep.Digest)
	b.WriteString("| state | hosts |\n| --- | --- |\n")
	for _, s := range []string{reportInSync, reportDrift, reportUnreachable, reportUnmanaged} {
		fmt.Fprintf(&b, "| %s | %d |\n", s, rep.Counts[s])
	}
	b.WriteString("\n## Changes\n\n")
	n := 0
	for _, h := range rep.Hosts {
		for _, c := range h.Changes {
			if n == 0 {
				b.WriteString("| host | action | rule | sources | reason |\n| --- | --- | --- | --- | --- |\n")
			}
			n++
			what := c.Kind + ": " + c.Detail
			if c.Protocol != "" {
				what = rule.SpecStrings([]string{c.Protocol}, c.Ports)
			}
			var why []string
			for _, r := range c.Reasons {
				why = append(why, r.FromRole+" → "+r.ToRole+" ["+r.Section+"]")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(h.Name), c.Action, cell(what), cell(rule.JoinPrefixStrings(c.Sources)), cell(strings.Join(why, "; ")))
		}
	}
	if n == 0 {
		b.WriteString("No changes.\n")
	}
	var failed []string
	for _, h := range rep.Hosts {
		if h.State == reportUnreachable {
			failed = append(failed, fmt.Sprintf("- %s: %s", h.Name, cell(h.Error)))
		}
	}
	if len(failed) > 0 {
		b.WriteString("\nNot read (unreachable or failed):\n\n" + strings.Join(failed, "\n") + "\n")
	}
	b.WriteString("\n## Hosts\n")
	for _, h := range rep.Hosts {
		fmt.Fprintf(&b, "\n### %s (%s) — %s\n\nRoles: %s.\n\n", h.Name, h.Address, h.State, strings.Join(h.Roles, ", "))
		if len(h.Rules) > 0 {
			b.WriteString("| rule | from | why |\n| --- | --- | --- |\n")
			for _, r := range h.Rules {
				var why []string
				for _, rs := range r.Reasons {
					why = append(why, rs.FromRole+" → "+rs.ToRole+": "+rs.Description)
				}
				fmt.Fprintf(&b, "| %s | %s | %s |\n", rule.SpecStrings([]string{r.Protocol}, r.Ports), cell(rule.JoinPrefixStrings(r.Sources)), cell(strings.Join(why, "; ")))
			}
		}
		for _, nt := range h.Notes {
			fmt.Fprintf(&b, "- note: %s\n", cell(nt))
		}
	}
	return []byte(b.String())
}
