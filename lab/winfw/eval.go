package winfw

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/portwarden/portwarden/lab/wsman"
)

// Control flow of the interpreter travels as Go errors.

// throwErr is a terminating error: try/catch can catch it.
type throwErr struct{ rec *errorRecord }

func (e *throwErr) Error() string { return e.rec.message }

// exitErr is the exit statement.
type exitErr struct{ code int }

func (e *exitErr) Error() string { return fmt.Sprintf("exit %d", e.code) }

// fatalErr is something the simulation cannot do. It is not catchable:
// a script must not carry on past a part the simulation skipped.
type fatalErr struct {
	msg string
	pos position
}

func (e *fatalErr) Error() string { return e.msg }

func unsupportedAt(pos position, format string, args ...any) error {
	return &fatalErr{pos: pos, msg: fmt.Sprintf(format, args...) + " (not supported by the PowerShell simulation in lab/winfw)"}
}

type scope struct {
	vars   map[string]any
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{vars: map[string]any{}, parent: parent} }

func (s *scope) get(name string) (any, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) set(name string, v any) { s.vars[name] = v }

// global is the outermost scope: the top level of a -Command or
// -EncodedCommand script. A script block run with & gets a child scope.
func (s *scope) global() *scope {
	for s.parent != nil {
		s = s.parent
	}
	return s
}

const maxCallDepth = 50

// interp runs one powershell.exe invocation against the firewall model.
type interp struct {
	ctx      context.Context
	fw       *Firewall
	system   bool // the script runs as SYSTEM (a scheduled task), not as the Administrator
	st       *State
	dirty    bool // the firewall state changed
	errOut   strings.Builder
	depth    int
	failed   bool // the last statement wrote an error ($? is false)
	catching []*errorRecord
}

// The simulated host's name and the account's temporary directory.
const (
	computerName = "WINHOST"
	tempDir      = `C:\Users\Administrator\AppData\Local\Temp`
)

func (in *interp) lookupVar(sc *scope, name string, pos position) (any, error) {
	switch name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "?":
		return !in.failed, nil
	case "env:temp", "env:tmp":
		return tempDir, nil
	case "env:computername":
		return computerName, nil
	case "env:username":
		return "Administrator", nil
	case "env:systemroot", "env:windir":
		return `C:\Windows`, nil
	case "env:programdata":
		return programData, nil
	case "psitem":
		name = "_"
	}
	if strings.HasPrefix(name, "env:") {
		return nil, nil
	}
	v, _ := sc.get(name)
	return v, nil
}

// execBlock runs statements and returns what they wrote to the output.
func (in *interp) execBlock(stmts []stmt, sc *scope) ([]any, error) {
	var out []any
	for _, s := range stmts {
		if err := in.ctx.Err(); err != nil {
			return out, &fatalErr{msg: "The pipeline has been stopped."}
		}
		items, err := in.execStmt(s, sc)
		out = append(out, items...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (in *interp) execStmt(s stmt, sc *scope) ([]any, error) {
	switch s := s.(type) {
	case *pipelineStmt:
		in.failed = false
		return in.evalPipeline(s, sc)
	case *assignStmt:
		in.failed = false
		return nil, in.assign(s, sc)
	case *ifStmt:
		for i, c := range s.conds {
			v, err := in.pipelineValue(c, sc)
			if err != nil {
				return nil, err
			}
			if toBool(v) {
				return in.execBlock(s.blocks[i], sc)
			}
		}
		if s.hasEls {
			return in.execBlock(s.els, sc)
		}
		return nil, nil
	case *foreachStmt:
		coll, err := in.pipelineValue(s.coll, sc)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, item := range asList(coll) {
			sc.set(s.v, item)
			items, err := in.execBlock(s.body, sc)
			out = append(out, items...)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	case *tryStmt:
		return in.execTry(s, sc)
	case *throwStmt:
		if s.value == nil {
			if n := len(in.catching); n > 0 {
				return nil, &throwErr{rec: in.catching[n-1]}
			}
			return nil, &throwErr{rec: &errorRecord{message: "ScriptHalted", category: "OperationStopped", reason: "RuntimeException", fqid: "ScriptHalted", pos: s.pos}}
		}
		v, err := in.pipelineValue(s.value, sc)
		if err != nil {
			return nil, err
		}
		if rec, ok := v.(*errorRecord); ok {
			return nil, &throwErr{rec: rec}
		}
		msg := toString(v)
		return nil, &throwErr{rec: &errorRecord{message: msg, category: "OperationStopped", reason: "RuntimeException",
			targetName: msg, targetType: "String", fqid: msg, pos: s.pos}}
	case *exitStmt:
		code := int64(0)
		if s.value != nil {
			v, err := in.evalExpr(s.value, sc)
			if err != nil {
				return nil, err
			}
			n, ok := toInt(v)
			if !ok {
				return nil, unsupportedAt(s.pos, "exit with a non-numeric value")
			}
			code = n
		}
		return nil, &exitErr{code: int(code)}
	}
	return nil, unsupportedAt(s.stmtPos(), "This statement")
}

func (in *interp) execTry(s *tryStmt, sc *scope) ([]any, error) {
	out, err := in.execBlock(s.body, sc)
	var te *throwErr
	if errors.As(err, &te) && len(s.catches) > 0 {
		c := s.catches[0]
		if len(c.types) > 0 {
			return out, unsupportedAt(s.pos, "catch blocks for specific exception types")
		}
		sc.set("_", te.rec)
		in.catching = append(in.catching, te.rec)
		items, cerr := in.execBlock(c.body, sc)
		in.catching = in.catching[:len(in.catching)-1]
		out = append(out, items...)
		err = cerr
	}
	var fe *fatalErr
	if s.hasFinally && !errors.As(err, &fe) {
		items, ferr := in.execBlock(s.finally, sc)
		out = append(out, items...)
		if ferr != nil {
			err = ferr
		}
	}
	return out, err
}

// pipelineValue evaluates a pipeline used as a value (conditions, foreach
// collections, throw): an expression keeps its value, commands give their
// collapsed output.
func (in *interp) pipelineValue(p *pipelineStmt, sc *scope) (any, error) {
	if len(p.elems) == 1 {
		if e, ok := p.elems[0].(expr); ok {
			if _, isCmd := e.(*commandExpr); !isCmd {
				return in.evalExpr(e, sc)
			}
		}
	}
	items, err := in.evalPipeline(p, sc)
	if err != nil {
		return nil, err
	}
	return collapse(items), nil
}

// stmtValue evaluates the right side of an assignment.
func (in *interp) stmtValue(s stmt, sc *scope) (any, error) {
	switch s := s.(type) {
	case *pipelineStmt:
		return in.pipelineValue(s, sc)
	case *assignStmt:
		if err := in.assign(s, sc); err != nil {
			return nil, err
		}
		return in.evalExpr(s.target, sc)
	}
	items, err := in.execStmt(s, sc)
	if err != nil {
		return nil, err
	}
	return collapse(items), nil
}

func (in *interp) evalPipeline(p *pipelineStmt, sc *scope) ([]any, error) {
	var items []any
	piped := false
	for i, el := range p.elems {
		switch el := el.(type) {
		case *commandExpr:
			out, err := in.invoke(el, sc, items, piped)
			if err != nil {
				if i == len(p.elems)-1 {
					// What the last command wrote before it failed has
					// reached the output already (a script block run
					// with & that throws half-way).
					return out, err
				}
				return nil, err
			}
			items = out
		case expr:
			v, err := in.evalExpr(el, sc)
			if err != nil {
				return nil, err
			}
			items = unroll(v)
			if v == nil && len(p.elems) == 1 {
				items = []any{nil}
			}
		}
		_ = i
		piped = true
	}
	return items, nil
}

func (in *interp) assign(s *assignStmt, sc *scope) error {
	v, err := in.stmtValue(s.value, sc)
	if err != nil {
		return err
	}
	if s.op == "+=" {
		old, err := in.evalExpr(s.target, sc)
		if err != nil {
			return err
		}
		v, err = in.add(old, v, s.pos)
		if err != nil {
			return err
		}
	}
	switch t := s.target.(type) {
	case *varExpr:
		switch t.name {
		case "null":
			// $null = ... discards the value, as in PowerShell.
			return nil
		case "true", "false", "?", "_":
			if t.name != "_" {
				return in.runtimeError(t.pos, "Cannot overwrite variable "+t.name+" because it is read-only or constant.", "WriteError", "SessionStateUnauthorizedAccessException", "VariableNotWritable")
			}
		}
		if strings.HasPrefix(t.name, "env:") {
			return unsupportedAt(t.pos, "Setting environment variables")
		}
		if t.global {
			sc = sc.global()
		}
		sc.set(t.name, v)
		return nil
	case *indexExpr:
		obj, err := in.evalExpr(t.obj, sc)
		if err != nil {
			return err
		}
		idx, err := in.evalExpr(t.index, sc)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *psHashtable:
			if idx == nil {
				return in.runtimeError(t.pos, "Index operation failed; the array index evaluated to null.", "InvalidOperation", "RuntimeException", "NullArrayIndex")
			}
			o.set(toString(idx), v)
			return nil
		case []any:
			n, ok := toInt(idx)
			if !ok || n < 0 || int(n) >= len(o) {
				return in.runtimeError(t.pos, "Index was outside the bounds of the array.", "InvalidOperation", "IndexOutOfRangeException", "System.IndexOutOfRangeException")
			}
			o[n] = v
			return nil
		case nil:
			return in.runtimeError(t.pos, "Cannot index into a null array.", "InvalidOperation", "RuntimeException", "NullArray")
		}
		return unsupportedAt(t.pos, "Assigning to an index of %s", typeName(obj))
	case *memberExpr:
		if t.static || t.call || t.nameX != nil {
			return unsupportedAt(t.pos, "This assignment target")
		}
		obj, err := in.evalExpr(t.obj, sc)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *psObject:
			if _, ok := o.get(t.name); !ok && o.typeName != "System.Management.Automation.PSCustomObject" {
				return in.runtimeError(t.pos, fmt.Sprintf("The property '%s' cannot be found on this object. Verify that the property exists and can be set.", t.name), "InvalidOperation", "RuntimeException", "PropertyAssignmentException")
			}
			if o.typeName != "System.Management.Automation.PSCustomObject" {
				return unsupportedAt(t.pos, "Changing %s objects in place (use the Set- cmdlets)", o.typeName)
			}
			o.set(t.name, v)
			return nil
		case *psHashtable:
			o.set(t.name, v)
			return nil
		}
		return unsupportedAt(t.pos, "Setting a property of %s", typeName(obj))
	}
	return unsupportedAt(s.pos, "This assignment")
}

// runtimeError is a statement-terminating error such as a failed method
// call: catchable, and the end of the script if not caught.
func (in *interp) runtimeError(pos position, msg, category, reason, fqid string) error {
	return &throwErr{rec: &errorRecord{message: msg, category: category, reason: reason, fqid: fqid, pos: pos}}
}

func (in *interp) add(l, r any, pos position) (any, error) {
	switch x := l.(type) {
	case nil:
		if arr, ok := r.([]any); ok {
			return append([]any(nil), arr...), nil
		}
		return r, nil
	case int64:
		n, ok := toInt(r)
		if !ok {
			return nil, in.runtimeError(pos, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", toString(r)), "InvalidArgument", "RuntimeException", "InvalidCastFromStringToInteger")
		}
		return x + n, nil
	case string:
		return x + toString(r), nil
	case []any:
		out := append(make([]any, 0, len(x)+1), x...)
		if arr, ok := r.([]any); ok {
			return append(out, arr...), nil
		}
		return append(out, r), nil
	case *psHashtable:
		y, ok := r.(*psHashtable)
		if !ok {
			return nil, in.runtimeError(pos, "A hash table can only be added to another hash table.", "InvalidOperation", "RuntimeException", "AddHashTableToNonHashTable")
		}
		out := newHashtable(x.ordered)
		for _, k := range x.keys {
			out.set(k, x.m[strings.ToLower(k)])
		}
		for _, k := range y.keys {
			if _, dup := out.get(k); dup {
				return nil, in.runtimeError(pos, fmt.Sprintf("Item has already been added. Key in dictionary: '%s'  Key being added: '%s'", k, k), "InvalidOperation", "RuntimeException", "System.ArgumentException")
			}
			out.set(k, y.m[strings.ToLower(k)])
		}
		return out, nil
	}
	return nil, in.runtimeError(pos, fmt.Sprintf("Method invocation failed because [%s] does not contain a method named 'op_Addition'.", typeName(l)), "InvalidOperation", "RuntimeException", "MethodNotFound")
}

func (in *interp) evalExpr(e expr, sc *scope) (any, error) {
	switch e := e.(type) {
	case *varExpr:
		if e.global {
			sc = sc.global()
		}
		return in.lookupVar(sc, e.name, e.pos)
	case *strLit:
		return e.v, nil
	case *numLit:
		return e.v, nil
	case *barewordExpr:
		return e.v, nil
	case *arrayExpr:
		items, err := in.execBlock(e.stmts, sc)
		if err != nil {
			return nil, err
		}
		if items == nil {
			items = []any{}
		}
		return items, nil
	case *subExpr:
		items, err := in.execBlock(e.stmts, sc)
		if err != nil {
			return nil, err
		}
		return collapse(items), nil
	case *parenExpr:
		return in.stmtValue(e.s, sc)
	case *hashLit:
		h := newHashtable(false)
		for i, k := range e.keys {
			v, err := in.stmtValue(e.vals[i], sc)
			if err != nil {
				return nil, err
			}
			if _, dup := h.get(k); dup {
				return nil, in.runtimeError(e.pos, fmt.Sprintf("Duplicate keys '%s' are not allowed in hash literals.", k), "ParserError", "ParseException", "DuplicateKeyInHashLiteral")
			}
			h.set(k, v)
		}
		return h, nil
	case *scriptBlockExpr:
		return &scriptBlock{body: e.body, text: e.text}, nil
	case *commaExpr:
		out := make([]any, 0, len(e.items))
		for _, it := range e.items {
			v, err := in.evalExpr(it, sc)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *castExpr:
		return in.cast(e, sc)
	case *typeLit:
		if normType(e.name) == "security.principal.securityidentifier" {
			return psType{e.name}, nil
		}
		return nil, unsupportedAt(e.pos, "The type literal [%s] as a value", e.name)
	case *unaryExpr:
		v, err := in.evalExpr(e.x, sc)
		if err != nil {
			return nil, err
		}
		return !toBool(v), nil
	case *binExpr:
		return in.binary(e, sc)
	case *indexExpr:
		obj, err := in.evalExpr(e.obj, sc)
		if err != nil {
			return nil, err
		}
		idx, err := in.evalExpr(e.index, sc)
		if err != nil {
			return nil, err
		}
		return in.index(obj, idx, e.pos)
	case *memberExpr:
		return in.member(e, sc)
	}
	return nil, unsupportedAt(e.exprPos(), "This expression")
}

func (in *interp) index(obj, idx any, pos position) (any, error) {
	switch o := obj.(type) {
	case nil:
		return nil, in.runtimeError(pos, "Cannot index into a null array.", "InvalidOperation", "RuntimeException", "NullArray")
	case *psHashtable:
		if idx == nil {
			return nil, nil
		}
		v, _ := o.get(toString(idx))
		return v, nil
	case []any, []byte:
		list := unroll(o)
		if _, many := idx.([]any); many {
			return nil, unsupportedAt(pos, "Array slices")
		}
		n, ok := toInt(idx)
		if !ok {
			return nil, in.runtimeError(pos, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\".", toString(idx)), "InvalidArgument", "RuntimeException", "InvalidCastFromStringToInteger")
		}
		if n < 0 {
			n += int64(len(list))
		}
		if n < 0 || int(n) >= len(list) {
			return nil, nil
		}
		return list[n], nil
	case string:
		n, ok := toInt(idx)
		r := []rune(o)
		if !ok || n < 0 || int(n) >= len(r) {
			return nil, nil
		}
		return string(r[n]), nil
	}
	// Indexing a scalar with 0 gives the scalar, as in PowerShell 3+.
	if n, ok := toInt(idx); ok && n == 0 {
		return obj, nil
	}
	return nil, unsupportedAt(pos, "Indexing into %s", typeName(obj))
}

func (in *interp) binary(e *binExpr, sc *scope) (any, error) {
	l, err := in.evalExpr(e.l, sc)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "-and":
		if !toBool(l) {
			return false, nil
		}
		r, err := in.evalExpr(e.r, sc)
		return toBool(r), err
	case "-or":
		if toBool(l) {
			return true, nil
		}
		r, err := in.evalExpr(e.r, sc)
		return toBool(r), err
	}
	r, err := in.evalExpr(e.r, sc)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "+":
		return in.add(l, r, e.pos)
	case "-contains", "-notcontains":
		found := false
		for _, x := range asList(l) {
			if psEqual(x, r) {
				found = true
				break
			}
		}
		return found == (e.op == "-contains"), nil
	case "-in", "-notin":
		found := false
		for _, x := range asList(r) {
			if psEqual(x, l) {
				found = true
				break
			}
		}
		return found == (e.op == "-in"), nil
	case "-replace":
		pat, repl := toString(r), ""
		if arr, ok := r.([]any); ok {
			if len(arr) != 2 {
				return nil, in.runtimeError(e.pos, "The -replace operator allows only two elements to follow it, not "+fmt.Sprint(len(arr))+".", "InvalidOperation", "RuntimeException", "BadReplaceArgument")
			}
			pat, repl = toString(arr[0]), toString(arr[1])
		}
		re, err := regexp.Compile("(?i)" + pat)
		if err != nil {
			return nil, in.runtimeError(e.pos, fmt.Sprintf("The regular expression pattern %s is not valid.", pat), "InvalidOperation", "RuntimeException", "InvalidRegularExpression")
		}
		if strings.Contains(repl, "$") {
			return nil, unsupportedAt(e.pos, "Substitutions in -replace")
		}
		if list, ok := l.([]any); ok {
			out := make([]any, len(list))
			for i, x := range list {
				out[i] = re.ReplaceAllLiteralString(toString(x), repl)
			}
			return out, nil
		}
		return re.ReplaceAllLiteralString(toString(l), repl), nil
	}
	cmp := func(x any) (bool, error) {
		switch e.op {
		case "-eq":
			return psEqual(x, r), nil
		case "-ne":
			return !psEqual(x, r), nil
		case "-like":
			return wildcardMatch(toString(r), toString(x)), nil
		case "-notlike":
			return !wildcardMatch(toString(r), toString(x)), nil
		case "-match", "-notmatch":
			re, err := regexp.Compile("(?i)" + toString(r))
			if err != nil {
				return false, in.runtimeError(e.pos, fmt.Sprintf("The regular expression pattern %s is not valid.", toString(r)), "InvalidOperation", "RuntimeException", "InvalidRegularExpression")
			}
			return re.MatchString(toString(x)) == (e.op == "-match"), nil
		case "-gt":
			return psCompare(x, r) > 0, nil
		case "-ge":
			return psCompare(x, r) >= 0, nil
		case "-lt":
			return psCompare(x, r) < 0, nil
		case "-le":
			return psCompare(x, r) <= 0, nil
		}
		return false, unsupportedAt(e.pos, "The '%s' operator", e.op)
	}
	if list, ok := l.([]any); ok {
		// With a collection on the left, comparison operators filter.
		out := []any{}
		for _, x := range list {
			ok, err := cmp(x)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, x)
			}
		}
		return out, nil
	}
	return cmp(l)
}

func normType(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "system.")
	return n
}

func (in *interp) cast(e *castExpr, sc *scope) (any, error) {
	t := normType(e.typ)
	if t == "ordered" || t == "pscustomobject" {
		h, ok := e.x.(*hashLit)
		if !ok {
			if t == "ordered" {
				return nil, in.runtimeError(e.pos, "The ordered attribute can be specified only on a hash literal node.", "ParserError", "ParseException", "OrderedAttributeOnlyOnHashLiteralNode")
			}
			return nil, unsupportedAt(e.pos, "[pscustomobject] of anything but a hash literal")
		}
		v, err := in.evalExpr(h, sc)
		if err != nil {
			return nil, err
		}
		ht := v.(*psHashtable)
		if t == "ordered" {
			ht.ordered = true
			return ht, nil
		}
		o := newObject("System.Management.Automation.PSCustomObject")
		for _, k := range ht.keys {
			o.set(k, ht.m[strings.ToLower(k)])
		}
		return o, nil
	}
	if t == "ref" {
		return in.ref(e, sc)
	}
	v, err := in.evalExpr(e.x, sc)
	if err != nil {
		return nil, err
	}
	switch t {
	case "string":
		if v == nil {
			return "", nil
		}
		return toString(v), nil
	case "int", "int32", "int64", "long":
		n, ok := toInt(v)
		if !ok {
			return nil, in.runtimeError(e.pos, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", toString(v)), "InvalidArgument", "RuntimeException", "InvalidCastFromStringToInteger")
		}
		return n, nil
	case "bool", "boolean":
		return toBool(v), nil
	case "array", "object[]":
		return append([]any{}, asList(v)...), nil
	case "void":
		return nil, nil
	}
	return nil, unsupportedAt(e.pos, "The cast [%s]", e.typ)
}

// psRef is a [ref] to a variable, for a method's out parameter.
type psRef struct {
	sc   *scope
	name string
}

func (r *psRef) set(v any) { r.sc.set(r.name, v) }

// ref is [ref]$name: the simulation takes only a variable that exists
// (a [ref] of anything else refers to a copy of a value, not to the
// variable).
func (in *interp) ref(e *castExpr, sc *scope) (any, error) {
	v, isVar := e.x.(*varExpr)
	if !isVar || v.global || strings.Contains(v.name, ":") {
		return nil, unsupportedAt(e.pos, "[ref] of anything but a variable")
	}
	for s := sc; s != nil; s = s.parent {
		if _, ok := s.vars[v.name]; ok {
			return &psRef{sc: s, name: v.name}, nil
		}
	}
	return nil, unsupportedAt(e.pos, "[ref]$%s of a variable that is not set", v.name)
}

func (in *interp) member(e *memberExpr, sc *scope) (any, error) {
	name := e.name
	if e.nameX != nil {
		n, err := in.evalExpr(e.nameX, sc)
		if err != nil {
			return nil, err
		}
		name = toString(n)
	}
	var args []any
	for _, a := range e.args {
		v, err := in.evalExpr(a, sc)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	if e.static {
		tl, ok := e.obj.(*typeLit)
		if !ok {
			return nil, unsupportedAt(e.pos, "Static members of a value")
		}
		return in.staticMember(tl, name, e.call, args, e.pos)
	}
	obj, err := in.evalExpr(e.obj, sc)
	if err != nil {
		return nil, err
	}
	if e.call {
		return in.callMethod(obj, name, args, e.pos)
	}
	return getMember(obj, name), nil
}

// getMember is property access; a missing property is $null, as outside
// strict mode. Arrays enumerate members of their elements.
func getMember(obj any, name string) any {
	lname := strings.ToLower(name)
	if lname == "psobject" && obj != nil {
		return psObjectView(obj)
	}
	switch o := obj.(type) {
	case nil:
		if lname == "count" || lname == "length" {
			return int64(0)
		}
		return nil
	case *psObject:
		if v, ok := o.get(name); ok {
			return v
		}
	case *psHashtable:
		if v, ok := o.get(name); ok {
			return v
		}
		switch lname {
		case "count":
			return int64(len(o.keys))
		case "keys":
			keys := make([]any, len(o.keys))
			for i, k := range o.keys {
				keys[i] = k
			}
			return keys
		}
		return nil
	case []any:
		if lname == "count" || lname == "length" {
			return int64(len(o))
		}
		var out []any
		for _, x := range o {
			v := getMember(x, name)
			if v == nil {
				continue
			}
			out = append(out, unroll(v)...)
		}
		return collapse(out)
	case []byte:
		if lname == "count" || lname == "length" {
			return int64(len(o))
		}
		return nil
	case string:
		if lname == "length" {
			return int64(utf8.RuneCountInString(o))
		}
	case *errorRecord:
		if v := o.member(name); v != nil {
			return v
		}
	case psIdentity:
		if lname == "value" {
			return o.sid
		}
	case psEnum:
		if lname == "value__" {
			return o.val
		}
	}
	if lname == "count" || lname == "length" {
		return int64(1)
	}
	return nil
}

func (in *interp) callMethod(obj any, name string, args []any, pos position) (any, error) {
	lname := strings.ToLower(name)
	argStr := func(i int) string {
		if i < len(args) {
			return toString(args[i])
		}
		return ""
	}
	if lname == "tostring" && len(args) == 0 {
		return toString(obj), nil
	}
	if v, ok, err := in.dotnetMethod(obj, name, args, pos); ok {
		return v, err
	}
	if v, ok, err := in.aclMethod(obj, name, args, pos); ok {
		return v, err
	}
	switch o := obj.(type) {
	case *psMutex:
		return in.mutexMethod(o, name, args, pos)
	case nil:
		return nil, in.runtimeError(pos, "You cannot call a method on a null-valued expression.", "InvalidOperation", "RuntimeException", "InvokeMethodOnNull")
	case string:
		switch lname {
		case "tolower", "tolowerinvariant":
			return strings.ToLower(o), nil
		case "toupper", "toupperinvariant":
			return strings.ToUpper(o), nil
		case "trim":
			if len(args) == 0 {
				return strings.TrimSpace(o), nil
			}
		case "startswith":
			return strings.HasPrefix(o, argStr(0)), nil
		case "endswith":
			return strings.HasSuffix(o, argStr(0)), nil
		case "contains":
			return strings.Contains(o, argStr(0)), nil
		case "replace":
			if len(args) == 2 {
				return strings.ReplaceAll(o, argStr(0), argStr(1)), nil
			}
		case "split":
			if len(args) == 1 {
				parts := strings.FieldsFunc(o, func(r rune) bool { return strings.ContainsRune(argStr(0), r) })
				if !strings.ContainsAny(o, argStr(0)) {
					parts = []string{o}
				}
				out := make([]any, len(parts))
				for i, p := range parts {
					out[i] = p
				}
				return out, nil
			}
		}
	case encoding:
		if lname == "getstring" && len(args) == 1 {
			b, ok := args[0].([]byte)
			if !ok {
				return nil, unsupportedAt(pos, "Encoding.GetString of %s", typeName(args[0]))
			}
			if o.name == "unicode" {
				return wsman.DecodeUTF16LE(b), nil
			}
			return strings.ToValidUTF8(string(b), "\uFFFD"), nil
		}
		if lname == "getbytes" && len(args) == 1 {
			if o.name == "unicode" {
				return wsman.EncodeUTF16LE(toString(args[0])), nil
			}
			return []byte(toString(args[0])), nil
		}
	}
	return nil, unsupportedAt(pos, "The method [%s].%s()", typeName(obj), name)
}

func (in *interp) staticMember(t *typeLit, name string, call bool, args []any, pos position) (any, error) {
	typ := normType(t.name)
	lname := strings.ToLower(name)
	if v, ok, err := in.dotnetStatic(typ, name, call, args, pos); ok {
		return v, err
	}
	switch {
	case (typ == "text.encoding") && !call:
		switch lname {
		case "utf8":
			return encoding{"utf8"}, nil
		case "unicode":
			return encoding{"unicode"}, nil
		case "ascii":
			return encoding{"ascii"}, nil
		}
	case typ == "convert" && call && lname == "frombase64string" && len(args) == 1:
		if args[0] == nil {
			return nil, in.runtimeError(pos, "Exception calling \"FromBase64String\" with \"1\" argument(s): \"Value cannot be null.\r\nParameter name: s\"", "NotSpecified", "MethodInvocationException", "ArgumentNullException")
		}
		s := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, toString(args[0]))
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, in.runtimeError(pos, "Exception calling \"FromBase64String\" with \"1\" argument(s): \"The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. \"", "NotSpecified", "MethodInvocationException", "FormatException")
		}
		return b, nil
	case typ == "convert" && call && lname == "tobase64string" && len(args) == 1:
		b, ok := args[0].([]byte)
		if !ok {
			return nil, unsupportedAt(pos, "[Convert]::ToBase64String of %s", typeName(args[0]))
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case typ == "scriptblock" && call && lname == "create" && len(args) == 1:
		text := toString(args[0])
		body, err := parseScript(text)
		if err != nil {
			var pe *parseError
			if errors.As(err, &pe) && pe.unsupported {
				return nil, &fatalErr{pos: pe.pos, msg: pe.msg}
			}
			return nil, in.runtimeError(pos, "Exception calling \"Create\" with \"1\" argument(s): \""+parseErrorText(err)+"\"", "NotSpecified", "MethodInvocationException", "ParseException")
		}
		return &scriptBlock{body: body, text: text}, nil
	case typ == "threading.mutex" && call && lname == "new":
		return in.newMutex(args, pos)
	case typ == "string" && call && lname == "isnullorempty" && len(args) == 1:
		return toString(args[0]) == "", nil
	}
	return nil, unsupportedAt(pos, "[%s]::%s", t.name, name)
}

// invoke runs a command: a cmdlet of the simulation or a script block
// with the call operator.
func (in *interp) invoke(c *commandExpr, sc *scope, input []any, piped bool) ([]any, error) {
	if c.callOp != nil {
		target, err := in.evalExpr(c.callOp, sc)
		if err != nil {
			return nil, err
		}
		switch t := target.(type) {
		case *scriptBlock:
			if len(c.args) > 0 || piped {
				return nil, unsupportedAt(c.pos, "Arguments or pipeline input to a script block")
			}
			if in.depth >= maxCallDepth {
				return nil, in.runtimeError(c.pos, "The script failed due to call depth overflow.", "InvalidOperation", "ScriptCallDepthException", "CallDepthOverflow")
			}
			in.depth++
			defer func() { in.depth-- }()
			return in.execBlock(t.body, newScope(sc))
		case string:
			cc := *c
			cc.callOp = nil
			cc.name = t
			return in.invoke(&cc, sc, input, piped)
		}
		return nil, unsupportedAt(c.pos, "The call operator on %s", typeName(target))
	}
	def := lookupCmdlet(c.name)
	if def == nil {
		return nil, &fatalErr{pos: c.pos, msg: fmt.Sprintf("%s : The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", c.name, c.name)}
	}
	call := &cmdCall{in: in, sc: sc, def: def, pos: c.pos, input: input, piped: piped, bound: map[string]any{}}
	if err := call.bind(c); err != nil {
		return nil, err
	}
	if piped && len(input) == 0 {
		// Nothing came down the pipeline: the command processes no
		// object. (Remove-NetFirewallRule with no input removes nothing;
		// called on its own without a selector, it removes everything.)
		call.finishErrorVariable()
		return nil, nil
	}
	if piped && !def.pipeline {
		return nil, call.fail(&errorRecord{message: "The input object cannot be bound to any parameters for the command either because the command does not take pipeline input or the input and its properties do not match any of the parameters that take pipeline input.",
			category: "InvalidArgument", reason: "ParameterBindingException", fqid: "InputObjectNotBound," + def.name})
	}
	var err error
	if def.netSecurity {
		// A NetSecurity cmdlet works on the store as it is now, and its
		// changes take effect at once, whatever other scripts do.
		err = in.fw.withState(func(st *State) (bool, error) {
			in.st, in.dirty = st, false
			defer func() { in.st = nil }()
			if f := in.fw.opts.Fault; f != nil {
				if msg := f(def.name); msg != "" {
					return false, call.writeError(&errorRecord{message: msg, category: "PermissionDenied", reason: "CimException", fqid: "Windows System Error 5," + def.name})
				}
			}
			rerr := def.run(call)
			return in.dirty, rerr
		})
	} else {
		err = def.run(call)
	}
	call.finishErrorVariable()
	return call.out, err
}

func parseErrorText(err error) string {
	var pe *parseError
	if errors.As(err, &pe) {
		line, col := pe.pos.lineCol()
		return fmt.Sprintf("At line:%d char:%d\r\n+ %s\r\n%s", line, col, pe.pos.lineText(), pe.msg)
	}
	return err.Error()
}

// formatError renders an error record the way the PowerShell console
// host does.
func formatError(rec *errorRecord) string {
	var b strings.Builder
	if rec.activity != "" {
		b.WriteString(rec.activity + " : ")
	}
	b.WriteString(rec.message + "\r\n")
	if rec.pos.src != nil {
		line, col := rec.pos.lineCol()
		text := rec.pos.lineText()
		fmt.Fprintf(&b, "At line:%d char:%d\r\n+ %s\r\n", line, col, text)
		under := max(1, len(strings.TrimRight(text, " \t"))-(col-1))
		fmt.Fprintf(&b, "+ %s%s\r\n", strings.Repeat(" ", col-1), strings.Repeat("~", under))
	}
	fmt.Fprintf(&b, "    + CategoryInfo          : %s: (%s:%s) [%s], %s\r\n", rec.category, rec.targetName, rec.targetType, rec.activity, rec.reason)
	fmt.Fprintf(&b, "    + FullyQualifiedErrorId : %s\r\n", rec.fqid)
	b.WriteString(" \r\n")
	return b.String()
}

func formatParseError(pe *parseError) string {
	line, col := pe.pos.lineCol()
	var b strings.Builder
	fmt.Fprintf(&b, "At line:%d char:%d\r\n+ %s\r\n+ %s~\r\n%s\r\n", line, col, pe.pos.lineText(), strings.Repeat(" ", col-1), pe.msg)
	fmt.Fprintf(&b, "    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n")
	fmt.Fprintf(&b, "    + FullyQualifiedErrorId : %s\r\n \r\n", pe.id)
	return b.String()
}

func formatFatal(fe *fatalErr) string {
	var b strings.Builder
	b.WriteString(fe.msg + "\r\n")
	if fe.pos.src != nil {
		line, col := fe.pos.lineCol()
		fmt.Fprintf(&b, "At line:%d char:%d\r\n+ %s\r\n+ %s~\r\n", line, col, fe.pos.lineText(), strings.Repeat(" ", col-1))
	}
	b.WriteString("    + CategoryInfo          : NotImplemented: (:) [], NotSupportedBySimulation\r\n")
	b.WriteString("    + FullyQualifiedErrorId : NotSupportedBySimulation\r\n \r\n")
	return b.String()
}

// formatOutput renders the success stream for stdout.
func formatOutput(items []any) string {
	var b strings.Builder
	for _, it := range items {
		if it == nil {
			continue
		}
		b.WriteString(toString(it))
		b.WriteString("\r\n")
	}
	return b.String()
}
