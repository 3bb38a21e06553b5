package winfw

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

type paramKind int

const (
	pAny paramKind = iota
	pSwitch
	pString
	pStrings
	pEnum
	pEnums
	pInt
	pScript
)

type paramDef struct {
	name     string
	aliases  []string
	kind     paramKind
	enum     []string // accepted names, canonical case
	enumType string
	position int // -1: named only
}

type cmdletDef struct {
	name        string
	params      []paramDef
	pipeline    bool // takes pipeline input
	netSecurity bool
	// cdxml: a CDXML function of a module (ScheduledTasks), which sees
	// only the global $ErrorActionPreference, like NetSecurity's.
	cdxml bool
	run   func(c *cmdCall) error
}

var cmdlets = map[string]*cmdletDef{}

func register(d *cmdletDef) { cmdlets[strings.ToLower(d.name)] = d }

func lookupCmdlet(name string) *cmdletDef { return cmdlets[strings.ToLower(name)] }

func named(name string, kind paramKind, aliases ...string) paramDef {
	return paramDef{name: name, kind: kind, aliases: aliases, position: -1}
}

func enumParam(name, typ string, kind paramKind, values ...string) paramDef {
	return paramDef{name: name, kind: kind, enum: values, enumType: typ, position: -1}
}

func positional(p paramDef, pos int) paramDef {
	p.position = pos
	return p
}

// The common parameters every cmdlet takes.
var commonParams = []paramDef{
	enumParam("ErrorAction", "System.Management.Automation.ActionPreference", pEnum, "SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend"),
	named("ErrorVariable", pString, "ev"),
	enumParam("WarningAction", "System.Management.Automation.ActionPreference", pEnum, "SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend"),
	named("Confirm", pSwitch, "cf"),
	named("WhatIf", pSwitch, "wi"),
	named("Verbose", pSwitch, "vb"),
}

func init() {
	commonParams[0].aliases = []string{"ea"}
	commonParams[2].aliases = []string{"wa"}
}

// cmdCall is one invocation of a cmdlet.
type cmdCall struct {
	in     *interp
	sc     *scope
	def    *cmdletDef
	pos    position
	bound  map[string]any // canonical parameter name → value
	input  []any
	piped  bool
	out    []any
	errVar *[]any
	evName string
}

func (c *cmdCall) has(name string) bool { _, ok := c.bound[name]; return ok }

// strInto sets *dst to the string value of the parameter name when the
// call binds it, and leaves *dst alone otherwise.
func (c *cmdCall) strInto(name string, dst *string) {
	if c.has(name) {
		*dst = c.str(name)
	}
}

func (c *cmdCall) str(name string) string {
	v, ok := c.bound[name]
	if !ok || v == nil {
		return ""
	}
	return v.(string)
}

func (c *cmdCall) strs(name string) []string {
	v, _ := c.bound[name].([]string)
	return v
}

func (c *cmdCall) emit(v any) { c.out = append(c.out, v) }

// errorAction is the effective ErrorAction: the common parameter, or
// $ErrorActionPreference. The NetSecurity cmdlets are CDXML functions of
// a module: a module function sees the global scope's preference, never
// one set in its caller's local scope (a script block run with &, a
// function), so for them only the global value counts, as on Windows.
func (c *cmdCall) errorAction() (string, error) {
	if c.has("ErrorAction") {
		return c.str("ErrorAction"), nil
	}
	sc := c.sc
	if c.def.netSecurity || c.def.cdxml {
		sc = sc.global()
	}
	v, ok := sc.get("erroractionpreference")
	if !ok || v == nil {
		return "Continue", nil
	}
	names := []string{"SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend"}
	if n, isNum := v.(int64); isNum && n >= 0 && int(n) < len(names) {
		return names[n], nil
	}
	for _, n := range names {
		if strings.EqualFold(n, toString(v)) {
			return n, nil
		}
	}
	return "", c.in.runtimeError(c.pos, fmt.Sprintf("The value of $ErrorActionPreference, %q, is not a valid ActionPreference.", toString(v)), "InvalidArgument", "ArgumentTransformationMetadataException", "RuntimeException")
}

// writeError reports a non-terminating error as PowerShell does: recorded
// in -ErrorVariable, then shown, hidden, or turned into a terminating
// error by the ErrorAction.
func (c *cmdCall) writeError(rec *errorRecord) error {
	c.fill(rec)
	ea, err := c.errorAction()
	if err != nil {
		return err
	}
	if ea != "Ignore" && c.errVar != nil {
		*c.errVar = append(*c.errVar, rec)
	}
	switch ea {
	case "Stop":
		return &throwErr{rec: rec}
	case "Continue":
		c.in.errOut.WriteString(formatError(rec))
	case "Inquire", "Suspend":
		return unsupportedAt(c.pos, "ErrorAction %s", ea)
	}
	c.in.failed = true
	return nil
}

// fail is a terminating error of the cmdlet (a binding error...).
func (c *cmdCall) fail(rec *errorRecord) error {
	c.fill(rec)
	if c.errVar != nil {
		*c.errVar = append(*c.errVar, rec)
	}
	return &throwErr{rec: rec}
}

func (c *cmdCall) fill(rec *errorRecord) {
	if rec.activity == "" {
		rec.activity = c.def.name
	}
	if rec.pos.src == nil {
		rec.pos = c.pos
	}
	if rec.fqid == "" {
		rec.fqid = rec.reason + "," + c.def.name
	}
}

func (c *cmdCall) finishErrorVariable() {
	if c.evName == "" {
		return
	}
	list := []any{}
	if c.errVar != nil {
		list = append(list, *c.errVar...)
	}
	c.sc.set(c.evName, list)
}

func (c *cmdCall) findParam(name string, pos position) (*paramDef, error) {
	lname := strings.ToLower(name)
	all := append(slices.Clone(c.def.params), commonParams...)
	var prefixed []*paramDef
	for i := range all {
		p := &all[i]
		if strings.ToLower(p.name) == lname {
			return p, nil
		}
		for _, a := range p.aliases {
			if strings.ToLower(a) == lname {
				return p, nil
			}
		}
		if strings.HasPrefix(strings.ToLower(p.name), lname) {
			prefixed = append(prefixed, p)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0], nil
	}
	if len(prefixed) > 1 {
		names := make([]string, len(prefixed))
		for i, p := range prefixed {
			names[i] = p.name
		}
		return nil, c.fail(&errorRecord{message: fmt.Sprintf("Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: -%s.", name, strings.Join(names, " -")),
			category: "InvalidArgument", reason: "ParameterBindingException", fqid: "AmbiguousParameter," + c.def.name, pos: pos})
	}
	// A parameter the real cmdlet may well have but the simulation does
	// not model: fail loudly rather than ignore it.
	return nil, &fatalErr{pos: pos, msg: fmt.Sprintf("%s : A parameter cannot be found that matches parameter name '%s'. (lab/winfw models only: %s)", c.def.name, name, paramNames(c.def))}
}

func paramNames(d *cmdletDef) string {
	var names []string
	for _, p := range d.params {
		names = append(names, "-"+p.name)
	}
	return strings.Join(names, " ")
}

func (c *cmdCall) bind(cmd *commandExpr) error {
	var positionals []any
	var positionalPos []position
	args := cmd.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a.splat != "":
			v, _ := c.sc.get(a.splat)
			h, ok := v.(*psHashtable)
			if !ok {
				return unsupportedAt(a.pos, "Splatting %s", typeName(v))
			}
			for _, k := range h.keys {
				p, err := c.findParam(k, a.pos)
				if err != nil {
					return err
				}
				if err := c.set(p, h.m[strings.ToLower(k)], a.pos); err != nil {
					return err
				}
			}
		case a.param != "":
			p, err := c.findParam(a.param, a.pos)
			if err != nil {
				return err
			}
			var v any
			switch {
			case a.hasValue:
				ev, err := c.in.evalExpr(a.value, c.sc)
				if err != nil {
					return err
				}
				v = ev
			case p.kind == pSwitch:
				v = true
			default:
				if i+1 >= len(args) || args[i+1].param != "" || args[i+1].splat != "" {
					return c.fail(&errorRecord{message: fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.name, paramTypeName(p)),
						category: "InvalidArgument", reason: "ParameterBindingException", fqid: "MissingArgument," + c.def.name, pos: a.pos})
				}
				i++
				ev, err := c.in.evalExpr(args[i].value, c.sc)
				if err != nil {
					return err
				}
				v = ev
			}
			if err := c.set(p, v, a.pos); err != nil {
				return err
			}
		default:
			v, err := c.in.evalExpr(a.value, c.sc)
			if err != nil {
				return err
			}
			positionals = append(positionals, v)
			positionalPos = append(positionalPos, a.pos)
		}
	}
	next := 0
	for i, v := range positionals {
		var target *paramDef
		for j := range c.def.params {
			p := &c.def.params[j]
			if p.position >= next && !c.has(p.name) && (target == nil || p.position < target.position) {
				target = p
			}
		}
		if target == nil {
			return c.fail(&errorRecord{message: fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", toString(v)),
				category: "InvalidArgument", reason: "ParameterBindingException", fqid: "PositionalParameterNotFound," + c.def.name, pos: positionalPos[i]})
		}
		next = target.position + 1
		if err := c.set(target, v, positionalPos[i]); err != nil {
			return err
		}
	}
	if ev := c.str("ErrorVariable"); ev != "" {
		if strings.HasPrefix(ev, "+") {
			return unsupportedAt(c.pos, "Appending -ErrorVariable")
		}
		c.evName = strings.ToLower(ev)
		c.errVar = &[]any{}
	}
	return nil
}

func paramTypeName(p *paramDef) string {
	switch p.kind {
	case pString:
		return "System.String"
	case pStrings:
		return "System.String[]"
	case pEnum:
		return p.enumType
	case pEnums:
		return p.enumType + "[]"
	case pInt:
		return "System.Int32"
	case pScript:
		return "System.Management.Automation.ScriptBlock"
	}
	return "System.Object"
}

func (c *cmdCall) set(p *paramDef, v any, pos position) error {
	if c.has(p.name) {
		return c.fail(&errorRecord{message: fmt.Sprintf("Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", p.name),
			category: "InvalidArgument", reason: "ParameterBindingException", fqid: "ParameterAlreadyBound," + c.def.name, pos: pos})
	}
	bindErr := func(msg, fqid string) error {
		return c.fail(&errorRecord{message: msg, category: "InvalidData", reason: "ParameterBindingValidationException", fqid: fqid + "," + c.def.name, pos: pos})
	}
	switch p.kind {
	case pAny:
		c.bound[p.name] = v
	case pSwitch:
		c.bound[p.name] = toBool(v)
	case pString:
		if arr, ok := v.([]any); ok {
			if len(arr) != 1 {
				return bindErr(fmt.Sprintf("Cannot convert 'System.Object[]' to the type 'System.String' required by parameter '%s'. Specified method is not supported.", p.name), "CannotConvertArgument")
			}
			v = arr[0]
		}
		if v == nil {
			c.bound[p.name] = nil
			return nil
		}
		c.bound[p.name] = toString(v)
	case pStrings:
		if v == nil {
			return bindErr(fmt.Sprintf("Cannot validate argument on parameter '%s'. The argument is null. Provide a valid value for the argument, and then try running the command again.", p.name), "ParameterArgumentValidationError")
		}
		var out []string
		for _, x := range unroll(v) {
			out = append(out, toString(x))
		}
		c.bound[p.name] = out
	case pEnum, pEnums:
		if v == nil {
			return bindErr(fmt.Sprintf("Cannot bind argument to parameter '%s' because it is null.", p.name), "ParameterArgumentValidationErrorNullNotAllowed")
		}
		var out []string
		for _, x := range unroll(v) {
			for _, s := range strings.Split(toString(x), ",") {
				s = strings.TrimSpace(s)
				canon := ""
				for _, e := range p.enum {
					if strings.EqualFold(e, s) {
						canon = e
					}
				}
				if canon == "" {
					return c.fail(&errorRecord{message: fmt.Sprintf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n%s\"", p.name, s, p.enumType, s, strings.Join(p.enum, ", ")),
						category: "InvalidData", reason: "ParameterBindingArgumentTransformationException", fqid: "ParameterArgumentTransformationError," + c.def.name, pos: pos})
				}
				out = append(out, canon)
			}
		}
		if p.kind == pEnum {
			if len(out) != 1 {
				return bindErr(fmt.Sprintf("Cannot convert 'System.Object[]' to the type '%s' required by parameter '%s'.", p.enumType, p.name), "CannotConvertArgument")
			}
			c.bound[p.name] = out[0]
			return nil
		}
		c.bound[p.name] = out
	case pInt:
		n, ok := toInt(v)
		if !ok || v == nil {
			return bindErr(fmt.Sprintf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.Int32\".", p.name, toString(v)), "ParameterArgumentTransformationError")
		}
		c.bound[p.name] = n
	case pScript:
		sb, ok := v.(*scriptBlock)
		if !ok {
			return bindErr(fmt.Sprintf("Cannot bind parameter '%s'. Cannot convert the \"%s\" value of type \"%s\" to type \"System.Management.Automation.ScriptBlock\".", p.name, toString(v), typeName(v)), "CannotConvertArgumentNoMessage")
		}
		c.bound[p.name] = sb
	}
	return nil
}

// runScriptBlock runs sb in the caller's scope with $_ set to item.
func (c *cmdCall) runScriptBlock(sb *scriptBlock, item any) ([]any, error) {
	old, had := c.sc.vars["_"]
	c.sc.set("_", item)
	defer func() {
		if had {
			c.sc.vars["_"] = old
		} else {
			delete(c.sc.vars, "_")
		}
	}()
	return c.in.execBlock(sb.body, c.sc)
}

// Generic cmdlets.

func init() {
	register(&cmdletDef{name: "Where-Object", pipeline: true,
		params: []paramDef{positional(named("FilterScript", pScript), 0)},
		run: func(c *cmdCall) error {
			sb, _ := c.bound["FilterScript"].(*scriptBlock)
			if sb == nil {
				return unsupportedAt(c.pos, "Where-Object without a script block")
			}
			for _, item := range c.input {
				out, err := c.runScriptBlock(sb, item)
				if err != nil {
					return err
				}
				if toBool(collapse(out)) {
					c.emit(item)
				}
			}
			return nil
		}})
	register(&cmdletDef{name: "ForEach-Object", pipeline: true,
		params: []paramDef{positional(named("Process", pScript), 0)},
		run: func(c *cmdCall) error {
			sb, _ := c.bound["Process"].(*scriptBlock)
			if sb == nil {
				return unsupportedAt(c.pos, "ForEach-Object without a script block")
			}
			for _, item := range c.input {
				out, err := c.runScriptBlock(sb, item)
				c.out = append(c.out, out...)
				if err != nil {
					return err
				}
			}
			return nil
		}})
	register(&cmdletDef{name: "Write-Output", pipeline: true,
		params: []paramDef{positional(named("InputObject", pAny), 0)},
		run: func(c *cmdCall) error {
			if c.piped {
				c.out = append(c.out, c.input...)
			}
			if c.has("InputObject") {
				c.out = append(c.out, unroll(c.bound["InputObject"])...)
			}
			return nil
		}})
	register(&cmdletDef{name: "Out-Null", pipeline: true,
		params: []paramDef{named("InputObject", pAny)},
		run:    func(c *cmdCall) error { return nil }})
	register(&cmdletDef{name: "ConvertTo-Json", pipeline: true,
		params: []paramDef{positional(named("InputObject", pAny), 0), named("Depth", pInt), named("Compress", pSwitch)},
		run: func(c *cmdCall) error {
			depth := int64(2)
			if c.has("Depth") {
				depth = c.bound["Depth"].(int64)
			}
			var v any
			switch {
			case c.piped && c.has("InputObject"):
				return unsupportedAt(c.pos, "ConvertTo-Json with both pipeline input and -InputObject")
			case c.piped:
				v = collapse(c.input)
			default:
				v = c.bound["InputObject"]
			}
			compress, _ := c.bound["Compress"].(bool)
			s, err := toJSON(v, int(depth), compress)
			if err != nil {
				return unsupportedAt(c.pos, "ConvertTo-Json: %v", err)
			}
			c.emit(s)
			return nil
		}})
	register(&cmdletDef{name: "ConvertFrom-Json", pipeline: true,
		params: []paramDef{positional(named("InputObject", pString), 0)},
		run: func(c *cmdCall) error {
			texts := []string{}
			if c.piped {
				for _, x := range c.input {
					texts = append(texts, toString(x))
				}
			} else {
				if c.bound["InputObject"] == nil {
					return c.fail(&errorRecord{message: "Cannot bind argument to parameter 'InputObject' because it is null.", category: "InvalidData", reason: "ParameterBindingValidationException", fqid: "ParameterArgumentValidationErrorNullNotAllowed,Microsoft.PowerShell.Commands.ConvertFromJsonCommand"})
				}
				texts = append(texts, c.str("InputObject"))
			}
			v, err := fromJSON(strings.Join(texts, "\n"))
			if err != nil {
				return c.fail(&errorRecord{message: "Invalid JSON primitive: " + err.Error() + ".", category: "NotSpecified", reason: "ArgumentException", fqid: "System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand"})
			}
			c.emit(v)
			return nil
		}})
	register(&cmdletDef{name: "Join-Path",
		params: []paramDef{positional(named("Path", pString), 0), positional(named("ChildPath", pString), 1)},
		run: func(c *cmdCall) error {
			c.emit(strings.TrimRight(c.str("Path"), `\`) + `\` + strings.TrimLeft(c.str("ChildPath"), `\`))
			return nil
		}})
	contentParams := []paramDef{
		positional(named("Path", pString), 0), named("LiteralPath", pString, "PSPath", "LP"),
		positional(named("Value", pAny), 1), named("NoNewline", pSwitch), named("Force", pSwitch),
		enumParam("Encoding", "Microsoft.PowerShell.Commands.FileSystemCmdletProviderEncoding", pEnum, "Unknown", "String", "Unicode", "Byte", "BigEndianUnicode", "UTF8", "UTF7", "UTF32", "Ascii", "Default", "Oem", "BigEndianUTF32"),
	}
	register(&cmdletDef{name: "Set-Content", params: contentParams, run: func(c *cmdCall) error { return c.writeContent(false) }})
	register(&cmdletDef{name: "Add-Content", params: contentParams, run: func(c *cmdCall) error { return c.writeContent(true) }})
	register(&cmdletDef{name: "Get-Content",
		params: []paramDef{positional(named("Path", pString), 0), named("LiteralPath", pString, "PSPath", "LP"), named("Raw", pSwitch)},
		run: func(c *cmdCall) error {
			path, host, err := c.filePath()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(host)
			if os.IsNotExist(err) {
				return c.writeError(pathNotFound(path))
			}
			if err != nil {
				return c.fail(&errorRecord{message: err.Error(), category: "ReadError", reason: "IOException"})
			}
			text := string(b)
			if raw, _ := c.bound["Raw"].(bool); raw {
				c.emit(text)
				return nil
			}
			for _, line := range strings.Split(strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n") {
				c.emit(line)
			}
			return nil
		}})
	register(&cmdletDef{name: "Remove-Item",
		params: []paramDef{positional(named("Path", pString), 0), named("LiteralPath", pString, "PSPath", "LP"), named("Force", pSwitch)},
		run: func(c *cmdCall) error {
			path, host, err := c.filePath()
			if err != nil {
				return err
			}
			if err := os.Remove(host); os.IsNotExist(err) {
				return c.writeError(pathNotFound(path))
			} else if err != nil {
				return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
			}
			return nil
		}})
}

func pathNotFound(path string) *errorRecord {
	return &errorRecord{message: fmt.Sprintf("Cannot find path '%s' because it does not exist.", path),
		category: "ObjectNotFound", reason: "ItemNotFoundException", targetName: path, targetType: "String", fqid: "PathNotFound"}
}

// filePath maps -Path/-LiteralPath to a file of the simulated host (see
// files.go).
func (c *cmdCall) filePath() (string, string, error) {
	path := c.str("LiteralPath")
	if path == "" {
		path = c.str("Path")
		if strings.ContainsAny(path, "*?[") {
			return "", "", unsupportedAt(c.pos, "Wildcards in -Path")
		}
	}
	if path == "" {
		return "", "", c.fail(&errorRecord{message: "Cannot bind argument to parameter 'Path' because it is an empty string.", category: "InvalidData", reason: "ParameterBindingValidationException", fqid: "ParameterArgumentValidationErrorEmptyStringNotAllowed"})
	}
	host, msg := c.in.fw.hostFile(path)
	if msg == errNotSimulated {
		return "", "", unsupportedAt(c.pos, "The path %q (the simulated host has files only in %s and %s)", path, tempDir, programDataDir)
	}
	// A missing directory: host names a file that does not exist, and
	// the cmdlet fails as it does for a missing file.
	return path, host, nil
}

func (c *cmdCall) writeContent(appending bool) error {
	path, host, err := c.filePath()
	if err != nil {
		return err
	}
	noNewline, _ := c.bound["NoNewline"].(bool)
	var b strings.Builder
	for _, v := range unroll(c.bound["Value"]) {
		b.WriteString(toString(v))
		if !noNewline {
			b.WriteString("\r\n")
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appending {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(host, flags, 0o600)
	if err != nil {
		return c.fail(&errorRecord{message: fmt.Sprintf("Could not open '%s': %v", path, err), category: "WriteError", reason: "IOException"})
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
	}
	return nil
}
