package lab

import (
	"os"
	"testing"
)

// SkipShort skips t under "go test -short", which creates no namespace and
// starts no server; what says what t would make ("a lab", "a network
// namespace", "a WinRM server on loopback").
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: this test needs %s", what)
	}
}

// SkipUnlessRoot skips t under -short (see SkipShort) and when it does not
// run as root, which network namespaces need.
func SkipUnlessRoot(t testing.TB, what string) {
	t.Helper()
	SkipShort(t, what)
	if os.Geteuid() != 0 {
		t.Skipf("this test needs root for %s", what)
	}
}
