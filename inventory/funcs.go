package inventory

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/portwarden/portwarden/internal/hclsrc"
)

// envFunc is env("NAME"): the value of an environment variable. A missing
// variable is an error, never an empty secret; with unknownOK it is an
// unknown value (Options.UnknownSecrets).
func envFunc(unknownOK bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := os.LookupEnv(name)
			switch {
			case !ok && unknownOK:
				return cty.UnknownVal(cty.String), nil
			case !ok:
				return cty.NilVal, fmt.Errorf("environment variable %s is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}

// MaxFileFunc caps what file() reads: a key or a password, not a disk.
const MaxFileFunc = 1 << 20

// fileFunc is file("path"): a file's content without its trailing newline,
// with the path relative to the inventory's directory. The content is not
// quoted in errors: it is usually a secret.
func fileFunc(dir string, unknownOK bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if strings.HasPrefix(p, "~/") {
				if home, err := os.UserHomeDir(); err == nil {
					p = filepath.Join(home, p[2:])
				}
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := hclsrc.ReadFile(p, MaxFileFunc)
			if err != nil && unknownOK && errors.Is(err, fs.ErrNotExist) {
				return cty.UnknownVal(cty.String), nil
			}
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", p, err)
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// validCertPin reports whether s is a SHA-256 fingerprint in hex, with or
// without colons.
func validCertPin(s string) bool {
	h := strings.ReplaceAll(s, ":", "")
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
