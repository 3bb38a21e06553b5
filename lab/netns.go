package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNamespace runs fn on an OS thread moved into the network namespace ns.
// Sockets fn makes stay in ns and can be used from any goroutine. The
// thread goes back to its namespace afterwards; if it cannot, it stays
// locked, so the runtime discards it instead of reusing it.
func inNamespace(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("entering namespace %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func (l *Lab) namespaceOf(host string) (string, error) {
	h, ok := l.Host(host)
	if !ok {
		return "", fmt.Errorf("no lab host %q", host)
	}
	return h.Namespace, nil
}

// Listen opens a stream listener inside host's namespace, as net.Listen
// would there: Listen("lnx01", "tcp", ":9392"). Tests use it to stand in for
// a service the firewall should let through or block.
func (l *Lab) Listen(host, network, address string) (net.Listener, error) {
	ns, err := l.namespaceOf(host)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", host, err)
	}
	var ln net.Listener
	err = inNamespace(ns, func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", host, address, err)
	}
	return ln, nil
}

// ListenPacket opens a packet listener (UDP) inside host's namespace.
func (l *Lab) ListenPacket(host, network, address string) (net.PacketConn, error) {
	ns, err := l.namespaceOf(host)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", host, err)
	}
	var pc net.PacketConn
	err = inNamespace(ns, func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", host, address, err)
	}
	return pc, nil
}

// DialFrom connects from inside host's namespace, as net.Dial would there.
// The connection attempt itself runs in the namespace, so ctx bounds it.
func (l *Lab) DialFrom(ctx context.Context, host, network, address string) (net.Conn, error) {
	ns, err := l.namespaceOf(host)
	if err != nil {
		return nil, fmt.Errorf("dialing from %s: %w", host, err)
	}
	var c net.Conn
	err = inNamespace(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dialing %s from %s: %w", address, host, err)
	}
	return c, nil
}
