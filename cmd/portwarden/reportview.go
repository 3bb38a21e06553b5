package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/goccy/go-graphviz"
)

// flowDot is the diagram in Graphviz's language: hosts grouped by role
// (one cluster per role), edges labelled with protocol/ports. Graphviz
// (compiled to WebAssembly, bundled in the binary) lays it out.
func flowDot(rep *report) string {
	var b strings.Builder
	b.WriteString("digraph portwarden {\n  rankdir=LR; compound=true; nodesep=0.3; ranksep=1.1;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica,Arial,sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica,Arial,sans-serif\", fontsize=9, color=\"#555555\"];\n")
	groups := map[string][]reportNode{}
	for _, n := range rep.Nodes {
		groups[n.Group] = append(groups[n.Group], n)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for i, g := range names {
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s; style=\"rounded,dashed\"; color=\"#999999\"; fontname=\"Helvetica,Arial,sans-serif\";\n", i, dotQuote(g))
		for _, n := range groups[g] {
			fmt.Fprintf(&b, "    %s [label=%s, fillcolor=%s, class=%s];\n", dotQuote(n.ID), dotQuote(n.Label), dotQuote(stateColor(n)), dotQuote("pw-"+n.Kind))
		}
		b.WriteString("  }\n")
	}
	for _, f := range rep.Flows {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotQuote(f.From), dotQuote(f.To), dotQuote(strings.Join(f.Ports, "\n")))
	}
	b.WriteString("}\n")
	return b.String()
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func stateColor(n reportNode) string {
	switch {
	case n.Kind != "host":
		return "#e8eef7"
	case n.State == reportInSync:
		return "#d5f0d5"
	case n.State == reportDrift:
		return "#ffe2b3"
	case n.State == reportUnreachable:
		return "#f7c6c6"
	}
	return "#eeeeee"
}

// flowSVG lays the diagram out and returns the bare <svg> element.
func flowSVG(ctx context.Context, rep *report) (string, error) {
	g, err := graphviz.New(ctx)
	if err != nil {
		return "", fmt.Errorf("starting graphviz: %w", err)
	}
	defer g.Close()
	graph, err := graphviz.ParseBytes([]byte(flowDot(rep)))
	if err != nil {
		return "", fmt.Errorf("laying out the flow diagram: %w", err)
	}
	defer graph.Close()
	var buf bytes.Buffer
	if err := g.Render(ctx, graph, graphviz.SVG, &buf); err != nil {
		return "", fmt.Errorf("rendering the flow diagram: %w", err)
	}
	svg := buf.String()
	if i := strings.Index(svg, "<svg"); i >= 0 {
		svg = svg[i:] // drop the XML prolog and DOCTYPE: inline in HTML
	}
	return svg, nil
}

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

func renderHTML(ctx context.Context, rep *report) ([]byte, error) {
	svg, err := flowSVG(ctx, rep)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	// The SVG is Graphviz's output from labels it escapes itself.
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
			rule := c.Kind + ": " + c.Detail
			if c.Protocol != "" {
				rule = c.Protocol + "/" + strings.Join(c.Ports, ",")
			}
			var why []string
			for _, r := range c.Reasons {
				why = append(why, r.FromRole+" → "+r.ToRole+" ["+r.Section+"]")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(h.Name), c.Action, cell(rule), cell(strings.Join(c.Sources, ", ")), cell(strings.Join(why, "; ")))
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
				fmt.Fprintf(&b, "| %s/%s | %s | %s |\n", r.Protocol, strings.Join(r.Ports, ","), cell(strings.Join(r.Sources, ", ")), cell(strings.Join(why, "; ")))
			}
		}
		for _, nt := range h.Notes {
			fmt.Fprintf(&b, "- note: %s\n", cell(nt))
		}
	}
	return []byte(b.String())
}
