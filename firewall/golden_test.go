package firewall

import (
	"path/filepath"
	"testing"

	"github.com/portwarden/portwarden/internal/golden"
)

// checkGolden compares got with testdata/DIR/NAME (DIR is linux or
// windows). go test ./firewall -update rewrites the golden files; the
// Linux facts fixtures under testdata/linux/facts are captured from
// namespaces (as root) by the same flag.
func checkGolden(t *testing.T, dir, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", dir, name), got)
}
