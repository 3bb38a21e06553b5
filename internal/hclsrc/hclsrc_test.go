package hclsrc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
)

func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "inv.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	big := filepath.Join(dir, "big.hcl")
	os.WriteFile(big, make([]byte, 2049), 0o600)
	small := filepath.Join(dir, "small.hcl")
	os.WriteFile(small, []byte("a = 1\n"), 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"fifo", fifo, "a FIFO"},
		{"device", "/dev/zero", "a device"},
		{"directory", dir, "a directory"},
		{"too large", big, "more than the 2048 bytes"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := ReadFile(tc.path, 2048); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want %q", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile blocked")
			}
		})
	}
	if b, err := ReadFile(small, 2048); err != nil || string(b) != "a = 1\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	if _, err := ReadFile(fifo, 2048); !errors.Is(err, ErrNotRegular) {
		t.Errorf("fifo: %v, want ErrNotRegular", err)
	}
}

func TestCheckDepth(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for _, tc := range []struct {
		name, src string
		bad       bool
	}{
		{"flat", "a = 1\nb { c = [1, 2, {d = 3}] }\n", false},
		{"at the limit", "a = " + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "\n", false},
		{"lists", "a = " + deep + "\n", true},
		{"blocks", strings.Repeat("b {\n", MaxDepth+1) + strings.Repeat("}\n", MaxDepth+1), true},
		{"interpolations", "a = \"" + strings.Repeat("${\"", MaxDepth) + strings.Repeat("\"}", MaxDepth) + "\"\n", true},
		{"brackets in strings and comments", "# " + deep + "\n// " + deep + "\n/* " + deep + " */\na = \"" + strings.Repeat("((", 40) + "\"\n", false},
		{"heredoc text", "a = <<EOT\n" + strings.Repeat("{", 40) + "\nEOT\n", false},
		{"heredoc interpolations", "a = <<EOT\n" + strings.Repeat("${", MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1) + "\nEOT\n", true},
		{"escaped quote", "a = \"\\\"" + strings.Repeat("[", 40) + "\"\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := CheckDepth([]byte(tc.src), "t.hcl")
			if (d != nil) != tc.bad {
				t.Fatalf("diagnostic %v, want bad=%v", d, tc.bad)
			}
			if d != nil && (d.Subject == nil || d.Subject.Filename != "t.hcl" || d.Subject.Start.Line < 1) {
				t.Errorf("no place: %+v", d.Subject)
			}
		})
	}
	// Parse refuses before the parser recurses: a million levels.
	src := []byte("a = " + strings.Repeat("[", 1<<20) + "\n")
	if _, diags := Parse(hclparse.NewParser(), src, "t.hcl"); !diags.HasErrors() || diags[0].Summary != "Nesting too deep" {
		t.Errorf("diags = %v", diags)
	}
	if _, diags := Parse(hclparse.NewParser(), make([]byte, MaxFile+1), "t.hcl"); !diags.HasErrors() || diags[0].Summary != "File too large" {
		t.Errorf("diags = %v", diags)
	}
}
