package main

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// appendHostRulesJSON writes one host of the rules document, indented as
// a host of writeHostsJSON: the bytes json.MarshalIndent gives for
// hostRulesJSON(hr), written in one pass. A rule of a large fleet lists
// thousands of sources; addresses need no escaping, so they are written
// as they are, and every other string goes through encoding/json.
func appendHostRulesJSON(w *bytes.Buffer, hr *orchestrator.HostRules) error {
	e := jsonEmitter{w: w}
	h := hr.Host
	e.open('{')
	e.key("name", 3)
	e.str(h.Name)
	e.comma()
	e.key("address", 3)
	e.str(h.Address)
	e.comma()
	e.key("os", 3)
	e.str(h.OS)
	e.comma()
	e.key("managed", 3)
	w.WriteString(strconv.FormatBool(h.Managed))
	e.comma()
	e.key("roles", 3)
	e.strs(hr.Roles, 3, false)
	e.comma()
	e.key("rules", 3)
	if len(hr.Rules) == 0 {
		w.WriteString("[]")
	} else {
		e.open('[')
		for i, r := range hr.Rules {
			if i > 0 {
				e.comma()
			}
			e.indent(4)
			e.rule(r)
		}
		e.close(']', 3)
	}
	e.comma()
	e.key("notes", 3)
	notes := hr.Notes
	if notes == nil {
		notes = []string{}
	}
	e.strs(notes, 3, false)
	e.close('}', 2)
	return e.err
}

// jsonEmitter writes indented JSON; level n is 2n spaces.
type jsonEmitter struct {
	w   *bytes.Buffer
	err error
}

func (e *jsonEmitter) indent(n int) {
	e.w.WriteByte('\n')
	for range n {
		e.w.WriteString("  ")
	}
}

func (e *jsonEmitter) open(c byte) { e.w.WriteByte(c) }

func (e *jsonEmitter) close(c byte, n int) {
	e.indent(n)
	e.w.WriteByte(c)
}

func (e *jsonEmitter) comma() { e.w.WriteByte(',') }

// key starts a member at level n.
func (e *jsonEmitter) key(k string, n int) {
	e.indent(n)
	e.w.WriteString(`"` + k + `": `)
}

func (e *jsonEmitter) str(s string) {
	b, err := json.Marshal(s)
	if err != nil && e.err == nil {
		e.err = err
	}
	e.w.Write(b)
}

// strs writes a list of strings whose members are at level n+1; raw says
// they need no escaping.
func (e *jsonEmitter) strs(ss []string, n int, raw bool) {
	switch {
	case ss == nil:
		e.w.WriteString("null")
		return
	case len(ss) == 0:
		e.w.WriteString("[]")
		return
	}
	e.w.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			e.comma()
		}
		e.indent(n + 1)
		if raw {
			e.w.WriteString(`"` + s + `"`)
		} else {
			e.str(s)
		}
	}
	e.close(']', n)
}

func (e *jsonEmitter) rule(r orchestrator.Rule) {
	e.open('{')
	e.key("protocol", 5)
	e.str(r.Protocol)
	e.comma()
	e.key("ports", 5)
	e.strs(rule.PortStrings(r.Ports), 5, true)
	e.comma()
	e.key("sources", 5)
	e.prefixes(r.Rule, 5)
	e.comma()
	e.key("reasons", 5)
	switch {
	case r.Reasons == nil:
		e.w.WriteString("null")
	case len(r.Reasons) == 0:
		e.w.WriteString("[]")
	default:
		e.open('[')
		for i, rs := range r.Reasons {
			if i > 0 {
				e.comma()
			}
			e.indent(6)
			e.open('{')
			for j, kv := range [][2]string{{"pack", rs.Pack}, {"flow", rs.Flow}, {"from_role", rs.FromRole},
				{"to_role", rs.ToRole}, {"description", rs.Description}, {"section", rs.Section}} {
				if j > 0 {
					e.comma()
				}
				e.key(kv[0], 7)
				e.str(kv[1])
			}
			e.close('}', 6)
		}
		e.close(']', 5)
	}
	e.close('}', 4)
}

// prefixes writes a rule's sources without building their strings first.
func (e *jsonEmitter) prefixes(r rule.Rule, n int) {
	if len(r.Sources) == 0 {
		e.w.WriteString("[]")
		return
	}
	e.w.WriteByte('[')
	var buf []byte
	for i, p := range r.Sources {
		if i > 0 {
			e.comma()
		}
		e.indent(n + 1)
		buf = append(buf[:0], '"')
		if p.IsSingleIP() {
			buf = p.Addr().AppendTo(buf)
		} else {
			buf = p.AppendTo(buf)
		}
		buf = append(buf, '"')
		e.w.Write(buf)
	}
	e.close(']', n)
}
