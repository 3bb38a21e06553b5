package winfw

// The few .NET types and static methods that the commit-confirmed scripts
// use besides the NetSecurity cmdlets: dates (Get-Date, New-TimeSpan,
// [DateTimeOffset]::UtcNow), [IO.File], [BitConverter]::ToString and
// SHA-256. Each does what .NET Framework 4.x does for the arguments
// portwarden passes; anything else is refused as not simulated.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"time"
)

// psDate is a System.DateTime (local time of the simulated host).
type psDate struct{ t time.Time }

// psTimeSpan is a System.TimeSpan.
type psTimeSpan struct{ d time.Duration }

// psDateTimeOffset is a System.DateTimeOffset.
type psDateTimeOffset struct{ t time.Time }

// psSHA256 is what [Security.Cryptography.SHA256]::Create() returns.
type psSHA256 struct{}

func init() {
	register(&cmdletDef{name: "Get-Date",
		params: []paramDef{},
		run: func(c *cmdCall) error {
			c.emit(psDate{time.Now()})
			return nil
		}})
	register(&cmdletDef{name: "New-TimeSpan",
		params: []paramDef{named("Days", pInt), named("Hours", pInt), named("Minutes", pInt), named("Seconds", pInt)},
		run: func(c *cmdCall) error {
			var d time.Duration
			for name, unit := range map[string]time.Duration{"Days": 24 * time.Hour, "Hours": time.Hour, "Minutes": time.Minute, "Seconds": time.Second} {
				if n, ok := c.bound[name].(int64); ok {
					d += time.Duration(n) * unit
				}
			}
			c.emit(psTimeSpan{d})
			return nil
		}})
}

// dotnetMethod calls a method of one of the .NET values above; ok is
// false when obj is none of them.
func (in *interp) dotnetMethod(obj any, name string, args []any, pos position) (v any, ok bool, err error) {
	lname := strings.ToLower(name)
	switch o := obj.(type) {
	case psDate:
		if lname == "addseconds" && len(args) == 1 {
			n, isNum := toInt(args[0])
			if !isNum {
				return nil, true, unsupportedAt(pos, "AddSeconds of %s", typeName(args[0]))
			}
			return psDate{o.t.Add(time.Duration(n) * time.Second)}, true, nil
		}
	case psDateTimeOffset:
		if lname == "tounixtimeseconds" && len(args) == 0 {
			return o.t.Unix(), true, nil
		}
	case psSHA256:
		if lname == "computehash" && len(args) == 1 {
			b, isBytes := args[0].([]byte)
			if !isBytes {
				return nil, true, unsupportedAt(pos, "ComputeHash of %s", typeName(args[0]))
			}
			sum := sha256.Sum256(b)
			return sum[:], true, nil
		}
	case string:
		if lname == "substring" && len(args) == 2 {
			from, ok1 := toInt(args[0])
			n, ok2 := toInt(args[1])
			if !ok1 || !ok2 || from < 0 || n < 0 || int(from+n) > len(o) {
				return nil, true, in.runtimeError(pos, "Exception calling \"Substring\" with \"2\" argument(s): \"Index and length must refer to a location within the string.\r\nParameter name: length\"", "NotSpecified", "MethodInvocationException", "ArgumentOutOfRangeException")
			}
			return o[from : from+n], true, nil
		}
		return nil, false, nil // the other string methods (eval.go)
	default:
		return nil, false, nil
	}
	return nil, true, unsupportedAt(pos, "The method [%s].%s()", typeName(obj), name)
}

// dotnetStatic is a static member of [DateTimeOffset], [BitConverter],
// [Security.Cryptography.SHA256] or [IO.File]; ok is false for other
// types.
func (in *interp) dotnetStatic(typ, name string, call bool, args []any, pos position) (v any, ok bool, err error) {
	lname := strings.ToLower(name)
	exc := func(msg, exception string) error {
		return in.runtimeError(pos, fmt.Sprintf("Exception calling \"%s\" with \"%d\" argument(s): \"%s\"", name, len(args), msg), "NotSpecified", "MethodInvocationException", exception)
	}
	switch typ {
	case "datetimeoffset", "system.datetimeoffset":
		if lname == "utcnow" && !call {
			return psDateTimeOffset{time.Now().UTC()}, true, nil
		}
	case "bitconverter", "system.bitconverter":
		if lname == "tostring" && call && len(args) == 1 {
			b, isBytes := args[0].([]byte)
			if !isBytes {
				return nil, true, unsupportedAt(pos, "[BitConverter]::ToString of %s", typeName(args[0]))
			}
			parts := make([]string, len(b))
			for i, x := range b {
				parts[i] = fmt.Sprintf("%02X", x)
			}
			return strings.Join(parts, "-"), true, nil
		}
	case "security.cryptography.sha256", "system.security.cryptography.sha256":
		if lname == "create" && call && len(args) == 0 {
			return psSHA256{}, true, nil
		}
	case "security.accesscontrol.directorysecurity":
		if lname == "new" && call && len(args) == 0 {
			return &psDirectorySecurity{}, true, nil
		}
	case "security.accesscontrol.mutexsecurity":
		if lname == "new" && call && len(args) == 0 {
			return &psMutexSecurity{}, true, nil
		}
	case "io.directory":
		if lname == "createdirectory" && call {
			v, err := in.createDirectory(args, pos)
			return v, true, err
		}
	case "io.file", "system.io.file":
		if !call || len(args) == 0 {
			break
		}
		path := toString(args[0])
		host, perr := in.fw.hostFile(path)
		if perr != "" {
			if perr == errNotSimulated {
				return nil, true, unsupportedAt(pos, "The path %q (the simulated host has files only in %s and %s)", path, tempDir, programDataDir)
			}
			return nil, true, exc(perr, "DirectoryNotFoundException")
		}
		switch {
		case lname == "writeallbytes" && len(args) == 2:
			b, isBytes := args[1].([]byte)
			if !isBytes {
				return nil, true, unsupportedAt(pos, "[IO.File]::WriteAllBytes of %s", typeName(args[1]))
			}
			if err := os.WriteFile(host, b, 0o600); err != nil {
				return nil, true, exc(err.Error(), "IOException")
			}
			return nil, true, nil
		case lname == "writealltext" && len(args) == 2:
			// .NET writes UTF-8 without a byte order mark.
			if err := os.WriteFile(host, []byte(toString(args[1])), 0o600); err != nil {
				return nil, true, exc(err.Error(), "IOException")
			}
			return nil, true, nil
		case (lname == "readallbytes" || lname == "readalltext") && len(args) == 1:
			b, err := os.ReadFile(host)
			if os.IsNotExist(err) {
				return nil, true, exc(fmt.Sprintf("Could not find file '%s'.", path), "FileNotFoundException")
			}
			if err != nil {
				return nil, true, exc(err.Error(), "IOException")
			}
			if lname == "readallbytes" {
				return b, true, nil
			}
			return strings.TrimPrefix(string(b), "\uFEFF"), true, nil
		}
	default:
		return nil, false, nil
	}
	return nil, true, unsupportedAt(pos, "[%s]::%s", typ, name)
}
