package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/portwarden/portwarden/internal/hclsrc"
)

// runFmt rewrites inventory and policy files in the canonical HCL style,
// as terraform fmt does; --check changes nothing and fails when a file
// would change.
func runFmt(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fset := newPlainFlagSet("fmt", "fmt [--check] [--recursive] [FILE|DIR ...]", stderr)
	check := fset.Bool("check", false, "change no file; list the files that are not formatted and exit 1 if there are any")
	diff := fset.Bool("diff", false, "print each change as a before/after of the lines that differ")
	recursive := fset.Bool("recursive", false, "also format the *.hcl files in subdirectories")
	paths, code := parseArgs(fset, args)
	if code >= 0 {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := hclFiles(paths, *recursive)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
	var unformatted []string
	srcs := map[string]*hcl.File{}
	var diags hcl.Diagnostics
	for _, path := range files {
		src, err := hclsrc.ReadFile(path, hclsrc.MaxFile)
		if err == nil {
			if d := hclsrc.CheckDepth(src, path); d != nil {
				err = fmt.Errorf("%s", d.Detail)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "Error: reading %s: %s\n", path, err)
			return 1
		}
		f, ds := hclwrite.ParseConfig(src, path, hcl.InitialPos)
		if ds.HasErrors() {
			srcs[path] = &hcl.File{Bytes: src}
			diags = append(diags, ds...)
			continue
		}
		out := f.Bytes()
		if bytes.Equal(out, src) {
			continue
		}
		unformatted = append(unformatted, path)
		fmt.Fprintln(stdout, path)
		if *diff {
			writeLineDiff(stdout, src, out)
		}
		if !*check {
			if err := os.WriteFile(path, out, 0o644); err != nil {
				fmt.Fprintf(stderr, "Error: writing %s: %s\n", path, err)
				return 1
			}
		}
	}
	if diags.HasErrors() {
		writeDiags(stderr, "text", srcs, diags)
		return 1
	}
	if *check && len(unformatted) > 0 {
		fmt.Fprintf(stderr, "%d file(s) not formatted; run portwarden fmt to rewrite them.\n", len(unformatted))
		return 1
	}
	return 0
}

// hclFiles lists the *.hcl files among paths: files as given (any name),
// directories' *.hcl (and their subdirectories' with recursive).
func hclFiles(paths []string, recursive bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("formatting %s: %w", p, err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && (!recursive || d.Name()[0] == '.') {
				return filepath.SkipDir
			}
			if !d.IsDir() && filepath.Ext(path) == ".hcl" {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("formatting %s: %w", p, err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// writeLineDiff prints the lines that differ between a and b, by line
// number: formatting changes spacing within lines, never their count...
// except around blank lines, so it falls back to both texts then.
func writeLineDiff(w io.Writer, a, b []byte) {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	if len(al) != len(bl) {
		fmt.Fprintf(w, "--- before\n%s\n+++ after\n%s\n", a, b)
		return
	}
	for i := range al {
		if !bytes.Equal(al[i], bl[i]) {
			fmt.Fprintf(w, "  %d:\n  - %s\n  + %s\n", i+1, al[i], bl[i])
		}
	}
}
