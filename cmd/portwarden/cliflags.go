package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/portwarden/portwarden/policies"
)

// The CLI keeps the standard flag package: it accepts -flag and --flag,
// and every command's flag.FlagSet is the one source for its help, the
// shell completion scripts and docs/cli.md (see docs/architecture.md).

// flagCapture is a stderr that records the FlagSet a command builds: the
// completion scripts and docs/cli.md ask each command for its flags by
// running it with -h against a flagCapture, which prints nothing.
type flagCapture struct {
	fs       *flag.FlagSet
	synopsis string
}

func (*flagCapture) Write(p []byte) (int, error) { return len(p), nil }

// newPlainFlagSet is a command's FlagSet without the inventory flags.
func newPlainFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: portwarden %s\n", synopsis)
		if hasFlags(fs) {
			fmt.Fprintf(fs.Output(), "\nOptions:\n")
			writeFlags(fs.Output(), fs)
		}
	}
	if fc, ok := stderr.(*flagCapture); ok {
		fc.fs, fc.synopsis = fs, synopsis
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parsePlain parses args; a non-negative result is the exit code to stop
// with (help: 0, a bad flag: 1, with the nearest flag suggested).
func parsePlain(fs *flag.FlagSet, args []string) int {
	full := fs.Usage
	fs.Usage = func() {} // a bad flag gets a hint below, not the whole usage
	err := fs.Parse(args)
	fs.Usage = full
	switch {
	case errors.Is(err, flag.ErrHelp):
		full()
		return 0
	case err != nil:
		fmt.Fprintf(fs.Output(), "%sRun \"portwarden %s --help\" for the options.\n", flagHint(fs, err), fs.Name())
		return 1
	}
	return -1
}

// flagHint suggests the nearest defined flag for an undefined one.
func flagHint(fs *flag.FlagSet, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	name = "--" + strings.TrimLeft(name, "-")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	if s := policies.Suggest(name, names); s != "" {
		return strings.TrimSpace(s) + "\n"
	}
	return ""
}

// flagsOf returns the FlagSet command c parses, or nil for a command
// that builds none.
func flagsOf(c command) *flag.FlagSet {
	fc := &flagCapture{}
	runForFlags(c, fc)
	return fc.fs
}

// runForFlags runs c with -h: a command returns right after parsing its
// flags, and with fc as its stderr prints nothing.
func runForFlags(c command, fc *flagCapture) {
	c.run(context.Background(), []string{"-h"}, io.Discard, fc)
}

// helpRequested reports whether parsing args with fs reaches -h, -help
// or --help, walking the arguments as flag.Parse does: a flag that takes a
// value consumes the next argument, and the first non-flag ends the flags.
func helpRequested(fs *flag.FlagSet, args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		name, hasValue := strings.TrimPrefix(a[1:], "-"), false
		name, _, hasValue = strings.Cut(name, "=")
		if (name == "h" || name == "help") && fs.Lookup(name) == nil {
			return true
		}
		f := fs.Lookup(name)
		if f == nil {
			return false
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); (ok && bf.IsBoolFlag()) || hasValue {
			continue
		}
		i++
	}
	return false
}

// writeFlags lists fs's flags as --name (both --name and -name work),
// like flag.PrintDefaults otherwise.
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		s := toFlagSpec(f)
		line, help := "  --"+s.name, s.usage
		if s.arg != "" {
			line += " " + s.arg
		}
		if s.def != "" {
			help += fmt.Sprintf(" (default %s)", s.def)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, help)
	})
}

// flagDefault is the default worth showing: none for false, 0 or "".
func flagDefault(f *flag.Flag) string {
	switch f.DefValue {
	case "", "false", "0", "[]":
		return ""
	}
	if _, ok := f.Value.(flag.Getter); ok {
		if _, isString := f.Value.(flag.Getter).Get().(string); isString {
			return fmt.Sprintf("%q", f.DefValue)
		}
	}
	return f.DefValue
}

// parseArgs parses flags anywhere among the arguments ("show plan.json
// --format json" as well as "show --format json plan.json") and returns
// the other arguments; a non-negative code is the exit code to stop with.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, int) {
	var rest []string
	for {
		if code := parsePlain(fs, args); code >= 0 {
			return nil, code
		}
		if fs.NArg() == 0 {
			return rest, -1
		}
		args = fs.Args()
		if args[0] == "--" {
			return append(rest, args[1:]...), -1
		}
		rest, args = append(rest, args[0]), args[1:]
	}
}
