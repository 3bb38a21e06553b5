package winfw

// A parser for the subset of the PowerShell language that portwarden's
// scripts use. It parses the whole script before anything runs, as
// PowerShell does, so a script it cannot read does nothing at all.
// Constructs outside the subset (functions, loops other than foreach,
// double-quoted strings with expansions, redirections...) are reported as
// parse errors that say the simulation does not support them: a script
// must never seem to succeed because the simulation skipped a part.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// source is one script text; positions point into it.
type source struct {
	text string
}

type position struct {
	src *source
	off int
}

// lineCol returns the 1-based line and column of p.
func (p position) lineCol() (int, int) {
	if p.src == nil {
		return 0, 0
	}
	before := p.src.text[:min(p.off, len(p.src.text))]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// lineText is the source line p is on.
func (p position) lineText() string {
	if p.src == nil {
		return ""
	}
	t := p.src.text
	off := min(p.off, len(t))
	start := strings.LastIndexByte(t[:off], '\n') + 1
	end := strings.IndexByte(t[off:], '\n')
	if end < 0 {
		end = len(t)
	} else {
		end += off
	}
	return strings.TrimRight(t[start:end], "\r")
}

// parseError is a ParserError: the script does not run at all.
type parseError struct {
	pos         position
	msg         string
	id          string // FullyQualifiedErrorId
	unsupported bool
}

func (e *parseError) Error() string { return e.msg }

// AST.

type stmt interface{ stmtPos() position }

type expr interface{ exprPos() position }

type pipelineStmt struct {
	pos   position
	elems []any // first: expr or *commandExpr; rest: *commandExpr
}

type assignStmt struct {
	pos    position
	target expr // *varExpr, *indexExpr or *memberExpr
	op     string
	value  stmt
}

type ifStmt struct {
	pos    position
	conds  []*pipelineStmt
	blocks [][]stmt
	els    []stmt
	hasEls bool
}

type foreachStmt struct {
	pos  position
	v    string
	coll *pipelineStmt
	body []stmt
}

type catchClause struct {
	types []string
	body  []stmt
}

type tryStmt struct {
	pos        position
	body       []stmt
	catches    []catchClause
	finally    []stmt
	hasFinally bool
}

type throwStmt struct {
	pos   position
	value *pipelineStmt // nil: rethrow in catch
}

type exitStmt struct {
	pos   position
	value expr
}

func (s *pipelineStmt) stmtPos() position { return s.pos }
func (s *assignStmt) stmtPos() position   { return s.pos }
func (s *ifStmt) stmtPos() position       { return s.pos }
func (s *foreachStmt) stmtPos() position  { return s.pos }
func (s *tryStmt) stmtPos() position      { return s.pos }
func (s *throwStmt) stmtPos() position    { return s.pos }
func (s *exitStmt) stmtPos() position     { return s.pos }

type varExpr struct {
	pos  position
	name string // lower-case; "env:temp" for $env:TEMP
	// global is set for $global:name, which reads and writes the global
	// scope whatever scope the statement runs in.
	global bool
}

type strLit struct {
	pos position
	v   string
}

type numLit struct {
	pos position
	v   int64
}

// arrayExpr is @( statements ); subExpr is $( statements ).
type arrayExpr struct {
	pos   position
	stmts []stmt
}

type subExpr struct {
	pos   position
	stmts []stmt
}

type parenExpr struct {
	pos position
	s   stmt
}

type hashLit struct {
	pos  position
	keys []string
	vals []stmt
}

type typeLit struct {
	pos  position
	name string // as written, e.g. "Text.Encoding"
}

type castExpr struct {
	pos position
	typ string
	x   expr
}

type memberExpr struct {
	pos    position
	obj    expr
	name   string
	nameX  expr // dynamic member: $obj.$name
	static bool
	call   bool
	args   []expr
}

type indexExpr struct {
	pos   position
	obj   expr
	index expr
}

type binExpr struct {
	pos  position
	op   string // lower-case: "-eq", "+", "-and"...
	l, r expr
}

type unaryExpr struct {
	pos position
	op  string // "-not"
	x   expr
}

type commaExpr struct {
	pos   position
	items []expr
}

type scriptBlockExpr struct {
	pos  position
	body []stmt
	text string
}

// barewordExpr is an unquoted command argument: a string.
type barewordExpr struct {
	pos position
	v   string
}

type cmdArg struct {
	pos      position
	param    string // without "-"; "" for a value
	hasValue bool   // -Param:value
	value    expr
	splat    string // @name
}

type commandExpr struct {
	pos    position
	name   string
	callOp expr // & expr
	args   []cmdArg
}

func (e *varExpr) exprPos() position         { return e.pos }
func (e *strLit) exprPos() position          { return e.pos }
func (e *numLit) exprPos() position          { return e.pos }
func (e *arrayExpr) exprPos() position       { return e.pos }
func (e *subExpr) exprPos() position         { return e.pos }
func (e *parenExpr) exprPos() position       { return e.pos }
func (e *hashLit) exprPos() position         { return e.pos }
func (e *typeLit) exprPos() position         { return e.pos }
func (e *castExpr) exprPos() position        { return e.pos }
func (e *memberExpr) exprPos() position      { return e.pos }
func (e *indexExpr) exprPos() position       { return e.pos }
func (e *binExpr) exprPos() position         { return e.pos }
func (e *unaryExpr) exprPos() position       { return e.pos }
func (e *commaExpr) exprPos() position       { return e.pos }
func (e *scriptBlockExpr) exprPos() position { return e.pos }
func (e *barewordExpr) exprPos() position    { return e.pos }
func (e *commandExpr) exprPos() position     { return e.pos }

type parser struct {
	src *source
	s   string
	pos int
}

// parseScript parses a whole script.
func parseScript(text string) (stmts []stmt, err error) {
	p := &parser{src: &source{text: text}, s: text}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*parseError)
			if !ok {
				panic(r)
			}
			stmts, err = nil, pe
		}
	}()
	stmts = p.statements(false)
	p.skipSeparators()
	if p.pos < len(p.s) {
		p.fail("UnexpectedToken", "Unexpected token '%s' in expression or statement.", p.tokenText())
	}
	return stmts, nil
}

func (p *parser) here() position { return position{p.src, p.pos} }

func (p *parser) fail(id, format string, args ...any) {
	panic(&parseError{pos: p.here(), msg: fmt.Sprintf(format, args...), id: id})
}

func (p *parser) unsupported(what string) {
	panic(&parseError{pos: p.here(), unsupported: true, id: "NotSupportedBySimulation",
		msg: fmt.Sprintf("%s is not supported by the PowerShell simulation in lab/winfw.", what)})
}

// tokenText is the text at the current position up to white space, for
// error messages.
func (p *parser) tokenText() string {
	rest := p.s[p.pos:]
	end := strings.IndexFunc(rest, unicode.IsSpace)
	if end < 0 {
		end = len(rest)
	}
	if end > 30 {
		end = 30
	}
	return rest[:end]
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) peekAt(n int) byte {
	if p.pos+n < len(p.s) {
		return p.s[p.pos+n]
	}
	return 0
}

// skipSpace skips blanks, comments and line continuations, not newlines.
func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\v':
			p.pos++
		case c == '`' && (p.peekAt(1) == '\n' || (p.peekAt(1) == '\r' && p.peekAt(2) == '\n')):
			p.pos += 2
			if p.s[p.pos-1] == '\r' {
				p.pos++
			}
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		case c == '<' && p.peekAt(1) == '#':
			end := strings.Index(p.s[p.pos+2:], "#>")
			if end < 0 {
				p.fail("MissingEndOfComment", "The string is missing the terminator: #>.")
			}
			p.pos += 2 + end + 2
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.pos:])
			if r == '\u00a0' || (unicode.IsSpace(r) && r != '\n' && r != '\r') {
				p.pos += size
				continue
			}
			return
		}
	}
}

// skipNewlines skips blanks and newlines.
func (p *parser) skipNewlines() {
	for {
		p.skipSpace()
		if c := p.peek(); c == '\n' || c == '\r' {
			p.pos++
			continue
		}
		return
	}
}

// skipSeparators skips blanks, newlines and semicolons.
func (p *parser) skipSeparators() {
	for {
		p.skipNewlines()
		if p.peek() == ';' {
			p.pos++
			continue
		}
		return
	}
}

func (p *parser) expect(c byte, what string) {
	p.skipSpace()
	if p.peek() != c {
		p.fail("MissingToken", "Missing %s.", what)
	}
	p.pos++
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// word reads [A-Za-z0-9_-]+ at the current position without moving if
// there is none.
func (p *parser) wordAt(pos int) string {
	end := pos
	for end < len(p.s) && (isIdentByte(p.s[end]) || p.s[end] == '-') {
		end++
	}
	return p.s[pos:end]
}

// keywordAt reports whether keyword kw starts here as a whole word.
func (p *parser) keywordAt(kw string) bool {
	if !strings.HasPrefix(strings.ToLower(p.s[p.pos:min(len(p.s), p.pos+len(kw))]), kw) {
		return false
	}
	if len(p.s) < p.pos+len(kw) {
		return false
	}
	next := p.peekAt(len(kw))
	return !(isIdentByte(next) || next == '-')
}

// statements parses statements up to EOF or, when inBlock, a '}' or ')'.
func (p *parser) statements(inBlock bool) []stmt {
	var out []stmt
	for {
		p.skipSeparators()
		if p.eof() {
			if inBlock {
				p.fail("MissingEndCurlyBrace", "Missing closing '}' in statement block or type definition.")
			}
			return out
		}
		if c := p.peek(); c == '}' || c == ')' {
			if !inBlock {
				p.fail("UnexpectedToken", "Unexpected token '%c' in expression or statement.", c)
			}
			return out
		}
		out = append(out, p.statement())
		p.skipSpace()
		switch c := p.peek(); c {
		case 0, '\n', '\r', ';', '}', ')':
		default:
			p.fail("UnexpectedToken", "Unexpected token '%s' in expression or statement.", p.tokenText())
		}
	}
}

// block parses "{ statements }".
func (p *parser) block() []stmt {
	p.skipNewlines()
	if p.peek() != '{' {
		p.fail("MissingOpenBrace", "Missing statement block.")
	}
	p.pos++
	body := p.statements(true)
	if p.peek() != '}' {
		p.fail("MissingEndCurlyBrace", "Missing closing '}' in statement block or type definition.")
	}
	p.pos++
	return body
}

var unsupportedKeywords = []string{
	"function", "filter", "workflow", "while", "for", "do", "until", "switch",
	"return", "break", "continue", "trap", "param", "begin", "process", "end",
	"class", "enum", "using", "data", "dynamicparam", "configuration",
}

func (p *parser) statement() stmt {
	p.skipSpace()
	pos := p.here()
	switch {
	case p.keywordAt("if"):
		return p.ifStatement()
	case p.keywordAt("foreach"):
		return p.foreachStatement()
	case p.keywordAt("try"):
		return p.tryStatement()
	case p.keywordAt("throw"):
		p.pos += len("throw")
		p.skipSpace()
		if c := p.peek(); c == 0 || c == '\n' || c == '\r' || c == ';' || c == '}' {
			return &throwStmt{pos: pos}
		}
		return &throwStmt{pos: pos, value: p.pipeline()}
	case p.keywordAt("exit"):
		p.pos += len("exit")
		p.skipSpace()
		if c := p.peek(); c == 0 || c == '\n' || c == '\r' || c == ';' || c == '}' {
			return &exitStmt{pos: pos}
		}
		return &exitStmt{pos: pos, value: p.expression()}
	}
	for _, kw := range unsupportedKeywords {
		if p.keywordAt(kw) {
			p.unsupported("The '" + kw + "' keyword")
		}
	}
	if c := p.peek(); c == '.' && (p.peekAt(1) == ' ' || p.peekAt(1) == '\t') {
		p.unsupported("Dot-sourcing")
	}
	// An assignment starts with a variable, possibly indexed or with
	// members; try that, and fall back to a pipeline.
	if p.peek() == '$' {
		save := p.pos
		target := p.postfix(p.primary())
		p.skipSpace()
		op := ""
		switch {
		case p.peek() == '=' && p.peekAt(1) != '=':
			op = "="
		case p.peek() == '+' && p.peekAt(1) == '=':
			op = "+="
		case (p.peek() == '-' || p.peek() == '*' || p.peek() == '/' || p.peek() == '%') && p.peekAt(1) == '=':
			p.unsupported("The '" + string(p.peek()) + "=' operator")
		}
		if op != "" {
			switch target.(type) {
			case *varExpr, *indexExpr, *memberExpr:
			default:
				p.fail("InvalidLeftHandSide", "The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.")
			}
			p.pos += len(op)
			p.skipNewlines()
			return &assignStmt{pos: pos, target: target, op: op, value: p.assignValue()}
		}
		p.pos = save
	}
	return p.pipeline()
}

// assignValue is the right side of an assignment: a statement such as a
// pipeline, foreach or if.
func (p *parser) assignValue() stmt {
	p.skipSpace()
	switch {
	case p.keywordAt("foreach"):
		return p.foreachStatement()
	case p.keywordAt("if"):
		return p.ifStatement()
	case p.keywordAt("try"):
		return p.tryStatement()
	}
	if p.peek() == '$' {
		// Chained assignment $a = $b = 1.
		save := p.pos
		s := p.statement()
		if _, ok := s.(*assignStmt); ok {
			return s
		}
		p.pos = save
	}
	return p.pipeline()
}

func (p *parser) condition() *pipelineStmt {
	p.skipSpace()
	p.expect('(', "'(' after the keyword")
	p.skipNewlines()
	c := p.pipeline()
	p.skipNewlines()
	p.expect(')', "closing ')' after the condition")
	return c
}

func (p *parser) ifStatement() stmt {
	s := &ifStmt{pos: p.here()}
	p.pos += len("if")
	s.conds = append(s.conds, p.condition())
	s.blocks = append(s.blocks, p.block())
	for {
		save := p.pos
		p.skipNewlines()
		switch {
		case p.keywordAt("elseif"):
			p.pos += len("elseif")
			s.conds = append(s.conds, p.condition())
			s.blocks = append(s.blocks, p.block())
			continue
		case p.keywordAt("else"):
			p.pos += len("else")
			s.els = p.block()
			s.hasEls = true
			return s
		}
		p.pos = save
		return s
	}
}

func (p *parser) foreachStatement() stmt {
	s := &foreachStmt{pos: p.here()}
	p.pos += len("foreach")
	p.skipSpace()
	p.expect('(', "'(' after 'foreach'")
	p.skipNewlines()
	if p.peek() != '$' {
		p.fail("MissingVariableNameAfterForeach", "Missing variable name after foreach.")
	}
	v, ok := p.primary().(*varExpr)
	if !ok {
		p.fail("MissingVariableNameAfterForeach", "Missing variable name after foreach.")
	}
	s.v = v.name
	p.skipSpace()
	if !p.keywordAt("in") {
		p.fail("MissingInInForeach", "Missing 'in' after variable in foreach loop.")
	}
	p.pos += 2
	p.skipNewlines()
	s.coll = p.pipeline()
	p.skipNewlines()
	p.expect(')', "closing ')' after expression in 'foreach' statement")
	s.body = p.block()
	return s
}

func (p *parser) tryStatement() stmt {
	s := &tryStmt{pos: p.here()}
	p.pos += len("try")
	s.body = p.block()
	for {
		save := p.pos
		p.skipNewlines()
		switch {
		case p.keywordAt("catch"):
			p.pos += len("catch")
			var c catchClause
			for {
				p.skipSpace()
				if p.peek() != '[' {
					break
				}
				end := strings.IndexByte(p.s[p.pos:], ']')
				if end < 0 {
					p.fail("EndSquareBracketExpectedAtEndOfType", "Missing ] at end of type token.")
				}
				c.types = append(c.types, p.s[p.pos+1:p.pos+end])
				p.pos += end + 1
				p.skipSpace()
				if p.peek() == ',' {
					p.pos++
				}
			}
			c.body = p.block()
			s.catches = append(s.catches, c)
			continue
		case p.keywordAt("finally"):
			p.pos += len("finally")
			s.finally = p.block()
			s.hasFinally = true
			return s
		}
		p.pos = save
		if len(s.catches) == 0 {
			p.fail("MissingCatchOrFinally", "The Try statement is missing its Catch or Finally block.")
		}
		return s
	}
}

// pipeline parses "element | command | command".
func (p *parser) pipeline() *pipelineStmt {
	p.skipSpace()
	s := &pipelineStmt{pos: p.here()}
	if p.startsCommand() {
		s.elems = append(s.elems, p.command())
	} else {
		s.elems = append(s.elems, p.expression())
	}
	for {
		p.skipSpace()
		switch p.peek() {
		case '|':
			if p.peekAt(1) == '|' {
				p.unsupported("The '||' operator")
			}
			p.pos++
			p.skipNewlines()
			if !p.startsCommand() {
				p.fail("ExpressionsMustBeFirstInPipeline", "Expressions are only allowed as the first element of a pipeline.")
			}
			s.elems = append(s.elems, p.command())
		case '>':
			p.unsupported("Redirection")
		case '&':
			if p.peekAt(1) == '&' {
				p.unsupported("The '&&' operator")
			}
			p.unsupported("Background jobs ('&')")
		default:
			return s
		}
	}
}

// startsCommand reports whether a command (not an expression) starts here.
func (p *parser) startsCommand() bool {
	c := p.peek()
	switch {
	case c == '&':
		return true
	case c == '.' && (p.peekAt(1) == ' ' || p.peekAt(1) == '\t'):
		return true
	case c == '$' || c == '\'' || c == '"' || c == '(' || c == '@' || c == '[' || c == '!' || c == '{' || c == ',':
		return false
	case c >= '0' && c <= '9':
		return false
	case c == '-':
		// "-not $x" is an expression; "-5" too.
		return false
	case isSingleQuoteRune(p.s[p.pos:]):
		return false
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return unicode.IsLetter(r) || c == '_'
}

// commandWord reads a generic token: a command name or bare argument.
func (p *parser) commandWord() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '|' || c == '(' || c == ')' || c == '{' || c == '}' || c == ',' || c == '\'' || c == '"' || c == '&' || c == '>' || c == '<' {
			break
		}
		if c == '$' {
			p.unsupported("A variable inside a bare word")
		}
		if c == '`' {
			p.unsupported("Escapes in bare words")
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *parser) command() *commandExpr {
	c := &commandExpr{pos: p.here()}
	switch p.peek() {
	case '&':
		p.pos++
		p.skipSpace()
		c.callOp = p.postfix(p.primary())
	case '.':
		p.unsupported("Dot-sourcing")
	default:
		c.name = p.commandWord()
		if c.name == "" {
			p.fail("UnexpectedToken", "Unexpected token '%s' in expression or statement.", p.tokenText())
		}
	}
	for {
		p.skipSpace()
		switch ch := p.peek(); {
		case ch == 0 || ch == '\n' || ch == '\r' || ch == ';' || ch == '|' || ch == ')' || ch == '}':
			return c
		case ch == '>' || ch == '<':
			p.unsupported("Redirection")
		case ch == '&':
			p.unsupported("The '&' operator inside a command")
		case ch == '-' && (p.peekAt(1) >= 'a' && p.peekAt(1) <= 'z' || p.peekAt(1) >= 'A' && p.peekAt(1) <= 'Z'):
			a := cmdArg{pos: p.here()}
			p.pos++
			start := p.pos
			for p.pos < len(p.s) && (isIdentByte(p.s[p.pos])) {
				p.pos++
			}
			a.param = p.s[start:p.pos]
			if p.peek() == ':' {
				p.pos++
				a.hasValue = true
				a.value = p.argValue()
			}
			c.args = append(c.args, a)
		case ch == '-' && p.peekAt(1) == '-':
			p.unsupported("The end-of-parameters token '--'")
		case ch == '@' && isIdentByte(p.peekAt(1)):
			a := cmdArg{pos: p.here()}
			p.pos++
			start := p.pos
			for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
				p.pos++
			}
			a.splat = strings.ToLower(p.s[start:p.pos])
			c.args = append(c.args, a)
		default:
			c.args = append(c.args, cmdArg{pos: p.here(), value: p.argValue()})
		}
	}
}

// argValue parses a command argument: one item or a comma list.
func (p *parser) argValue() expr { return p.commaList(p.argItem) }

// commaList parses item, then ", item" while a comma follows (newlines may
// follow a comma); a single item is returned as itself.
func (p *parser) commaList(item func() expr) expr {
	pos := p.here()
	first := item()
	items := []expr{first}
	for {
		save := p.pos
		p.skipSpace()
		if p.peek() != ',' {
			p.pos = save
			break
		}
		p.pos++
		p.skipNewlines()
		items = append(items, item())
	}
	if len(items) == 1 {
		return first
	}
	return &commaExpr{pos: pos, items: items}
}

func (p *parser) argItem() expr {
	pos := p.here()
	switch c := p.peek(); {
	case c == '$' || c == '\'' || c == '"' || c == '(' || c == '@' || c == '{' || isSingleQuoteRune(p.s[p.pos:]):
		return p.postfix(p.primary())
	case c == '[':
		p.unsupported("A type literal as a command argument")
	case c >= '0' && c <= '9':
		w := p.commandWord()
		if n, err := strconv.ParseInt(w, 10, 64); err == nil {
			return &numLit{pos: pos, v: n}
		}
		return &barewordExpr{pos: pos, v: w}
	}
	w := p.commandWord()
	if w == "" {
		p.fail("UnexpectedToken", "Unexpected token '%s' in expression or statement.", p.tokenText())
	}
	return &barewordExpr{pos: pos, v: w}
}

// Expressions, lowest precedence first: -and/-or, comparison, additive,
// -not, comma, cast, postfix, primary.

func (p *parser) expression() expr { return p.logical() }

// operatorAt reads a dash operator such as "-eq" at the current position.
func (p *parser) operatorAt() string {
	if p.peek() != '-' {
		return ""
	}
	w := p.wordAt(p.pos + 1)
	if i := strings.IndexByte(w, '-'); i >= 0 {
		w = w[:i]
	}
	return "-" + strings.ToLower(w)
}

var comparisonOps = map[string]bool{
	"-eq": true, "-ne": true, "-gt": true, "-ge": true, "-lt": true, "-le": true,
	"-like": true, "-notlike": true, "-contains": true, "-notcontains": true,
	"-in": true, "-notin": true, "-replace": true, "-match": true, "-notmatch": true,
	"-ieq": true, "-ine": true, "-ilike": true, "-inotlike": true,
}

// caseInsensitiveOps maps the explicitly case-insensitive spellings to
// the default ones, which are case-insensitive too.
var caseInsensitiveOps = map[string]string{"-ieq": "-eq", "-ine": "-ne", "-ilike": "-like", "-inotlike": "-notlike"}

var unsupportedOps = map[string]bool{
	"-xor": true, "-band": true, "-bor": true, "-bxor": true, "-bnot": true, "-shl": true, "-shr": true,
	"-split": true, "-join": true, "-f": true, "-is": true, "-isnot": true, "-as": true,
	"-ceq": true, "-cne": true, "-clike": true, "-cnotlike": true, "-creplace": true, "-cmatch": true,
	"-ccontains": true, "-cin": true, "-cgt": true, "-clt": true,
}

func (p *parser) checkUnsupportedOp() {
	if op := p.operatorAt(); unsupportedOps[op] {
		p.unsupported("The '" + op + "' operator")
	}
}

func (p *parser) logical() expr {
	return p.binaryLevel(p.comparison, func(op string) bool { return op == "-and" || op == "-or" })
}

func (p *parser) comparison() expr {
	return p.binaryLevel(p.additive, func(op string) bool { return comparisonOps[op] })
}

// binaryLevel parses one left-associative level of binary operators: next,
// then "op next" while accept(op). An unsupported operator where an
// accepted one could stand is an error; case-insensitive spellings are
// folded to the default ones.
func (p *parser) binaryLevel(next func() expr, accept func(op string) bool) expr {
	l := next()
	for {
		save := p.pos
		p.skipSpace()
		op := p.operatorAt()
		if !accept(op) {
			p.checkUnsupportedOp()
			p.pos = save
			return l
		}
		pos := p.here()
		p.pos += len(op)
		p.skipNewlines()
		if canon, ok := caseInsensitiveOps[op]; ok {
			op = canon
		}
		l = &binExpr{pos: pos, op: op, l: l, r: next()}
	}
}

func (p *parser) additive() expr {
	l := p.unary()
	for {
		save := p.pos
		p.skipSpace()
		c := p.peek()
		if c == '+' && p.peekAt(1) != '=' && p.peekAt(1) != '+' {
			pos := p.here()
			p.pos++
			p.skipNewlines()
			l = &binExpr{pos: pos, op: "+", l: l, r: p.unary()}
			continue
		}
		if (c == '-' && (p.peekAt(1) == ' ' || p.peekAt(1) == '\t')) || c == '*' || c == '/' || c == '%' {
			p.unsupported("Arithmetic other than '+'")
		}
		p.pos = save
		return l
	}
}

func (p *parser) unary() expr {
	p.skipSpace()
	pos := p.here()
	if p.peek() == '!' {
		p.pos++
		return &unaryExpr{pos: pos, op: "-not", x: p.unary()}
	}
	if op := p.operatorAt(); op == "-not" {
		p.pos += len(op)
		p.skipSpace()
		return &unaryExpr{pos: pos, op: "-not", x: p.unary()}
	}
	if p.peek() == '-' || p.peek() == '+' {
		p.checkUnsupportedOp()
		p.unsupported("Unary '" + string(p.peek()) + "'")
	}
	return p.comma()
}

func (p *parser) comma() expr { return p.commaList(p.cast) }

func (p *parser) cast() expr {
	p.skipSpace()
	pos := p.here()
	if p.peek() == '[' {
		name := p.typeName()
		if strings.HasPrefix(p.s[p.pos:], "::") {
			return p.postfix(&typeLit{pos: pos, name: name})
		}
		p.skipSpace()
		if c := p.peek(); c == 0 || c == '\n' || c == '\r' || c == ';' || c == ')' || c == '}' || c == '|' {
			return &typeLit{pos: pos, name: name}
		}
		return &castExpr{pos: pos, typ: name, x: p.cast()}
	}
	return p.postfix(p.primary())
}

// typeName reads "[Name]" and returns Name.
func (p *parser) typeName() string {
	end := strings.IndexByte(p.s[p.pos:], ']')
	if end < 0 {
		p.fail("EndSquareBracketExpectedAtEndOfType", "Missing ] at end of type token.")
	}
	name := strings.TrimSpace(p.s[p.pos+1 : p.pos+end])
	if strings.ContainsAny(name, "[,") {
		// [string[]] and generics.
		if name == "string[" || strings.HasSuffix(name, "[") {
			p.unsupported("Array type literals")
		}
	}
	p.pos += end + 1
	return name
}

func (p *parser) postfix(x expr) expr {
	for {
		pos := p.here()
		switch {
		case p.peek() == '.' && p.peekAt(1) != '.':
			p.pos++
			x = p.member(x, pos, false)
		case strings.HasPrefix(p.s[p.pos:], "::"):
			p.pos += 2
			x = p.member(x, pos, true)
		case p.peek() == '[':
			p.pos++
			p.skipNewlines()
			idx := p.expression()
			p.skipNewlines()
			p.expect(']', "']' after the array index")
			x = &indexExpr{pos: pos, obj: x, index: idx}
		default:
			return x
		}
	}
}

func (p *parser) member(obj expr, pos position, static bool) expr {
	m := &memberExpr{pos: pos, obj: obj, static: static}
	switch c := p.peek(); {
	case c == '$':
		m.nameX = p.primary()
	case c == '\'':
		m.nameX = p.primary()
	case isIdentByte(c):
		start := p.pos
		for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
			p.pos++
		}
		m.name = p.s[start:p.pos]
	default:
		p.fail("MissingPropertyName", "Missing property name after reference operator.")
	}
	if p.peek() == '(' {
		p.pos++
		m.call = true
		p.skipNewlines()
		if p.peek() != ')' {
			for {
				p.skipNewlines()
				m.args = append(m.args, p.logicalNoComma())
				p.skipNewlines()
				if p.peek() == ',' {
					p.pos++
					continue
				}
				break
			}
		}
		p.expect(')', "')' in method call")
	}
	return m
}

// logicalNoComma parses a method argument: an expression in which a comma
// separates arguments instead of building an array.
func (p *parser) logicalNoComma() expr {
	// Method arguments in the scripts are simple; parse a cast-level
	// expression, then any binary operators.
	l := p.castNoComma()
	for {
		save := p.pos
		p.skipSpace()
		op := p.operatorAt()
		if !comparisonOps[op] && op != "-and" && op != "-or" && p.peek() != '+' {
			p.checkUnsupportedOp()
			p.pos = save
			return l
		}
		pos := p.here()
		if p.peek() == '+' {
			p.pos++
			op = "+"
		} else {
			p.pos += len(op)
		}
		p.skipNewlines()
		l = &binExpr{pos: pos, op: op, l: l, r: p.castNoComma()}
	}
}

func (p *parser) castNoComma() expr {
	p.skipSpace()
	if p.peek() == '!' {
		pos := p.here()
		p.pos++
		return &unaryExpr{pos: pos, op: "-not", x: p.castNoComma()}
	}
	return p.cast()
}

func (p *parser) primary() expr {
	p.skipSpace()
	pos := p.here()
	c := p.peek()
	switch {
	case c == '$':
		return p.variable()
	case c == '\'' || isSingleQuoteRune(p.s[p.pos:]):
		return &strLit{pos: pos, v: p.singleQuoted()}
	case c == '"':
		return &strLit{pos: pos, v: p.doubleQuoted()}
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		if p.pos < len(p.s) && (isIdentByte(p.s[p.pos]) || p.s[p.pos] == '.') {
			p.unsupported("This number format")
		}
		n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if err != nil {
			p.unsupported("This number")
		}
		return &numLit{pos: pos, v: n}
	case c == '(':
		p.pos++
		p.skipNewlines()
		var s stmt
		if p.peek() == ')' {
			p.fail("ExpectedExpression", "An expression was expected after '('.")
		}
		s = p.statement()
		p.skipNewlines()
		p.expect(')', "closing ')' in expression")
		return &parenExpr{pos: pos, s: s}
	case c == '@' && p.peekAt(1) == '(':
		p.pos += 2
		stmts := p.statements(true)
		p.expect(')', "closing ')' in subexpression")
		return &arrayExpr{pos: pos, stmts: stmts}
	case c == '@' && p.peekAt(1) == '{':
		p.pos += 2
		return p.hashtable(pos)
	case c == '@' && (p.peekAt(1) == '\'' || p.peekAt(1) == '"'):
		p.unsupported("Here-strings")
	case c == '{':
		p.pos++
		start := p.pos
		body := p.statements(true)
		text := p.s[start:p.pos]
		p.expect('}', "closing '}'")
		return &scriptBlockExpr{pos: pos, body: body, text: text}
	case c == '[':
		name := p.typeName()
		return &typeLit{pos: pos, name: name}
	}
	p.fail("ExpectedExpression", "You must provide a value expression following the '%s' operator.", p.tokenText())
	return nil
}

func isSingleQuoteRune(s string) bool {
	if s == "" {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b'
}

func (p *parser) variable() expr {
	pos := p.here()
	p.pos++ // $
	switch c := p.peek(); {
	case c == '(':
		p.pos++
		stmts := p.statements(true)
		p.expect(')', "closing ')' in subexpression")
		return &subExpr{pos: pos, stmts: stmts}
	case c == '{':
		p.unsupported("Braced variable names")
	case c == '_' && !isIdentByte(p.peekAt(1)):
		p.pos++
		return &varExpr{pos: pos, name: "_"}
	case isIdentByte(c) || c == '?':
		if c == '?' {
			p.pos++
			return &varExpr{pos: pos, name: "?"}
		}
		start := p.pos
		for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
			p.pos++
		}
		name := strings.ToLower(p.s[start:p.pos])
		if p.peek() == ':' && p.peekAt(1) != ':' {
			p.pos++
			start2 := p.pos
			for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
				p.pos++
			}
			switch name {
			case "env", "script", "global", "local":
			default:
				p.unsupported("The '" + name + ":' variable scope or drive")
			}
			global := name == "global"
			if name == "env" {
				name = "env:" + strings.ToLower(p.s[start2:p.pos])
			} else {
				name = strings.ToLower(p.s[start2:p.pos])
			}
			return &varExpr{pos: pos, name: name, global: global}
		}
		return &varExpr{pos: pos, name: name}
	}
	p.fail("InvalidVariableReference", "Invalid variable reference. '$' was not followed by a valid variable name character.")
	return nil
}

// singleQuoted reads a verbatim string; a doubled quote is one quote.
// PowerShell treats U+2018-U+201B as single quotes too.
func (p *parser) singleQuoted() string {
	_, size := utf8.DecodeRuneInString(p.s[p.pos:])
	p.pos += size
	var b strings.Builder
	for {
		if p.pos >= len(p.s) {
			p.fail("TerminatorExpectedAtEndOfString", "The string is missing the terminator: '.")
		}
		r, size := utf8.DecodeRuneInString(p.s[p.pos:])
		if r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b' {
			r2, size2 := utf8.DecodeRuneInString(p.s[p.pos+size:])
			if r2 == '\'' || r2 == '\u2018' || r2 == '\u2019' || r2 == '\u201a' || r2 == '\u201b' {
				b.WriteRune(r2)
				p.pos += size + size2
				continue
			}
			p.pos += size
			return b.String()
		}
		b.WriteRune(r)
		p.pos += size
	}
}

// doubleQuoted reads a double-quoted string without expansions; any '$'
// or backtick in it is unsupported rather than silently taken literally.
func (p *parser) doubleQuoted() string {
	p.pos++
	start := p.pos
	for {
		if p.pos >= len(p.s) {
			p.fail("TerminatorExpectedAtEndOfString", "The string is missing the terminator: \".")
		}
		switch p.s[p.pos] {
		case '"':
			if p.peekAt(1) == '"' {
				p.unsupported("Doubled quotes in double-quoted strings")
			}
			v := p.s[start:p.pos]
			p.pos++
			return v
		case '$', '`':
			p.unsupported("Variable expansion and escapes in double-quoted strings")
		}
		p.pos++
	}
}

// hashtable parses the rest of "@{ key = value; ... }".
func (p *parser) hashtable(pos position) expr {
	h := &hashLit{pos: pos}
	for {
		p.skipSeparators()
		if p.peek() == '}' {
			p.pos++
			return h
		}
		var key string
		switch c := p.peek(); {
		case c == '\'':
			key = p.singleQuoted()
		case isIdentByte(c):
			start := p.pos
			for p.pos < len(p.s) && (isIdentByte(p.s[p.pos]) || p.s[p.pos] == '-') {
				p.pos++
			}
			key = p.s[start:p.pos]
		default:
			p.unsupported("This kind of hashtable key")
		}
		p.skipSpace()
		p.expect('=', "'=' operator after key in hash literal")
		p.skipNewlines()
		h.keys = append(h.keys, key)
		h.vals = append(h.vals, p.statement())
		p.skipSpace()
		if c := p.peek(); c != ';' && c != '\n' && c != '\r' && c != '}' {
			p.fail("MissingEndCurlyBrace", "Missing '=' operator after key in hash literal.")
		}
	}
}
