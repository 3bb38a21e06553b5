package main

import (
	"flag"
	"strings"
)

// choice is a string flag with a known set of values, which the
// completion scripts offer. Set takes any value: the command checks it
// (report sets other formats on the shared --format flag).
type choice struct {
	dst     *string
	choices []string
}

func newChoice(dst *string, def string, choices ...string) *choice {
	*dst = def
	return &choice{dst: dst, choices: choices}
}

func (c *choice) String() string {
	if c == nil || c.dst == nil {
		return ""
	}
	return *c.dst
}

func (c *choice) Set(v string) error {
	*c.dst = v
	return nil
}

func (c *choice) Get() any { return *c.dst }

// cmdSpec is what completion and docs know of a command: all of it read
// from the command's own FlagSet.
type cmdSpec struct {
	name, summary, synopsis string
	flags                   []flagSpec
}

type flagSpec struct {
	name, arg, usage, def string
	isBool                bool
	choices               []string
	file                  bool // the value is a path
}

// listed returns the commands table. It is set in init: the table holds
// completion and docs, which read it (a variable cannot refer to itself
// through the functions it holds).
var listed func() []command

func init() { listed = func() []command { return commands } }

// specs describes every listed command.
func specs() []cmdSpec {
	var out []cmdSpec
	for _, c := range listed() {
		fc := &flagCapture{}
		runForFlags(c, fc)
		s := cmdSpec{name: c.name, summary: c.summary, synopsis: fc.synopsis}
		if fc.fs != nil {
			fc.fs.VisitAll(func(f *flag.Flag) { s.flags = append(s.flags, toFlagSpec(f)) })
		}
		out = append(out, s)
	}
	return out
}

func toFlagSpec(f *flag.Flag) flagSpec {
	arg, usage := flag.UnquoteUsage(f)
	fs := flagSpec{name: f.Name, arg: arg, usage: usage, def: flagDefault(f)}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		fs.isBool, fs.arg = true, ""
	}
	if c, ok := f.Value.(*choice); ok {
		fs.choices, fs.arg = c.choices, strings.Join(c.choices, "|")
	}
	switch arg {
	case "file", "dir", "directory", "FILE", "DIR":
		fs.file = true
	}
	return fs
}
