package winfw

// Values of the simulated PowerShell. Go types stand in for .NET ones:
//
//	nil            $null
//	bool           System.Boolean
//	int64          System.Int32/Int64
//	string         System.String
//	[]any          System.Object[] (and the ArrayList of -ErrorVariable)
//	[]byte         System.Byte[]
//	*psObject      PSCustomObject, and the CIM instances of NetSecurity
//	*psHashtable   Hashtable and [ordered] OrderedDictionary
//	psEnum         an enum value (NetSecurity's Enabled, Action...)
//	*errorRecord   ErrorRecord
//	*scriptBlock   ScriptBlock
//	encoding       System.Text.Encoding

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type psObject struct {
	typeName string
	keys     []string
	props    map[string]any
}

func newObject(typeName string) *psObject {
	return &psObject{typeName: typeName, props: map[string]any{}}
}

func (o *psObject) set(name string, v any) {
	k := strings.ToLower(name)
	if _, ok := o.props[k]; !ok {
		o.keys = append(o.keys, name)
	}
	o.props[k] = v
}

func (o *psObject) get(name string) (any, bool) {
	v, ok := o.props[strings.ToLower(name)]
	return v, ok
}

type psHashtable struct {
	ordered bool
	keys    []string
	m       map[string]any
}

func newHashtable(ordered bool) *psHashtable {
	return &psHashtable{ordered: ordered, m: map[string]any{}}
}

func (h *psHashtable) set(key string, v any) {
	k := strings.ToLower(key)
	if _, ok := h.m[k]; !ok {
		h.keys = append(h.keys, key)
	}
	h.m[k] = v
}

func (h *psHashtable) get(key string) (any, bool) {
	v, ok := h.m[strings.ToLower(key)]
	return v, ok
}

// psEnum is an enum value: [string] gives its name, ConvertTo-Json its
// number, as in Windows PowerShell 5.1.
type psEnum struct {
	typ  string
	name string
	val  int64
}

type scriptBlock struct {
	body []stmt
	text string
}

type encoding struct{ name string }

// errorRecord is an ErrorRecord with the parts scripts look at.
type errorRecord struct {
	message    string
	category   string // ErrorCategory name: ObjectNotFound, ResourceExists...
	activity   string // the command, e.g. New-NetFirewallRule
	reason     string // exception type name: CimException, RuntimeException...
	targetName string
	targetType string
	fqid       string
	pos        position
}

var errorCategories = map[string]int64{
	"NotSpecified": 0, "OpenError": 1, "CloseError": 2, "DeviceError": 3, "DeadlockDetected": 4,
	"InvalidArgument": 5, "InvalidData": 6, "InvalidOperation": 7, "InvalidResult": 8, "InvalidType": 9,
	"MetadataError": 10, "NotImplemented": 11, "NotInstalled": 12, "ObjectNotFound": 13,
	"OperationStopped": 14, "OperationTimeout": 15, "SyntaxError": 16, "ParserError": 17,
	"PermissionDenied": 18, "ResourceBusy": 19, "ResourceExists": 20, "ResourceUnavailable": 21,
	"ReadError": 22, "WriteError": 23, "FromStdErr": 24, "SecurityError": 25,
}

func (e *errorRecord) member(name string) any {
	switch strings.ToLower(name) {
	case "categoryinfo":
		ci := newObject("System.Management.Automation.ErrorCategoryInfo")
		ci.set("Category", psEnum{"ErrorCategory", e.category, errorCategories[e.category]})
		ci.set("Activity", e.activity)
		ci.set("Reason", e.reason)
		ci.set("TargetName", e.targetName)
		ci.set("TargetType", e.targetType)
		return ci
	case "exception":
		ex := newObject("System." + e.reason)
		ex.set("Message", e.message)
		return ex
	case "fullyqualifiederrorid":
		return e.fqid
	case "targetobject":
		return e.targetName
	}
	return nil
}

// unroll is what a value sends down a pipeline: the elements of an
// array, or the value itself.
func unroll(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []byte:
		out := make([]any, len(x))
		for i, b := range x {
			out[i] = int64(b)
		}
		return out
	}
	return []any{v}
}

// collapse is what a pipeline's output becomes when assigned: $null for
// nothing, the object for one, an array for more.
func collapse(items []any) any {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return items[0]
	}
	return slices.Clone(items)
}

// asList treats a value as a collection, for foreach and -contains.
func asList(v any) []any {
	if v == nil {
		return nil
	}
	return unroll(v)
}

func toBool(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case string:
		return x != ""
	case []any:
		switch len(x) {
		case 0:
			return false
		case 1:
			return toBool(x[0])
		}
		return true
	case []byte:
		return len(x) > 0
	case psEnum:
		return true
	}
	return true
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "System.Boolean"
	case int64:
		return "System.Int32"
	case string:
		return "System.String"
	case []any:
		return "System.Object[]"
	case []byte:
		return "System.Byte[]"
	case *psObject:
		return x.typeName
	case *psHashtable:
		if x.ordered {
			return "System.Collections.Specialized.OrderedDictionary"
		}
		return "System.Collections.Hashtable"
	case psEnum:
		return x.typ
	case *errorRecord:
		return "System.Management.Automation.ErrorRecord"
	case *scriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case encoding:
		return "System.Text.UTF8Encoding"
	case *psMutex:
		return "System.Threading.Mutex"
	case *psMutexSecurity:
		return "System.Security.AccessControl.MutexSecurity"
	case *psRef:
		return "System.Management.Automation.PSReference"
	case psDate:
		return "System.DateTime"
	case psTimeSpan:
		return "System.TimeSpan"
	case psDateTimeOffset:
		return "System.DateTimeOffset"
	case psSHA256:
		return "System.Security.Cryptography.SHA256CryptoServiceProvider"
	case *psDirectorySecurity:
		return "System.Security.AccessControl.DirectorySecurity"
	case psIdentity:
		return "System.Security.Principal.SecurityIdentifier"
	case psType:
		return "System.RuntimeType"
	}
	return fmt.Sprintf("%T", v)
}

// toString is PowerShell's conversion to string ([string]$x, string
// parameters).
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case psEnum:
		return x.name
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = toString(e)
		}
		return strings.Join(parts, " ")
	case []byte:
		parts := make([]string, len(x))
		for i, b := range x {
			parts[i] = strconv.Itoa(int(b))
		}
		return strings.Join(parts, " ")
	case *psObject:
		if x.typeName != "System.Management.Automation.PSCustomObject" {
			return x.typeName
		}
		parts := make([]string, len(x.keys))
		for i, k := range x.keys {
			parts[i] = k + "=" + toString(x.props[strings.ToLower(k)])
		}
		return "@{" + strings.Join(parts, "; ") + "}"
	case *errorRecord:
		return x.message
	case *scriptBlock:
		return x.text
	case psIdentity:
		return x.sid
	case psDate:
		return x.t.Format("1/2/2006 3:04:05 PM")
	case psTimeSpan:
		h := int64(x.d / time.Hour)
		return fmt.Sprintf("%02d:%02d:%02d", h, int64(x.d/time.Minute)%60, int64(x.d/time.Second)%60)
	}
	return typeName(v)
}

// toInt converts for numeric comparison; ok is false when v is no number.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, true
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case psEnum:
		return x.val, true
	}
	return 0, false
}

// psEqual is -eq for a scalar left side: the right side is converted to
// the left side's type; strings compare case-insensitively.
func psEqual(l, r any) bool {
	switch x := l.(type) {
	case nil:
		return r == nil
	case string:
		if r == nil {
			return false
		}
		return strings.EqualFold(x, toString(r))
	case int64:
		n, ok := toInt(r)
		return ok && r != nil && n == x
	case bool:
		return toBool(r) == x
	case psEnum:
		switch y := r.(type) {
		case string:
			if n, err := strconv.ParseInt(y, 10, 64); err == nil {
				return n == x.val
			}
			return strings.EqualFold(x.name, strings.TrimSpace(y))
		case psEnum:
			return x.val == y.val
		case int64:
			return x.val == y
		}
		return false
	case []byte:
		return false
	}
	return l == r
}

// psCompare orders two scalars for -gt and friends.
func psCompare(l, r any) int {
	if a, ok := toInt(l); ok {
		if b, ok := toInt(r); ok {
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(strings.ToLower(toString(l)), strings.ToLower(toString(r)))
}

// wildcardMatch is -like: *, ? and [set], case-insensitive.
func wildcardMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("(?is)^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		case '[':
			end := strings.IndexByte(pattern[i:], ']')
			if end < 0 {
				re.WriteString(`\[`)
				continue
			}
			re.WriteString("[" + regexp.QuoteMeta(pattern[i+1:i+end]) + "]")
			i += end
		case '`':
			if i+1 < len(pattern) {
				i++
				re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			}
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	m, err := regexp.MatchString(re.String(), s)
	return err == nil && m
}

// toJSON is Windows PowerShell 5.1's ConvertTo-Json: enums as numbers,
// objects beyond depth as their string form.
func toJSON(v any, depth int, compress bool) (string, error) {
	j, err := jsonValue(v, 0, depth)
	if err != nil {
		return "", err
	}
	var b []byte
	if compress {
		b, err = json.Marshal(j)
	} else {
		b, err = json.MarshalIndent(j, "", "    ")
	}
	return string(b), err
}

// orderedJSON keeps property order when marshalled.
type orderedJSON struct {
	keys []string
	vals []any
}

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func jsonValue(v any, level, depth int) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, string:
		return x, nil
	case psEnum:
		return x.val, nil
	case []byte:
		return unroll(x), nil
	case []any:
		// Arrays do not count as a level; the objects in them do.
		out := make([]any, 0, len(x))
		for _, e := range x {
			j, err := jsonValue(e, level, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
		return out, nil
	case *psObject:
		if level > depth {
			return toString(x), nil
		}
		o := orderedJSON{}
		for _, k := range x.keys {
			j, err := jsonValue(x.props[strings.ToLower(k)], level+1, depth)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, j)
		}
		return o, nil
	case *psHashtable:
		if level > depth {
			return toString(x), nil
		}
		o := orderedJSON{}
		for _, k := range x.keys {
			j, err := jsonValue(x.m[strings.ToLower(k)], level+1, depth)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, j)
		}
		return o, nil
	case *errorRecord:
		return x.message, nil
	case *scriptBlock:
		return x.text, nil
	}
	return nil, fmt.Errorf("cannot convert %s to JSON", typeName(v))
}

// fromJSON is ConvertFrom-Json: objects become PSCustomObjects with
// properties in document order.
func fromJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	v, err := decodeJSONValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON primitive after the value")
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject("System.Management.Automation.PSCustomObject")
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeJSONValue(dec)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			out := []any{}
			for dec.More() {
				v, err := decodeJSONValue(dec)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return out, nil
		}
	case json.Number:
		if n, err := t.Int64(); err == nil && n >= math.MinInt32 {
			return n, nil
		}
		return t.String(), nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// psObjectView is $x.PSObject, with the one member scripts use:
// Properties, each with its Name (a custom object's properties in order;
// an array's and a string's .NET properties).
func psObjectView(v any) *psObject {
	var names []string
	switch x := v.(type) {
	case *psObject:
		names = x.keys
	case []any, []byte:
		names = []string{"Length", "LongLength", "Rank", "SyncRoot", "IsReadOnly", "IsFixedSize", "IsSynchronized", "Count"}
	case string:
		names = []string{"Length"}
	}
	props := make([]any, len(names))
	for i, n := range names {
		p := newObject("System.Management.Automation.PSNoteProperty")
		p.set("Name", n)
		props[i] = p
	}
	o := newObject("System.Management.Automation.PSObject")
	o.set("Properties", props)
	return o
}
