package wsman

import (
	"net"
	"testing"
)

// ServeForTest starts a Server for cfg on a free loopback port and
// returns it with the port; the test's cleanup closes it and reports an
// error Serve returned.
func ServeForTest(t testing.TB, cfg Config) (*Server, int) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().(*net.TCPAddr).Port
}
