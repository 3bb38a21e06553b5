package hclsrc

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// CheckDepth scans src for nesting deeper than MaxDepth (blocks, lists,
// objects, parentheses and template interpolations) and returns a
// diagnostic at the first place that goes deeper, or nil. It runs before
// the parser, which recurses once per level. It knows HCL's comments,
// quoted strings and heredocs well enough not to count brackets inside
// them, and counts the interpolations in strings.
func CheckDepth(src []byte, filename string) *hcl.Diagnostic {
	s := depthScanner{src: src, line: 1, col: 1}
	return s.run(filename)
}

type depthScanner struct {
	src       []byte
	i         int
	line, col int
	// stack holds what each open level is: '{', '[', '(' for brackets,
	// 'i' for "${" / "%{" inside a string, '"' for a quoted string.
	stack []byte
	start hcl.Pos
}

func (s *depthScanner) pos() hcl.Pos { return hcl.Pos{Line: s.line, Column: s.col, Byte: s.i} }

func (s *depthScanner) advance(n int) {
	for ; n > 0 && s.i < len(s.src); n-- {
		if s.src[s.i] == '\n' {
			s.line, s.col = s.line+1, 1
		} else {
			s.col++
		}
		s.i++
	}
}

func (s *depthScanner) push(c byte, filename string) *hcl.Diagnostic {
	s.stack = append(s.stack, c)
	if len(s.stack) > MaxDepth {
		p := s.pos()
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nesting too deep",
			Detail:   fmt.Sprintf("Blocks, lists, objects and interpolations nest more than %d levels deep here.", MaxDepth),
			Subject:  &hcl.Range{Filename: filename, Start: p, End: hcl.Pos{Line: p.Line, Column: p.Column + 1, Byte: p.Byte + 1}},
		}
	}
	return nil
}

func (s *depthScanner) top() byte {
	if len(s.stack) == 0 {
		return 0
	}
	return s.stack[len(s.stack)-1]
}

func (s *depthScanner) pop() {
	if len(s.stack) > 0 {
		s.stack = s.stack[:len(s.stack)-1]
	}
}

func (s *depthScanner) run(filename string) *hcl.Diagnostic {
	for s.i < len(s.src) {
		rest := s.src[s.i:]
		c := rest[0]
		if s.top() == '"' {
			switch {
			case c == '\\' && len(rest) > 1:
				s.advance(2)
			case c == '"':
				s.pop()
				s.advance(1)
			case (c == '$' || c == '%') && len(rest) > 1 && rest[1] == '{':
				if d := s.push('i', filename); d != nil {
					return d
				}
				s.advance(2)
			default:
				s.advance(1)
			}
			continue
		}
		switch {
		case c == '#' || bytes.HasPrefix(rest, []byte("//")):
			n := bytes.IndexByte(rest, '\n')
			if n < 0 {
				n = len(rest)
			}
			s.advance(n)
		case bytes.HasPrefix(rest, []byte("/*")):
			n := bytes.Index(rest[2:], []byte("*/"))
			if n < 0 {
				n = len(rest) - 4
			}
			s.advance(n + 4)
		case bytes.HasPrefix(rest, []byte("<<")):
			if d := s.heredoc(filename); d != nil {
				return d
			}
		case c == '"':
			if d := s.push('"', filename); d != nil {
				return d
			}
			s.advance(1)
		case c == '{' || c == '[' || c == '(':
			if d := s.push(c, filename); d != nil {
				return d
			}
			s.advance(1)
		case c == '}' || c == ']' || c == ')':
			s.pop()
			s.advance(1)
		default:
			s.advance(1)
		}
	}
	return nil
}

// heredoc skips "<<EOF ... EOF" (and "<<-EOF"), counting the
// interpolations of its lines as nesting on top of the current depth.
func (s *depthScanner) heredoc(filename string) *hcl.Diagnostic {
	rest := s.src[s.i:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		s.advance(len(rest))
		return nil
	}
	marker := bytes.TrimSpace(bytes.TrimLeft(rest[2:nl], "-"))
	s.advance(nl + 1)
	base := len(s.stack)
	for s.i < len(s.src) {
		line := s.src[s.i:]
		if e := bytes.IndexByte(line, '\n'); e >= 0 {
			line = line[:e]
		}
		if len(s.stack) == base && len(marker) > 0 && bytes.Equal(bytes.TrimSpace(line), marker) {
			s.advance(len(line))
			return nil
		}
		for j := 0; j < len(line); j++ {
			switch {
			case (line[j] == '$' || line[j] == '%') && j+1 < len(line) && line[j+1] == '{':
				if d := s.push('i', filename); d != nil {
					return d
				}
			case line[j] == '{' && len(s.stack) > base:
				if d := s.push('{', filename); d != nil {
					return d
				}
			case line[j] == '}' && len(s.stack) > base:
				s.pop()
			}
		}
		s.advance(len(line) + 1)
	}
	return nil
}
