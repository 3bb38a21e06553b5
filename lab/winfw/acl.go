package winfw

// The security of %ProgramData%\portwarden, as far as the scripts look at
// it: who owns the directory, whether its DACL is protected from
// inheritance, and which accounts its entries name. A directory made with
// [IO.Directory]::CreateDirectory(path, DirectorySecurity) gets the SDDL's
// owner and DACL; one made with New-Item inherits ProgramData's (owner
// Administrators, entries for SYSTEM, Administrators, CREATOR OWNER and
// Users, not protected), as on Windows. The simulation keeps it in
// StateDir/programdata/portwarden.acl.json.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// dirACL is a directory's security descriptor, by SID.
type dirACL struct {
	Owner     string
	Protected bool
	SIDs      []string
}

// SIDs of the well-known accounts.
const (
	sidSystem       = "S-1-5-18"
	sidAdmins       = "S-1-5-32-544"
	sidUsers        = "S-1-5-32-545"
	sidCreatorOwner = "S-1-3-0"
	// sidAdministrator is the simulated host's built-in Administrator,
	// the account WinRM scripts run as.
	sidAdministrator  = "S-1-5-21-1004336348-1177238915-682003330-500"
	sidLocalService   = "S-1-5-19"
	sidNetworkService = "S-1-5-20"
)

// accountNames are the names of the accounts a task may run as, by
// display language: Windows localizes the names of the built-in
// accounts and of NT AUTHORITY, never their SIDs.
var accountNames = map[string]map[string]string{
	"en-US": {
		"SYSTEM": sidSystem, `NT AUTHORITY\SYSTEM`: sidSystem,
		"LOCAL SERVICE": sidLocalService, `NT AUTHORITY\LOCAL SERVICE`: sidLocalService,
		"NETWORK SERVICE": sidNetworkService, `NT AUTHORITY\NETWORK SERVICE`: sidNetworkService,
		"Administrator": sidAdministrator, computerName + `\Administrator`: sidAdministrator,
	},
	"de-DE": {
		"SYSTEM": sidSystem, `NT-AUTORITÄT\SYSTEM`: sidSystem,
		"LOKALER DIENST": sidLocalService, `NT-AUTORITÄT\LOKALER DIENST`: sidLocalService,
		"NETZWERKDIENST": sidNetworkService, `NT-AUTORITÄT\NETZWERKDIENST`: sidNetworkService,
		"Administrator": sidAdministrator, computerName + `\Administrator`: sidAdministrator,
	},
}

// lookupAccount resolves an account name or SID, as LookupAccountName
// does in the host's display language; "" if it names no account.
func (f *Firewall) lookupAccount(name string) string {
	for _, sid := range []string{sidSystem, sidLocalService, sidNetworkService, sidAdministrator} {
		if strings.EqualFold(name, sid) {
			return sid
		}
	}
	lang := f.opts.Language
	if lang == "" {
		lang = "en-US"
	}
	for n, sid := range accountNames[lang] {
		if strings.EqualFold(n, name) {
			return sid
		}
	}
	return ""
}

// inheritedACL is what a directory created in ProgramData without an
// explicit descriptor gets.
var inheritedACL = dirACL{Owner: sidAdmins, SIDs: []string{sidSystem, sidAdmins, sidCreatorOwner, sidUsers}}

var sddlAliases = map[string]string{"SY": sidSystem, "BA": sidAdmins, "BU": sidUsers, "CO": sidCreatorOwner}

// parseSDDL reads the owner and DACL of an SDDL string as far as the
// simulation models them; ok is false for anything else.
func parseSDDL(s string) (dirACL, bool) {
	m := regexp.MustCompile(`^O:([A-Z]{2}|S-[0-9-]+)(?:G:(?:[A-Z]{2}|S-[0-9-]+))?D:(P?)(?:AI)?((?:\([^)]*\))*)$`).FindStringSubmatch(s)
	if m == nil {
		return dirACL{}, false
	}
	acl := dirACL{Owner: sddlSID(m[1]), Protected: m[2] == "P"}
	aces, ok := sddlAllowACEs(m[3])
	if !ok {
		return dirACL{}, false
	}
	for _, f := range aces {
		acl.SIDs = append(acl.SIDs, sddlSID(f[5]))
	}
	return acl, true
}

// sddlACE is one "(...)" access control entry of an SDDL DACL.
var sddlACE = regexp.MustCompile(`\(([^)]*)\)`)

// sddlAllowACEs splits a DACL's entries into their six fields; ok is
// false unless every entry is an allow entry ("A;...").
func sddlAllowACEs(dacl string) (aces [][]string, ok bool) {
	for _, ace := range sddlACE.FindAllStringSubmatch(dacl, -1) {
		f := strings.Split(ace[1], ";")
		if len(f) != 6 || f[0] != "A" {
			return nil, false
		}
		aces = append(aces, f)
	}
	return aces, true
}

// sddlSID is the SID an SDDL account field names (an alias such as "BA"
// or a SID string).
func sddlSID(v string) string {
	if a, ok := sddlAliases[v]; ok {
		return a
	}
	return v
}

func (f *Firewall) aclPath() string { return f.programDataHost() + ".acl.json" }

func (f *Firewall) saveACL(a dirACL) error { return writeJSON(f.aclPath(), a) }

func (f *Firewall) loadACL() dirACL {
	var a dirACL
	b, err := os.ReadFile(f.aclPath())
	if err != nil || json.Unmarshal(b, &a) != nil {
		return inheritedACL
	}
	return a
}

// SetProgramDataACL sets the security of %ProgramData%\portwarden as a
// local user or an administrator could have left it, for tests.
func (f *Firewall) SetProgramDataACL(owner string, protected bool, sids ...string) error {
	if err := os.MkdirAll(f.programDataHost(), 0o700); err != nil {
		return err
	}
	return f.saveACL(dirACL{Owner: owner, Protected: protected, SIDs: sids})
}

// psDirectorySecurity is a System.Security.AccessControl.DirectorySecurity.
type psDirectorySecurity struct{ sddl string }

// psIdentity is a SecurityIdentifier.
type psIdentity struct{ sid string }

// psType is a type literal used as a value ([Security.Principal.SecurityIdentifier]).
type psType struct{ name string }

func init() {
	register(&cmdletDef{name: "Get-Acl",
		params: []paramDef{positional(named("Path", pString), 0), named("LiteralPath", pString, "PSPath", "LP")},
		run: func(c *cmdCall) error {
			path := c.str("LiteralPath")
			if path == "" {
				path = c.str("Path")
			}
			d, ok := c.in.fw.hostDir(path)
			if !ok || d != c.in.fw.programDataHost() {
				return unsupportedAt(c.pos, "Get-Acl of %q (the simulation models only %s)", path, programDataDir)
			}
			if _, err := os.Stat(d); err != nil {
				return c.writeError(pathNotFound(path))
			}
			a := c.in.fw.loadACL()
			o := newObject("System.Security.AccessControl.DirectorySecurity")
			o.set("AreAccessRulesProtected", a.Protected)
			var access []any
			for _, s := range a.SIDs {
				r := newObject("System.Security.AccessControl.FileSystemAccessRule")
				r.set("IdentityReference", psIdentity{s})
				access = append(access, r)
			}
			if access == nil {
				access = []any{}
			}
			o.set("Access", access)
			o.props["\x00owner"] = a.Owner
			c.emit(o)
			return nil
		}})
}

// aclMethod: GetOwner on Get-Acl's object, Translate on an identity,
// SetSecurityDescriptorSddlForm on a DirectorySecurity.
func (in *interp) aclMethod(obj any, name string, args []any, pos position) (v any, ok bool, err error) {
	lname := strings.ToLower(name)
	sidType := func() bool {
		t, isType := args[0].(psType)
		return isType && normType(t.name) == "security.principal.securityidentifier"
	}
	switch o := obj.(type) {
	case *psObject:
		owner, has := o.props["\x00owner"].(string)
		if !has {
			return nil, false, nil
		}
		if lname == "getowner" && len(args) == 1 && sidType() {
			return psIdentity{owner}, true, nil
		}
	case psIdentity:
		if lname == "translate" && len(args) == 1 && sidType() {
			return o, true, nil
		}
	case *psDirectorySecurity:
		if lname == "setsecuritydescriptorsddlform" && len(args) == 1 {
			o.sddl = toString(args[0])
			return nil, true, nil
		}
	case *psMutexSecurity:
		if lname == "setsecuritydescriptorsddlform" && len(args) == 1 {
			o.sddl = toString(args[0])
			return nil, true, nil
		}
	default:
		return nil, false, nil
	}
	return nil, true, unsupportedAt(pos, "The method [%s].%s()", typeName(obj), name)
}

// createDirectory is [IO.Directory]::CreateDirectory(path, security).
func (in *interp) createDirectory(args []any, pos position) (any, error) {
	if len(args) != 2 {
		return nil, unsupportedAt(pos, "[IO.Directory]::CreateDirectory without a DirectorySecurity")
	}
	path := toString(args[0])
	d, ok := in.fw.hostDir(path)
	if !ok || d != in.fw.programDataHost() {
		return nil, unsupportedAt(pos, "[IO.Directory]::CreateDirectory(%q) (the simulation creates only %s)", path, programDataDir)
	}
	ds, isDS := args[1].(*psDirectorySecurity)
	if !isDS {
		return nil, unsupportedAt(pos, "[IO.Directory]::CreateDirectory with a %s", typeName(args[1]))
	}
	acl, ok := parseSDDL(ds.sddl)
	if !ok {
		return nil, in.runtimeError(pos, "Exception calling \"CreateDirectory\" with \"2\" argument(s): \"The SDDL form of a security descriptor object is invalid.\"", "NotSpecified", "MethodInvocationException", "ArgumentException")
	}
	if _, err := os.Stat(d); err == nil {
		// An existing directory keeps its security (as .NET does).
		return dirObject(path), nil
	}
	if err := os.MkdirAll(filepath.Clean(d), 0o700); err != nil {
		return nil, in.runtimeError(pos, err.Error(), "NotSpecified", "MethodInvocationException", "IOException")
	}
	if err := in.fw.saveACL(acl); err != nil {
		return nil, in.runtimeError(pos, err.Error(), "NotSpecified", "MethodInvocationException", "IOException")
	}
	return dirObject(path), nil
}
