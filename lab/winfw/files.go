package winfw

// The simulated host's files. Two directories exist: the account's
// temporary directory (always) and portwarden's %ProgramData%\portwarden
// (once a script creates it with New-Item). A file is a plain file
// directly in one of them; any other path is refused as not simulated.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	programData    = `C:\ProgramData`
	programDataDir = programData + `\portwarden`
)

// errNotSimulated is hostFile's answer for a path outside the simulated
// directories.
const errNotSimulated = "not simulated"

func (f *Firewall) programDataHost() string {
	return filepath.Join(f.opts.StateDir, "programdata", "portwarden")
}

// hostFile maps a Windows path of a file to the file of the simulated
// host. msg is "" when the path maps; errNotSimulated when it is outside
// the simulation; else the .NET message (the directory does not exist;
// host is set all the same, a path that does not exist).
func (f *Firewall) hostFile(path string) (host, msg string) {
	lp := strings.ToLower(path)
	for _, d := range []struct{ win, host string }{{tempDir, f.tempDir}, {programDataDir, f.programDataHost()}} {
		rest, ok := strings.CutPrefix(lp, strings.ToLower(d.win)+`\`)
		if !ok {
			continue
		}
		if rest == "" || strings.ContainsAny(rest, `\/:*?"<>|`) || rest == "." || rest == ".." {
			return "", errNotSimulated
		}
		host := filepath.Join(d.host, rest)
		if st, err := os.Stat(d.host); err != nil || !st.IsDir() {
			return host, fmt.Sprintf("Could not find a part of the path '%s'.", path)
		}
		return host, ""
	}
	return "", errNotSimulated
}

// hostDir maps one of the simulated directories; ok is false for any
// other path.
func (f *Firewall) hostDir(path string) (host string, ok bool) {
	p := strings.TrimRight(strings.ToLower(path), `\`)
	switch p {
	case strings.ToLower(tempDir):
		return f.tempDir, true
	case strings.ToLower(programDataDir):
		return f.programDataHost(), true
	case strings.ToLower(programData):
		return filepath.Dir(f.programDataHost()), true
	}
	return "", false
}

func init() {
	pathParams := []paramDef{positional(named("Path", pString), 0), named("LiteralPath", pString, "PSPath", "LP")}
	register(&cmdletDef{name: "Test-Path", params: pathParams,
		run: func(c *cmdCall) error {
			path := c.str("LiteralPath")
			if path == "" {
				path = c.str("Path")
			}
			if d, ok := c.in.fw.hostDir(path); ok {
				st, err := os.Stat(d)
				c.emit(err == nil && st.IsDir())
				return nil
			}
			host, msg := c.in.fw.hostFile(path)
			switch msg {
			case errNotSimulated:
				return unsupportedAt(c.pos, "Test-Path of %q (the simulated host has files only in %s and %s)", path, tempDir, programDataDir)
			case "":
				_, err := os.Stat(host)
				c.emit(err == nil)
			default:
				c.emit(false)
			}
			return nil
		}})
	register(&cmdletDef{name: "New-Item",
		params: append([]paramDef{named("ItemType", pString, "Type"), named("Force", pSwitch), named("Value", pAny)}, pathParams...),
		run: func(c *cmdCall) error {
			if !strings.EqualFold(c.str("ItemType"), "Directory") {
				return unsupportedAt(c.pos, "New-Item other than -ItemType Directory")
			}
			path := c.str("Path")
			d, ok := c.in.fw.hostDir(path)
			if !ok || d == filepath.Dir(c.in.fw.programDataHost()) {
				return unsupportedAt(c.pos, "New-Item -ItemType Directory -Path %q (the simulation creates only %s)", path, programDataDir)
			}
			if _, err := os.Stat(d); err == nil {
				if force, _ := c.bound["Force"].(bool); force {
					c.emit(dirObject(path))
					return nil
				}
				return c.writeError(&errorRecord{message: fmt.Sprintf("An item with the specified name %s already exists.", path),
					category: "ResourceExists", reason: "IOException", targetName: path, fqid: "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand"})
			}
			if err := os.MkdirAll(d, 0o700); err != nil {
				return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
			}
			c.emit(dirObject(path))
			return nil
		}})
	register(&cmdletDef{name: "Move-Item",
		params: append([]paramDef{positional(named("Destination", pString), 1), named("Force", pSwitch)}, pathParams...),
		run: func(c *cmdCall) error {
			path, src, err := c.filePath()
			if err != nil {
				return err
			}
			dst, msg := c.in.fw.hostFile(c.str("Destination"))
			if msg == errNotSimulated {
				return unsupportedAt(c.pos, "Move-Item -Destination %q", c.str("Destination"))
			}
			if msg != "" {
				return c.writeError(&errorRecord{message: msg, category: "WriteError", reason: "IOException"})
			}
			if _, err := os.Stat(src); err != nil {
				return c.writeError(pathNotFound(path))
			}
			if _, err := os.Stat(dst); err == nil {
				if force, _ := c.bound["Force"].(bool); !force {
					return c.writeError(&errorRecord{message: "Cannot create a file when that file already exists.", category: "WriteError", reason: "IOException", fqid: "MoveFileInfoItemIOError,Microsoft.PowerShell.Commands.MoveItemCommand"})
				}
			}
			if err := os.Rename(src, dst); err != nil {
				return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
			}
			return nil
		}})
}

func dirObject(path string) *psObject {
	o := newObject("System.IO.DirectoryInfo")
	o.set("FullName", path)
	o.set("Name", path[strings.LastIndexByte(path, '\\')+1:])
	return o
}
