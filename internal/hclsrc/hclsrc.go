// Package hclsrc reads the HCL files of inventories and policies
// defensively: regular files only, opened without blocking (a FIFO or a
// device named *.hcl must not hang or exhaust a run), under a size cap,
// and with their nesting bounded before the parser recurses into them.
package hclsrc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// MaxFile caps an inventory or policy file; MaxDepth caps the nesting of
// blocks, brackets and interpolations in it.
const (
	MaxFile  = 4 << 20
	MaxDepth = 32
)

// ErrNotRegular is returned for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads a regular file of at most limit bytes. It opens path
// with O_NONBLOCK, so a FIFO cannot block it, checks what it opened with
// fstat, and reads at most limit+1 bytes whatever the file claims.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, unwrap(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrap(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("the file has %d bytes, more than the %s accepted", fi.Size(), size(limit))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrap(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the file has more than the %s accepted", size(limit))
	}
	return b, nil
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParseFile reads path with ReadFile under MaxFile and parses it with p
// after CheckDepth. what names the file's kind in diagnostics
// ("inventory", "policy").
func ParseFile(p *hclparse.Parser, path, what string) (*hcl.File, hcl.Diagnostics) {
	src, err := ReadFile(path, MaxFile)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + what,
			Detail:   fmt.Sprintf("Reading %s: %s.", path, err),
		}}
	}
	return Parse(p, src, path)
}

// Parse parses src with p after checking its size and CheckDepth.
func Parse(p *hclparse.Parser, src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if len(src) > MaxFile {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "File too large",
			Detail:   fmt.Sprintf("%s has %d bytes, more than the %s accepted.", filename, len(src), size(MaxFile)),
		}}
	}
	if d := CheckDepth(src, filename); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return p.ParseHCL(src, filename)
}
