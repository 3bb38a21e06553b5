package firewall

import (
	"fmt"
	"strings"
)

// iptTable is one table of iptables-save output.
type iptTable struct {
	chains map[string]*iptChainInfo
}

type iptChainInfo struct {
	name   string
	policy string // "-" for a user chain
	rules  []iptLine
}

type iptLine struct {
	text string   // the rule after "-A CHAIN ", as printed
	args []string // text split into words
}

// parseIptablesSave parses iptables-save output into tables by name.
func parseIptablesSave(text string) (map[string]*iptTable, error) {
	tables := map[string]*iptTable{}
	var cur *iptTable
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			cur = &iptTable{chains: map[string]*iptChainInfo{}}
			tables[line[1:]] = cur
		case cur == nil:
			return nil, fmt.Errorf("iptables-save line %d: %q outside a table", n, line)
		case line == "COMMIT":
			cur = nil
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("iptables-save line %d: bad chain line %q", n, line)
			}
			cur.chains[f[0]] = &iptChainInfo{name: f[0], policy: f[1]}
		case strings.HasPrefix(line, "-A "):
			chain, rest, _ := strings.Cut(line[3:], " ")
			c := cur.chains[chain]
			if c == nil {
				return nil, fmt.Errorf("iptables-save line %d: rule for undeclared chain %q", n, chain)
			}
			args, err := iptSplit(rest)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %w", n, err)
			}
			c.rules = append(c.rules, iptLine{text: rest, args: args})
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("iptables-save output ends without COMMIT")
	}
	return tables, nil
}

// iptSplit splits a rule into words the way iptables-restore does:
// double quotes group, a backslash escapes the next character.
func iptSplit(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inWord = true, true
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted || escaped {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

// target returns the rule's -j target.
func (l iptLine) target() string {
	for i, a := range l.args {
		if a == "-j" && i+1 < len(l.args) {
			return l.args[i+1]
		}
	}
	return ""
}

func (l iptLine) comment() string {
	for i, a := range l.args {
		if a == "--comment" && i+1 < len(l.args) {
			return l.args[i+1]
		}
	}
	return ""
}

// drops reports an INPUT chain that drops what no rule accepted: policy
// DROP, or a last rule that is only "-j DROP" or "-j REJECT ...".
func (c *iptChainInfo) drops() bool {
	if c.policy == "DROP" {
		return true
	}
	if len(c.rules) == 0 {
		return false
	}
	last := c.rules[len(c.rules)-1]
	return len(last.args) >= 2 && last.args[0] == "-j" && (last.args[1] == "DROP" || last.args[1] == "REJECT")
}

// iptFamilyState is what one family's filter table holds of portwarden's.
type iptFamilyState struct {
	chain *iptChainInfo // PORTWARDEN-INPUT, nil if missing
	jumps []iptJump     // rules of INPUT that jump to it
	input *iptChainInfo // INPUT, nil if missing
}

type iptJump struct {
	line  iptLine
	index int
}

func (s *iptFamilyState) jumpOK() bool { return len(s.jumps) == 1 && s.jumps[0].index == 0 }

func (s *iptFamilyState) installed() bool { return s.chain != nil || len(s.jumps) > 0 }

func iptReadFamily(lf *linuxFacts, fam iptFamily) (*iptFamilyState, error) {
	text, err := lf.section(fam.section, fam.save)
	if err != nil {
		return nil, err
	}
	tables, err := parseIptablesSave(text)
	if err != nil {
		return nil, fmt.Errorf("parsing %s output: %w", fam.save, err)
	}
	st := &iptFamilyState{}
	filter := tables["filter"]
	if filter == nil {
		return st, nil
	}
	st.chain = filter.chains[iptChain]
	st.input = filter.chains[iptInput]
	if st.input != nil {
		for i, l := range st.input.rules {
			if l.target() == iptChain {
				st.jumps = append(st.jumps, iptJump{l, i})
			}
		}
	}
	return st, nil
}
