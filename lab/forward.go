package lab

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// ForwardForTest is a TCP port forward on the controller, for tests of a
// host reached through NAT or a port forward: connections to listen
// ("127.0.0.1:0": any free port) reach to, made from the local address
// from (the zero Addr: whatever the route picks). The host sees the
// forwarder's address, never the client's. It returns the port it
// listens on and stops at the end of the test; a listen address in use
// skips the test.
func ForwardForTest(t testing.TB, listen, to string, from netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Skipf("no port forward on %s: %v", listen, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	d := net.Dialer{}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := d.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
